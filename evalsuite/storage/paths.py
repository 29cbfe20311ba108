"""Whether a directory the user named can be made, asked before any work starts."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def uncreatable(path: str | os.PathLike[str]) -> str | None:
    """None if ``path`` is a writable directory or could be created as one; else what is
    in the way (one phrase). Nothing is left behind: the nearest existing directory is
    probed with a temporary directory (permission bits do not bind root, /proc, or a
    read-only mount)."""
    p = Path(path).expanduser().absolute()
    if p.exists():
        if not p.is_dir():
            return f"{p} is a file, not a directory"
        return _probe(p)
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                return f"{parent} is a file, not a directory"
            return _probe(parent)
    return f"no part of {p} exists"


def _probe(directory: Path) -> str | None:
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".evalsuite-probe-", dir=directory))
    except OSError as e:
        return f"cannot create a directory in {directory}: {e.strerror}"
    return None
