"""Where evalsuite's shipped configs (``conf/``) and lm-eval task YAMLs (``tasks/``) are.

Both stay at the top of the repository, beside ``evalsuite/``; a wheel carries them inside
the package as ``evalsuite/_conf`` and ``evalsuite/_tasks`` (pyproject maps the folders).
This module is the one place that knows which of the two layouts is installed.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _find(inside: str, beside: str) -> Path:
    # a wheel first: an editable install or a clone has no evalsuite/_conf
    packaged = _PACKAGE / inside
    return packaged if packaged.is_dir() else _PACKAGE.parent / beside


CONF_DIR = _find("_conf", "conf")
"""Hydra's config directory: config.yaml, model/, backend/, suite/, judge/, ..."""
TASKS_DIR = _find("_tasks", "tasks")
"""lm-eval task YAMLs evalsuite adds (lm-eval's ``include_path``)."""
LAUNCHER_DIR = CONF_DIR / "hydra" / "launcher"
"""Sweep launcher configs shipped with evalsuite (hydra/launcher=parallel, local, slurm)."""
