"""Values made JSON-ready: what every record writer stores."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def to_plain(value: Any) -> Any:
    """JSON-ready copy: numpy/torch scalars as Python numbers, NaN as None."""
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if hasattr(value, "tolist") and getattr(value, "ndim", 0) > 0:  # numpy/torch arrays
        return to_plain(value.tolist())
    if hasattr(value, "item"):  # numpy and torch scalars
        return to_plain(value.item())
    return str(value)


def jsonl_lines(path: Path) -> Iterator[tuple[int, str]]:
    """The non-blank lines of a JSON-lines file with their 1-based numbers; undecodable
    bytes are replaced, so a damaged file is reported by line, not by a UnicodeError."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                yield n, line


def read_object(path: Path) -> dict[str, Any]:
    """A JSON object from a file evalsuite did not necessarily write (a manifest, a
    recipe record): ``{}`` when it is missing, torn, not JSON or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}
