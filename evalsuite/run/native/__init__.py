"""Tasks evalsuite runs itself because lm-eval cannot express them (MT-Bench's second
turn depends on the model's first answer). They still send lm-eval ``Instance``s to the
run's ``LM``, so the request cache and every backend serve them, and they return the
same (samples, metrics, manifest entry) triple as an lm-eval task.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evalsuite.config import RunConfig, TaskConfig

TASKS: dict[str, str] = {"mtbench_offline": "evalsuite.run.native._mtbench"}
"""Suite names of the native tasks -> the module with their ``check`` and ``run``."""


def is_native(name: str) -> bool:
    return name in TASKS


def check(cfg: RunConfig) -> None:
    """Refuse bad settings of the suite's native tasks before any model loads."""
    for task in cfg.suite.tasks:
        if is_native(task.name):
            importlib.import_module(TASKS[task.name]).check(task, cfg)


def run(lm: Any, task: TaskConfig, cfg: RunConfig
        ) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """One native task on the run's LM: (samples, metrics, manifest entry)."""
    return importlib.import_module(TASKS[task.name]).run(lm, task, cfg)
