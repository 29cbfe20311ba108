"""report.md and a self-contained report.html from the same blocks."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Any

from evalsuite.report.figures import CAPTIONS
from evalsuite.report.textable import Table

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:60rem;margin:2rem auto;
padding:0 1rem;color:#222;line-height:1.5}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table.paper{border-collapse:collapse;margin:1rem 0;font-size:.85rem;
border-top:2px solid #222;border-bottom:2px solid #222}
table.paper caption{caption-side:top;text-align:left;font-weight:600;padding-bottom:.4rem}
table.paper th{padding:.2rem .5rem;border-bottom:1px solid #999;font-weight:600}
table.paper td{padding:.15rem .5rem}td.r{text-align:right}td.l{text-align:left}
tr.rule td{border-bottom:1px solid #999}tr.section td{padding-top:.5rem}
p.notes{font-size:.75rem;color:#555}figure{margin:1.5rem 0}figure img{max-width:100%}
figcaption{font-size:.85rem;color:#444}.meta{color:#555;font-size:.85rem}
"""


def _md_inline_to_html(text: str) -> str:
    out = html.escape(text)
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", out)


def build(drift: dict[str, Any], summary: list[str], tables: list[Table],
          figures: dict[str, list[Path]], out: Path) -> tuple[str, str]:
    """(report.md, report.html) text; paths in the Markdown are relative to ``out``."""
    base = drift["baseline"]
    cands = list(drift["comparisons"])
    title = f"Drift report: {', '.join(cands)} vs {base['label']}"
    s = drift["settings"]
    meta = [f"Baseline run `{base['path']}` ({base.get('model')}, fingerprint "
            f"`{str(base.get('fingerprint'))[:19]}`)."]
    meta += [f"Candidate **{c['label']}**: run `{c['path']}` ({c.get('model')}, fingerprint "
             f"`{str(c.get('fingerprint'))[:19]}`)." for c in drift["candidates"]]
    meta.append(f"{round(100 * s['level'])} % paired bootstrap intervals ({s['n_boot']} "
                f"resamples, seed {s['seed']}); significance at {s['alpha']} after Holm "
                f"correction. Created {drift.get('created_at', '')}; drift.json schema "
                f"{drift.get('schema_version')}.")
    if (drift.get("sweep") or {}).get("values"):
        meta.append(f"Sweep over `{drift['sweep'].get('key')}`: " + ", ".join(
            f"{k} = {v}" for k, v in drift["sweep"]["values"].items()) + ".")
    fmt = {"level": round(100 * s["level"]), "alpha": s["alpha"]}

    md = [f"# {title}", "", *[f"- {m}" for m in meta], "", "## Summary", ""]
    for p in summary:
        md += [p, ""]
    md += ["## Tables", ""]
    for t in tables:
        md += [t.to_markdown(), f"[LaTeX](tables/{t.name}.tex) \u00b7 "
               f"[CSV](tables/{t.name}.csv) \u00b7 [Markdown](tables/{t.name}.md)", ""]
    md += ["## Figures", ""]
    for name, paths in figures.items():
        png = next(p for p in paths if p.suffix == ".png")
        cap = CAPTIONS.get(name, name).format(**fmt)
        md += [f"![{name}](figures/{png.name})", "", f"*{cap}* [PDF](figures/{name}.pdf)", ""]

    body = [f"<h1>{html.escape(title)}</h1>", "<ul class='meta'>"]
    body += [f"<li>{_md_inline_to_html(m.replace('`', ''))}</li>" for m in meta]
    body += ["</ul>", "<h2>Summary</h2>"]
    body += [f"<p>{_md_inline_to_html(p)}</p>" for p in summary]
    body += ["<h2>Tables</h2>"] + [t.to_html() for t in tables]
    body.append("<h2>Figures</h2>")
    for name, paths in figures.items():
        png = next(p for p in paths if p.suffix == ".png")
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        cap = html.escape(CAPTIONS.get(name, name).format(**fmt))
        body.append(f'<figure><img alt="{name}" src="data:image/png;base64,{data}">'
                    f"<figcaption>{cap}</figcaption></figure>")
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
            + "\n".join(body) + "</body></html>\n")
    return "\n".join(md).rstrip() + "\n", page
