"""evalsuite: measure what synthetic-data training did to a language model.

Scripts read stored results through ``load_run(RUN_DIR)`` and ``load_drift(COMPARE_DIR)``:
typed, validated records (``evalsuite.schema``) with ``samples_df()`` / ``metrics_df()``
pandas views.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from evalsuite.errors import UserError

if TYPE_CHECKING:
    from evalsuite.schema import DriftReport, RunRecord

__all__ = ["UserError", "__version__", "load_drift", "load_run"]
__version__ = "0.1.0"


def load_run(path: Any) -> RunRecord:
    """A run directory, typed and validated (see ``evalsuite.schema.RunRecord``)."""
    from evalsuite.schema import load_run as load

    return load(path)


def load_drift(path: Any) -> DriftReport:
    """A comparison's drift.json, typed and validated (``evalsuite.schema.DriftReport``)."""
    from evalsuite.schema import load_drift as load

    return load(path)
