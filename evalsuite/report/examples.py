"""The report's Examples section: drift.json's paired answers, prepared for reading.

``sections(drift)`` gives the blocks both report.md and report.html render: per candidate
and generation task, the pairs that flipped (pass to fail first), the answers that took
up a template pattern, and pairs drawn at random. A pair appears once per task, in the
first block that holds it; responses are shortened for reading (drift.json keeps them).
"""

from __future__ import annotations

import re
from typing import Any

PROMPT_CHARS = 400
RESPONSE_CHARS = 700

_TITLES = {
    "lost": "Passed before, failed after",
    "gained": "Failed before, passed after",
    "random": "Drawn at random",
}


def sections(drift: dict[str, Any]) -> list[dict[str, Any]]:
    """[{candidate, task, blocks: [{title, note, examples: [...]}]}] in reading order."""
    base = drift["baseline"]["label"]
    out = []
    for cand, comp in drift["comparisons"].items():
        for task, ex in (comp.get("examples") or {}).items():
            shown: set[Any] = set()
            blocks = []
            for s in ex.get("sections") or []:
                block = _block(s, shown, base, cand)
                if block is not None:
                    blocks.append(block)
            if blocks:
                out.append({"candidate": cand, "baseline": base, "task": task,
                            "n": ex.get("n"), "blocks": blocks})
    return out


def _block(s: dict[str, Any], shown: set[Any], base: str, cand: str) -> dict[str, Any] | None:
    total = int(s.get("total") or 0)
    if s["kind"] == "pattern":
        if total == 0:
            return None  # the candidate never wrote it: nothing to show
        title = f"Candidate answers matching the pattern {s.get('pattern')}"
    else:
        title = _TITLES.get(s["kind"], s["kind"])
        if s.get("metric"):
            title += f" ({s['metric']})"
    fresh = [e for e in s.get("examples") or [] if e.get("sample_id") not in shown]
    repeated = [e.get("sample_id") for e in s.get("examples") or [] if e not in fresh]
    shown.update(e.get("sample_id") for e in fresh)
    n_listed = len(s.get("examples") or [])
    note = f"{n_listed} of {total} shown" if total else "none in this task"
    if repeated:
        note += f"; sample {', '.join(str(r) for r in repeated)} is above"
    return {"title": title, "note": note,
            "examples": [_example(e, base, cand) for e in fresh]}


def _example(e: dict[str, Any], base: str, cand: str) -> dict[str, Any]:
    return {"sample_id": e.get("sample_id"), "prompt": shorten(e.get("prompt") or "",
                                                               PROMPT_CHARS),
            "sides": [_side(e["baseline"], base), _side(e["candidate"], cand)]}


def _side(side: dict[str, Any], label: str) -> dict[str, Any]:
    scores = side.get("scores") or {}
    # the prompt-level verdicts and plain scores; instruction-level ones are listed below
    shown = {k: v for k, v in scores.items() if not k.startswith("inst_level")}
    return {
        "label": label,
        "response": shorten(side.get("response") or "", RESPONSE_CHARS),
        "scores": ", ".join(f"{k} {_num(v)}" for k, v in shown.items()),
        "instructions": [{"id": i["id"], "ok": bool(i.get("strict"))}
                         for i in side.get("instructions") or []],
        "patterns": list(side.get("patterns") or []),
    }


def shorten(text: str, limit: int) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit * 0.8 else cut) + " [...]"


def _num(v: Any) -> str:
    return str(int(v)) if isinstance(v, float) and v in (0.0, 1.0) else format(v, ".3g")


def markdown(drift: dict[str, Any]) -> list[str]:
    """report.md's Examples section (empty when drift.json holds no examples)."""
    blocks = sections(drift)
    if not blocks:
        return []
    n = (drift.get("settings") or {}).get("examples")
    md = ["## Examples", "",
          f"Answers of both runs to the same prompt{f', up to {n} per kind' if n else ''} "
          "(compare's `examples=N`; drift.json's `examples` holds them whole). Every pair, "
          "with filters: [explorer.html](explorer.html).", ""]
    for t in blocks:
        md += [f"### {t['task']}: {t['candidate']} vs {t['baseline']}", ""]
        for b in t["blocks"]:
            md += [f"**{b['title']}**: {b['note']}.", ""]
            for e in b["examples"]:
                md += [f"*Sample {e['sample_id']}.* {_one_line(e['prompt'])}", ""]
                for side in e["sides"]:
                    md += [f"- {side['label']}: " + _verdicts_md(side), "", *_fenced(
                        side["response"]), ""]
    return md


def _verdicts_md(side: dict[str, Any]) -> str:
    parts = [side["scores"]] if side["scores"] else []
    if side["instructions"]:
        parts.append(" ".join(("\u2713 " if i["ok"] else "\u2717 ") + i["id"]
                              for i in side["instructions"]))
    if side["patterns"]:
        parts.append("pattern " + ", ".join(side["patterns"]))
    return " \u00b7 ".join(parts) or "no scores"


def _fenced(text: str) -> list[str]:
    # a fence longer than any run of backticks in the answer, so the answer cannot end it
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"  {fence}text", *("  " + ln for ln in (text or "(empty)").splitlines()),
            f"  {fence}"]


def _one_line(text: str) -> str:
    return " ".join(text.split())
