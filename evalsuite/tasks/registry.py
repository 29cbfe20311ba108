"""lm-eval's task registry, extended with the YAML tasks under the project's tasks/."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalsuite.errors import UserError
from evalsuite.resources import TASKS_DIR

if TYPE_CHECKING:
    from lm_eval.tasks import TaskManager



def task_manager(cache: Path, extra_paths: tuple[str, ...] = (),
                 data_files: dict[str, str] | None = None,
                 names: list[str] | None = None) -> TaskManager:
    """A TaskManager that sees stock lm-eval tasks, ours, and the user's ``task_paths``.

    Our tasks get the cache path, and the user's data files by task, through the task
    metadata. With ``names`` that are all evalsuite's own (and no ``task_paths``, whose
    files may include stock tasks), lm-eval's 14,000 task files are not indexed (about
    5 s a process); any other name indexes them all.
    """
    from lm_eval.tasks import TaskManager

    if not TASKS_DIR.is_dir():
        raise UserError(f"task directory {TASKS_DIR} is missing: reinstall evalsuite")
    paths = [str(TASKS_DIR)]
    for p in extra_paths:
        path = Path(p).expanduser().resolve()
        if not path.is_dir():
            raise UserError(f"task_paths entry {p} is not a directory: fix or remove it")
        paths.append(str(path))
    metadata: dict[str, Any] = {"evalsuite_cache": str(cache)}
    if data_files:
        metadata["evalsuite_data_files"] = dict(data_files)
    if names is not None and not extra_paths:
        ours = TaskManager(include_path=paths, include_defaults=False, metadata=metadata)
        if set(names) <= set(ours.all_tasks):
            return ours
    return TaskManager(include_path=paths, metadata=metadata)


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


def task_yaml(tm: TaskManager, name: str) -> dict[str, Any]:
    """A task's YAML with includes resolved and functions left unresolved; {} for
    Python-defined tasks or an unreadable file (lm-eval reports that later)."""
    from lm_eval.tasks._yaml_loader import load_yaml

    path = getattr(tm.task_index.get(name), "yaml_path", None)
    try:
        return load_yaml(path, resolve_func=False) if path else {}
    except Exception:
        return {}


def check_fewshot(tm: TaskManager, name: str, num_fewshot: int | None) -> None:
    """Refuse more shots than an offline task can draw from the right split.

    Offline copies of stock tasks whose shots come from a train split no PyPI package
    ships say so with ``metadata.evalsuite_max_fewshot``; lm-eval would silently draw
    the shots from the evaluated split instead.
    """
    limit = (task_yaml(tm, name).get("metadata") or {}).get("evalsuite_max_fewshot")
    if limit is not None and num_fewshot and num_fewshot > limit:
        raise UserError(
            f"task {name} has no train split offline, so {num_fewshot}-shot prompts would "
            f"take shots from the evaluated split: use at most {limit} shots, or the stock "
            "task with hub access"
        )


def output_types(tm: TaskManager, names: list[str]) -> dict[str, str | None]:
    """Each task's lm-eval output type, read from YAMLs without loading any data.

    A group or tag gets the type of its members; where they mix, a log-likelihood type
    wins (that is the one a chat endpoint cannot serve). None where it cannot be told
    (Python-defined tasks).
    """
    out: dict[str, str | None] = {}
    for name in names:
        kinds = _leaf_types(tm, name, depth=0)
        loglik = sorted(k for k in kinds if k != "generate_until")
        out[name] = loglik[0] if loglik else ("generate_until" if kinds else None)
    return out


def _leaf_types(tm: TaskManager, name: str, depth: int) -> set[str]:
    entry = tm.task_index.get(name)
    if entry is None or depth > 8:
        return set()
    kind = getattr(getattr(entry, "kind", None), "name", "")
    if kind == "TAG":
        members = list(getattr(entry, "tags", ()) or ())
    elif kind == "GROUP":
        members = [m for m in task_yaml(tm, name).get("task", []) if isinstance(m, str)]
    else:
        cfg = task_yaml(tm, name)
        if not cfg:
            return set()
        return {cfg.get("output_type", "generate_until")}
    found: set[str] = set()
    for member in members:
        found |= _leaf_types(tm, member, depth + 1)
    return found
