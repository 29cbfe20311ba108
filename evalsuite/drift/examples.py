"""Answers to read beside the numbers: for each generation task, the pairs that flipped
from pass to fail and back, the candidate answers that match each template pattern, and a
few pairs drawn at random (seeded), so a reader sees typical pairs, not only the worst."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from evalsuite.drift.distribution import Pattern
from evalsuite.drift.pairing import PairedTask

# Responses are stored whole in drift.json up to this many characters; the report
# shortens them further for reading.
MAX_CHARS = 4000


def headline_metric(paired: PairedTask, metrics: Sequence[str]) -> str | None:
    """The first of the task's metrics that is one pass/fail verdict per sample (IFEval:
    prompt_level_strict_acc): the verdict whose flips the examples show."""
    for m in metrics:
        values = [r.get("scores", {}).get(m) for r in (*paired.base, *paired.cand)]
        if values and all(verdict(v) is not None for v in values):
            return m
    return None


def select_examples(paired: PairedTask, metrics: Sequence[str], patterns: Sequence[Pattern],
                    n: int, seed: int = 0) -> dict[str, Any]:
    """drift.json's ``examples`` entry of one generation task, ``n`` pairs per section."""
    rng = np.random.default_rng(seed)
    metric = headline_metric(paired, metrics)
    out: dict[str, Any] = {"metric": metric, "n": len(paired.base), "sections": []}
    pairs = list(zip(paired.base, paired.cand, strict=True))
    if metric is not None:
        verdicts = [(verdict(b["scores"][metric]), verdict(c["scores"][metric]))
                    for b, c in pairs]
        for kind, want in (("lost", (True, False)), ("gained", (False, True))):
            idx = [i for i, v in enumerate(verdicts) if v == want]
            out["sections"].append(_section(kind, idx, pairs, rng, n, patterns,
                                            metric=metric))
    for p in patterns:
        rx = re.compile(p.regex, re.MULTILINE)
        hits = [i for i, (b, c) in enumerate(pairs)
                if rx.search(c.get("response") or "")]
        # first the answers that took the pattern up, then those that already had it
        new = [i for i in hits if not rx.search(pairs[i][0].get("response") or "")]
        old = [i for i in hits if i not in set(new)]
        section = _section("pattern", new, pairs, rng, n, patterns, pattern=p.name)
        if len(section["examples"]) < n and old:
            more = _section("pattern", old, pairs, rng, n - len(section["examples"]),
                            patterns)
            section["examples"] += more["examples"]
        section["total"] = len(hits)
        out["sections"].append(section)
    out["sections"].append(_section("random", list(range(len(pairs))), pairs, rng, n,
                                    patterns))
    return out


def _section(kind: str, idx: list[int], pairs: list[tuple[dict, dict]],
             rng: np.random.Generator, n: int, patterns: Sequence[Pattern],
             metric: str | None = None, pattern: str | None = None) -> dict[str, Any]:
    chosen = sorted(rng.choice(idx, size=min(n, len(idx)), replace=False).tolist()) \
        if idx and n > 0 else []
    section: dict[str, Any] = {"kind": kind, "total": len(idx),
                               "examples": [_example(*pairs[i], patterns) for i in chosen]}
    if metric is not None:
        section["metric"] = metric
    if pattern is not None:
        section["pattern"] = pattern
    return section


def user_prompt(r: dict[str, Any]) -> str:
    """The user's words, not the chat template around them, when the document has them."""
    doc = r.get("doc") if isinstance(r.get("doc"), dict) else {}
    prompt = doc.get("prompt") if isinstance(doc.get("prompt"), str) else r.get("prompt")
    return str(prompt or "")


def _example(b: dict[str, Any], c: dict[str, Any], patterns: Sequence[Pattern]) -> dict[str, Any]:
    return {"sample_id": b.get("sample_id"), "prompt": _cut(user_prompt(b)),
            "baseline": _side(b, patterns), "candidate": _side(c, patterns)}


def _side(r: dict[str, Any], patterns: Sequence[Pattern]) -> dict[str, Any]:
    text = r.get("response") or ""
    scores = r.get("scores") if isinstance(r.get("scores"), dict) else {}
    return {
        "response": _cut(text),
        "scores": {k: _plain(v) for k, v in scores.items() if _plain(v) is not None},
        "instructions": [{"id": str(i.get("id")), "strict": bool(i.get("strict")),
                          "loose": bool(i.get("loose"))}
                         for i in r.get("instructions") or [] if isinstance(i, dict)],
        "patterns": [p.name for p in patterns
                     if re.search(p.regex, text, re.MULTILINE)],
    }


def verdict(value: Any) -> bool | None:
    """A per-sample score as pass/fail (True/False, 1/0), else None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    return None


def _plain(value: Any) -> float | None:
    if isinstance(value, bool | int | float):
        return float(value)
    return None  # per-instruction lists are in "instructions"


def _cut(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS] + " [...]"
