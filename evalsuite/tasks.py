"""lm-eval's task registry, extended with the YAML tasks under the project's tasks/."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING

from evalsuite.errors import UserError

if TYPE_CHECKING:
    from lm_eval.tasks import TaskManager

TASKS_DIR = Path(__file__).resolve().parent.parent / "tasks"


def task_manager(cache: Path, extra_paths: tuple[str, ...] = ()) -> TaskManager:
    """A TaskManager that sees stock lm-eval tasks, ours, and the user's ``task_paths``.

    Our tasks get the cache path through the task metadata.
    """
    from lm_eval.tasks import TaskManager

    if not TASKS_DIR.is_dir():
        raise UserError(f"task directory {TASKS_DIR} is missing: install evalsuite with pip -e")
    paths = [str(TASKS_DIR)]
    for p in extra_paths:
        path = Path(p).expanduser().resolve()
        if not path.is_dir():
            raise UserError(f"task_paths entry {p} is not a directory: fix or remove it")
        paths.append(str(path))
    return TaskManager(include_path=paths, metadata={"evalsuite_cache": str(cache)})


def check_tasks(tm: TaskManager, names: list[str]) -> None:
    """Fail before any model loads if a task name is unknown."""
    known = set(tm.all_tasks)
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise UserError(
                f"unknown task {name!r}{hint}: name an lm-eval task or add a YAML under "
                f"{TASKS_DIR}; `lm-eval ls tasks` lists the stock ones"
            )


def output_types(tm: TaskManager, names: list[str]) -> dict[str, str | None]:
    """Each task's lm-eval output type, read from its YAML without loading any data.

    None where it cannot be told that way (groups, Python-defined tasks).
    """
    from lm_eval.tasks._yaml_loader import load_yaml

    out: dict[str, str | None] = {}
    for name in names:
        entry = tm.task_index.get(name)
        path = getattr(entry, "yaml_path", None)
        try:
            cfg = load_yaml(path, resolve_func=False) if path else {}
        except Exception:  # an unreadable YAML is lm-eval's to report, later
            cfg = {}
        is_task = cfg.get("task") == name or "output_type" in cfg
        out[name] = cfg.get("output_type", "generate_until") if is_task else None
    return out
