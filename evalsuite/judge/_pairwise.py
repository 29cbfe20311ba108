"""Pairwise judging with positions swapped (MT-Bench ``pair-v2``; the AlpacaEval /
Arena-Hard idea with the baseline as the reference).

Each prompt is judged twice: baseline as assistant A, then candidate as assistant A.
As in FastChat, a verdict that changes with the order counts as a tie; a judgment
without a verdict makes the prompt an ``error``, counted and left out of the rates.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from evalsuite.tasks.chat import Message
from evalsuite.tasks.mtbench import JudgePrompt

_VERDICT = re.compile(r"\[\[([ABC])\]\]")
OUTCOMES = ("win", "tie", "loss")


def parse_verdict(text: str) -> str | None:
    """``A``, ``B`` or ``C`` (tie) from the judge's ``[[A]]``/``[[B]]``/``[[C]]``; None
    when there is none. FastChat tests for [[A]] first; the last verdict is taken here,
    because a weak judge often repeats the prompt's format line before its own."""
    found = _VERDICT.findall(text or "")
    return found[-1] if found else None


def question_of(rec: dict[str, Any]) -> str:
    """The user's request in a sample, as a judge should read it (no chat template)."""
    if rec.get("question") is not None:
        return str(rec["question"])
    doc = rec.get("doc") or {}
    for key in ("prompt", "instruction", "question"):
        if isinstance(doc.get(key), str):
            return doc[key]
    return str(rec.get("prompt") or "")


def pair_prompt(a: dict[str, Any], b: dict[str, Any], prompts: dict[str, JudgePrompt]
                ) -> tuple[str, list[Message]]:
    """(prompt name, judge chat) with ``a``'s answer as assistant A and ``b``'s as B.

    A sample with earlier turns (MT-Bench turn 2) gets the ``-multi-turn`` prompt; one
    with reference answers (MT-Bench math, reasoning, coding) the ``pair-math-v1`` ones.
    """
    refs = (a.get("doc") or {}).get("reference_answers") or []
    history = a.get("history") or []
    multi = bool(history)
    name = ("pair-math-v1" if refs else "pair-v2") + ("-multi-turn" if multi else "")
    if multi:
        fields = {"question_1": history[0]["content"], "question_2": question_of(a),
                  "answer_a_1": history[1]["content"],
                  "answer_b_1": (b.get("history") or history)[1]["content"],
                  "answer_a_2": a.get("response") or "", "answer_b_2": b.get("response") or ""}
    else:
        fields = {"question": question_of(a), "answer_a": a.get("response") or "",
                  "answer_b": b.get("response") or ""}
    for i, ref in enumerate(refs[:2], 1):
        fields[f"ref_answer_{i}"] = ref
    return name, prompts[name].messages(**fields)


def combine(baseline_first: str | None, candidate_first: str | None) -> str:
    """The candidate's outcome from the two verdicts: ``win``, ``tie``, ``loss`` or
    ``error``. ``baseline_first`` is the verdict with the baseline as A."""
    if baseline_first is None or candidate_first is None:
        return "error"
    g1 = {"A": "loss", "B": "win", "C": "tie"}[baseline_first]
    g2 = {"A": "win", "B": "loss", "C": "tie"}[candidate_first]
    return g1 if g1 == g2 else "tie"  # a verdict that follows the position is a tie


def win_rates(outcomes: Sequence[str], *, n_boot: int = 2000, seed: int = 0,
              level: float = 0.95) -> dict[str, Any]:
    """Counts, rates and the candidate's win rate (wins + ties / 2) over the prompts
    with a verdict, with a percentile bootstrap interval over prompts."""
    counts = {o: sum(x == o for x in outcomes) for o in (*OUTCOMES, "error")}
    n = counts["win"] + counts["tie"] + counts["loss"]
    out: dict[str, Any] = {"n": len(outcomes), "n_valid": n, "wins": counts["win"],
                           "ties": counts["tie"], "losses": counts["loss"],
                           "errors": counts["error"]}
    if n == 0:
        return {**out, "win_rate": None, "ci_low": None, "ci_high": None,
                "rates": dict.fromkeys(OUTCOMES), "level": level, "ci_method": None}
    points = np.array([{"win": 1.0, "tie": 0.5, "loss": 0.0}[o] for o in outcomes
                       if o in OUTCOMES])
    rng = np.random.default_rng(seed)
    means = points[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
    tail = (1.0 - level) / 2
    return {**out, "win_rate": float(points.mean()),
            "ci_low": float(np.quantile(means, tail)),
            "ci_high": float(np.quantile(means, 1 - tail)),
            "rates": {o: counts[o] / n for o in OUTCOMES},
            "level": level, "ci_method": f"percentile bootstrap over prompts ({n_boot})"}
