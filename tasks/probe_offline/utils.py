"""The probe set: open-ended instructions answered without scoring, to compare output
distributions (evalsuite.compare's length, pattern, lexical, embedding and
cross-likelihood measures)."""

from typing import Any

from evalsuite.tasks.data import probe_dataset


def load_probe(**kwargs: Any):
    """lm-eval calls this with the task metadata (`evalsuite_cache`, `repeats`, and
    `evalsuite_data_files`: a user's own instructions file per task, `evalsuite_task`
    saying which task this is)."""
    files = kwargs.get("evalsuite_data_files") or {}
    return probe_dataset(kwargs.get("evalsuite_cache"), kwargs.get("repeats", 1),
                         files.get(kwargs.get("evalsuite_task")))


def process_results(doc: dict, results: list[str]) -> dict:
    return {}  # nothing is scored: the answers themselves are the result
