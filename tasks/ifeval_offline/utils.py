"""IFEval over offline data: lm-eval's own scoring, evalsuite's data loader."""

from typing import Any

from evalsuite.tasks.data import ensure_punkt_tab, ifeval_dataset

# IFEval's scoring module tries nltk.download("punkt_tab") when imported; make the
# offline copy findable first, so this task also works under plain `lm-eval run
# --include_path tasks`. (evalsuite's runner does the same with its configured cache.)
ensure_punkt_tab()

# Scoring is lm-eval's own, never rewritten, so the numbers equal stock lm-eval's; it
# only runs under a random state fixed per sample (evalsuite.tasks.ifeval_scoring), so a
# verdict no longer depends on the process (two checkers draw at random).
from lm_eval.tasks.ifeval.utils import agg_inst_level_acc  # noqa: E402
from lm_eval.tasks.ifeval.utils import process_results as _stock_process_results  # noqa: E402

from evalsuite.tasks.ifeval_scoring import fixed_randomness  # noqa: E402

__all__ = ["agg_inst_level_acc", "load_ifeval", "process_results"]


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    with fixed_randomness(doc):
        return _stock_process_results(doc, results)


def load_ifeval(**kwargs: Any):
    """lm-eval calls this with the task metadata: `evalsuite_cache` names the cache,
    `evalsuite_data_files` a user's own file per task (`suite.tasks.T.data_file`)."""
    files = kwargs.get("evalsuite_data_files") or {}
    return ifeval_dataset(kwargs.get("evalsuite_cache"), files.get("ifeval_offline"))
