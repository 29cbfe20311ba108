"""explorer.html: every paired sample of a comparison in one self-contained page.

No server, no CDN: the pairs travel inside the page as JSON (jinja2's ``tojson``, which
escapes ``<``, ``>`` and ``&``, so an answer cannot close the script block), and the
page's own script filters them (task, flip, IFEval category and instruction, pattern,
length change, text), pages through them and marks the words that differ. It reads the
run directories drift.json names, so it is written by compare and, while the runs are
still there, by ``python -m evalsuite.report``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from evalsuite.report import jinja

log = logging.getLogger(__name__)

FILE = "explorer.html"


def flip_of(before: bool | None, after: bool | None) -> str:
    """lost, gained, kept (passed both), never (failed both), or na (no verdict)."""
    if before is None or after is None:
        return "na"
    return {(True, False): "lost", (False, True): "gained", (True, True): "kept",
            (False, False): "never"}[(before, after)]


def rows(drift: dict[str, Any]) -> dict[str, Any]:
    """The page's data: {tasks: {task: flip metric}, pairs: [...]} for every comparison.

    Raises OSError/ValueError (from load_run) when a run drift.json names is gone."""
    from evalsuite.drift.distribution import Pattern
    from evalsuite.drift.examples import headline_metric
    from evalsuite.drift.pairing import pair_runs
    from evalsuite.drift.runs import load_run

    settings = drift.get("settings") or {}
    patterns = [Pattern(str(p["name"]), str(p["regex"])) for p in settings.get("patterns") or []
                if isinstance(p, dict) and "name" in p and "regex" in p]
    compiled = [(p.name, re.compile(p.regex, re.MULTILINE)) for p in patterns]
    base = load_run(drift["baseline"]["path"])
    cand_paths = {c["label"]: c["path"] for c in drift["candidates"]}
    tasks: dict[str, str | None] = {}
    pairs: list[dict[str, Any]] = []
    for label in drift["comparisons"]:
        cand = load_run(cand_paths[label])
        for paired in pair_runs(base, cand, allow_prompt_mismatch=bool(
                settings.get("allow_prompt_mismatch"))):
            metric = headline_metric(paired, list(base.metrics.get(paired.task, {})))
            tasks[paired.task] = metric
            for b, c in zip(paired.base, paired.cand, strict=True):
                pairs.append(_pair(label, paired.task, metric, b, c, compiled))
    return {"baseline": drift["baseline"]["label"], "tasks": tasks, "pairs": pairs,
            "candidates": list(drift["comparisons"])}


def _pair(label: str, task: str, metric: str | None, b: dict[str, Any], c: dict[str, Any],
          patterns: list[tuple[str, re.Pattern[str]]]) -> dict[str, Any]:
    from evalsuite.drift.examples import user_prompt, verdict

    before = verdict((b.get("scores") or {}).get(metric)) if metric else None
    after = verdict((c.get("scores") or {}).get(metric)) if metric else None
    rb, rc = str(b.get("response") or ""), str(c.get("response") or "")
    return {
        "c": label, "t": task, "id": b.get("sample_id"), "p": user_prompt(b),
        "f": flip_of(before, after), "rb": rb, "rc": rc,
        "lb": len(rb.split()), "lc": len(rc.split()),
        "ib": _instructions(b), "ic": _instructions(c),
        "pb": [n for n, rx in patterns if rx.search(rb)],
        "pc": [n for n, rx in patterns if rx.search(rc)],
    }


def _instructions(r: dict[str, Any]) -> list[list[Any]]:
    # [id, category, followed (strict)]: short keys, the page holds tens of thousands
    return [[str(i.get("id")), str(i.get("category") or str(i.get("id")).split(":")[0]),
             bool(i.get("strict"))] for i in r.get("instructions") or [] if isinstance(i, dict)]


def write_explorer(drift: dict[str, Any], out: Path) -> Path | None:
    """OUT/explorer.html, or None (with a warning) when the runs cannot be read now."""
    from evalsuite.errors import UserError
    from evalsuite.storage.atomic import write_text

    try:
        data = rows(drift)
    except (OSError, ValueError, KeyError, re.error, UserError) as e:
        message = e.message if isinstance(e, UserError) else str(e)
        log.warning("no %s: the runs drift.json names cannot be read (%s)", FILE, message)
        return None
    title = f"Sample explorer: {', '.join(data['candidates'])} vs {data['baseline']}"
    page = jinja.template("explorer.html.j2").render(title=title, data=data)
    path = Path(out) / FILE
    write_text(path, page)
    return path
