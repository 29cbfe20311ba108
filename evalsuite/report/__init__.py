"""Reports from a comparison: paper-style tables, figures and report.md/report.html.

Everything is rendered from drift.json alone, so a report can be re-rendered later
(``python -m evalsuite.report OUT``) without the runs or the models::

    from evalsuite.report import render_report
    render_report(json.load(open("OUT/drift.json")), Path("OUT"))
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evalsuite.errors import UserError


def render_report(drift: dict[str, Any], out: Path) -> dict[str, Any]:
    """Write tables/, figures/, report.md and report.html under ``out``.

    Returns {"tables": [names], "figures": {name: [paths]}, "report": path}.
    """
    from evalsuite.atomic import write_text
    from evalsuite.report.document import build
    from evalsuite.report.figures import write_figures
    from evalsuite.report.summary import summarize
    from evalsuite.report.tables import write_tables

    out = Path(out)
    tables = write_tables(drift, out / "tables")
    figures = write_figures(drift, out / "figures")
    md, page = build(drift, summarize(drift), tables, figures, out)
    write_text(out / "report.md", md)
    write_text(out / "report.html", page)
    return {"tables": [t.name for t in tables], "figures": figures,
            "report": out / "report.md"}


def load_drift(path: Path) -> dict[str, Any]:
    """drift.json from a compare directory (or the file itself), with a clear error."""
    path = Path(path)
    file = path / "drift.json" if path.is_dir() else path
    if not file.is_file():
        raise UserError(f"no drift.json at {path}: run python -m evalsuite.compare "
                        "baseline=RUN_DIR candidate=RUN_DIR first")
    try:
        drift = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise UserError(f"{file} is not valid JSON ({e}); re-run the comparison") from None
    if not isinstance(drift, dict) or "comparisons" not in drift:
        raise UserError(f"{file} is not a drift report (no 'comparisons'); re-run "
                        "python -m evalsuite.compare")
    return drift


__all__ = ["load_drift", "render_report"]
