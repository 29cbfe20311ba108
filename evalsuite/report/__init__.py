"""Reports from a comparison: paper-style tables, figures and report.md/report.html.

Everything is rendered from drift.json alone, so a report can be re-rendered later
(``python -m evalsuite.report OUT``) without the runs or the models::

    from evalsuite.report import render_report
    render_report(json.load(open("OUT/drift.json")), Path("OUT"))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def render_report(drift: dict[str, Any], out: Path) -> dict[str, Any]:
    """Write tables/, figures/, report.md and report.html under ``out``.

    Returns {"tables": [names], "figures": {name: [paths]}, "report": path}.
    """
    from evalsuite.report.document import build
    from evalsuite.report.figures import write_figures
    from evalsuite.report.summary import summarize
    from evalsuite.report.tables import write_tables
    from evalsuite.storage.atomic import write_text

    out = Path(out)
    tables = write_tables(drift, out / "tables")
    figures = write_figures(drift, out / "figures")
    md, page = build(drift, summarize(drift), tables, figures, out)
    write_text(out / "report.md", md)
    write_text(out / "report.html", page)
    return {"tables": [t.name for t in tables], "figures": figures,
            "report": out / "report.md"}


def load_drift(path: Path) -> dict[str, Any]:
    """drift.json from a compare directory (or the file itself), validated through the
    typed records (evalsuite.schema), as the dict the renderers read."""
    from evalsuite.schema import load_drift as load_report
    from evalsuite.schema import view

    return view(load_report(path))


__all__ = ["load_drift", "render_report"]
