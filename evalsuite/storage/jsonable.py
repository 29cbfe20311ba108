"""Values made JSON-ready: what every record writer stores."""

from __future__ import annotations

import math
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
