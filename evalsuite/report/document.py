"""report.md and a self-contained report.html from the same blocks (the page from a
jinja2 template, autoescaped: answers and prompts are untrusted text)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from evalsuite.report import examples, jinja
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
h3{font-size:1.05rem;margin-top:1.5rem}h4{font-size:.95rem;margin:1.2rem 0 .4rem}
.note{font-weight:400;color:#666;font-size:.85rem}.example{margin:.8rem 0 1.2rem}
.prompt{margin:.2rem 0;font-size:.9rem}.pair{display:grid;grid-template-columns:1fr 1fr;gap:.8rem}
.side{border:1px solid #ddd;border-radius:4px;padding:.4rem .6rem;min-width:0}
.who{font-weight:600;font-size:.85rem}.scores,.patterns{font-weight:400;color:#555;font-size:.8rem}
ul.verdicts{list-style:none;padding:0;margin:.2rem 0;font-size:.75rem}
ul.verdicts li{display:inline-block;margin-right:.6rem}li.ok{color:#1a7f37}li.no{color:#b42318}
.side pre{white-space:pre-wrap;word-break:break-word;font-size:.8rem;margin:.3rem 0 0;
max-height:24rem;overflow:auto}
"""


_READ_FROM = {"lm-eval": "an lm-eval output", "inspect": "an inspect eval log",
              "lighteval": "a lighteval output"}


def _origin(run: dict[str, Any]) -> str:
    if run.get("source") in _READ_FROM:  # another harness's output, read as a run
        return (f"{run.get('model')}, {_READ_FROM[run['source']]}: no model fingerprint "
                "recorded")
    return f"{run.get('model')}, fingerprint `{str(run.get('fingerprint'))[:19]}`"


def build(drift: dict[str, Any], summary: list[str], tables: list[Table],
          figures: dict[str, list[Path]], out: Path) -> tuple[str, str]:
    """(report.md, report.html) text; paths in the Markdown are relative to ``out``."""
    base = drift["baseline"]
    cands = list(drift["comparisons"])
    title = f"Drift report: {', '.join(cands)} vs {base['label']}"
    s = drift["settings"]
    meta = [f"Baseline run `{base['path']}` ({_origin(base)})."]
    meta += [f"Candidate **{c['label']}**: run `{c['path']}` ({_origin(c)})."
             for c in drift["candidates"]]
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

    md += examples.markdown(drift)
    figs = []
    for name, paths in figures.items():
        png = next(p for p in paths if p.suffix == ".png")
        figs.append({"name": name, "caption": CAPTIONS.get(name, name).format(**fmt),
                     "data": base64.b64encode(png.read_bytes()).decode("ascii")})
    page = jinja.template("report.html.j2").render(
        title=title, css=CSS, meta=[m.replace("`", "") for m in meta], summary=summary,
        tables=[t.to_html() for t in tables], figures=figs,
        examples=examples.sections(drift), per_kind=s.get("examples"))
    return "\n".join(md).rstrip() + "\n", page
