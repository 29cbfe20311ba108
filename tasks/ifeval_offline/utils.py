"""IFEval over offline data: lm-eval's own scoring, evalsuite's data loader."""

from typing import Any

# Scoring is re-exported, never rewritten: the numbers must equal stock lm-eval's.
from lm_eval.tasks.ifeval.utils import agg_inst_level_acc, process_results

from evalsuite.data import ifeval_dataset

__all__ = ["agg_inst_level_acc", "load_ifeval", "process_results"]


def load_ifeval(**kwargs: Any):
    """lm-eval calls this with the task metadata; `evalsuite_cache` names the cache."""
    return ifeval_dataset(kwargs.get("evalsuite_cache"))
