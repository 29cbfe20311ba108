"""Where evalsuite keeps converted models, extracted data and fingerprints."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "EVALSUITE_CACHE"


def cache_dir(configured: str | os.PathLike[str] | None = None) -> Path:
    """The cache root: the config value, else ``$EVALSUITE_CACHE``, else ~/.cache/evalsuite."""
    if configured:
        root = Path(configured)
    elif os.environ.get(ENV_VAR):
        root = Path(os.environ[ENV_VAR])
    else:
        xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        root = Path(xdg) / "evalsuite"
    root = root.expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    return root
