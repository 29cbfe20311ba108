"""MT-Bench single-answer grading (FastChat's ``single-v1`` prompts): a judge rates each
answer 1-10 as ``[[rating]]``.

Records are MT-Bench samples (see :mod:`evalsuite.run.native._mtbench`): one per question
and turn, holding the question, the earlier turns (``history``) and the response.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from typing import Any

from evalsuite.tasks.chat import Message
from evalsuite.tasks.mtbench import JudgePrompt

log = logging.getLogger(__name__)

# FastChat's patterns (llm_judge/common.py), with spaces allowed inside the brackets.
_RATING = re.compile(r"\[\[\s*(\d+(?:\.\d+)?)\s*\]\]")
_RATING_BACKUP = re.compile(r"\[\s*(\d+(?:\.\d+)?)\s*\]")


def parse_rating(text: str) -> float | None:
    """The judge's ``[[rating]]``, or None when there is none in 1-10.

    FastChat takes the first match; the last one is taken here, because a weak judge
    often repeats the prompt's example ("Rating: [[5]]") before giving its own. With a
    judge that writes one rating (GPT-4) the two rules agree.
    """
    for pattern in (_RATING, _RATING_BACKUP):
        found = pattern.findall(text or "")
        if found:
            value = float(found[-1])
            return value if 1.0 <= value <= 10.0 else None
    return None


def single_prompt(rec: dict[str, Any], prompts: dict[str, JudgePrompt]
                  ) -> tuple[str, list[Message]]:
    """(prompt name, judge chat) for one MT-Bench record, as FastChat builds it: the
    ``-math-`` prompts with GPT-4's reference answers for math, reasoning and coding,
    the ``-multi-turn`` prompts (whole conversation, judged on turn 2) for turn 2."""
    doc = rec.get("doc") or {}
    refs = doc.get("reference_answers") or []
    history = rec.get("history") or []
    multi = bool(history)
    name = ("single-math-v1" if refs else "single-v1") + ("-multi-turn" if multi else "")
    if multi:
        fields = {"question_1": history[0]["content"], "answer_1": history[1]["content"],
                  "question_2": rec["question"], "answer_2": rec["response"] or ""}
    else:
        fields = {"question": rec["question"], "answer": rec["response"] or ""}
    for i, ref in enumerate(refs[:2], 1):
        fields[f"ref_answer_{i}"] = ref
    return name, prompts[name].messages(**fields)


def grade(records: list[dict[str, Any]], ask: Any, prompts: dict[str, JudgePrompt],
          task: str) -> None:
    """Judge every record once and store ``judge`` and ``scores`` in it.

    ``ask(chats, task)`` returns the judge's outputs. An output without a rating keeps
    ``rating: null`` and null scores: counted as unparsable, never dropped.
    """
    built = [single_prompt(rec, prompts) for rec in records]
    outputs = ask([chat for _, chat in built], task)
    for rec, (name, _), out in zip(records, built, outputs, strict=True):
        rating = parse_rating(out)
        rec["judge"] = {"prompt": name, "output": out, "rating": rating}
        rec["scores"] = {"score": rating, f"score_turn{rec['turn']}": rating}


def _mean(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return math.fsum(vals) / len(vals) if vals else None


def _summary(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    ratings = [(r["turn"], (r.get("judge") or {}).get("rating")) for r in records]
    return {
        "score": _mean([v for _, v in ratings]),
        "score_turn1": _mean([v for t, v in ratings if t == 1]),
        "score_turn2": _mean([v for t, v in ratings if t == 2]),
    }


def aggregate(records: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metrics, manifest details): mean ratings overall and per turn, over parsed
    ratings; per category the same with counts; unparsable ratings counted."""
    metrics = _summary(records)
    unparsable = [r["sample_id"] for r in records if (r.get("judge") or {}).get("rating") is None]
    categories: dict[str, dict[str, Any]] = {}
    for cat in sorted({r["category"] for r in records}):
        rows = [r for r in records if r["category"] == cat]
        categories[cat] = {
            "n": len(rows),
            "n_unparsable": sum((r.get("judge") or {}).get("rating") is None for r in rows),
            **_summary(rows),
        }
    if unparsable:
        log.warning("%d of %d judgments have no [[rating]] in 1-10 (scored null): %s",
                    len(unparsable), len(records), unparsable[:10])
    details = {"n_judged": len(records), "n_unparsable": len(unparsable),
               "unparsable_sample_ids": unparsable, "categories": categories}
    return metrics, details
