"""IFEval over offline data: lm-eval's own scoring, evalsuite's data loader."""

from typing import Any

from evalsuite.tasks.data import ensure_punkt_tab, ifeval_dataset

# IFEval's scoring module tries nltk.download("punkt_tab") when imported; make the
# offline copy findable first, so this task also works under plain `lm-eval run
# --include_path tasks`. (evalsuite's runner does the same with its configured cache.)
ensure_punkt_tab()

# Scoring is re-exported, never rewritten: the numbers must equal stock lm-eval's.
from lm_eval.tasks.ifeval.utils import agg_inst_level_acc, process_results  # noqa: E402

__all__ = ["agg_inst_level_acc", "load_ifeval", "process_results"]


def load_ifeval(**kwargs: Any):
    """lm-eval calls this with the task metadata: `evalsuite_cache` names the cache,
    `evalsuite_data_files` a user's own file per task (`suite.tasks.T.data_file`)."""
    files = kwargs.get("evalsuite_data_files") or {}
    return ifeval_dataset(kwargs.get("evalsuite_cache"), files.get("ifeval_offline"))
