"""Small stored run directories written by hand, for tests of what reads runs (the
report, sweeps): an IFEval-style generation task and a 4-way multiple-choice task.

The layout is the run directory of contract.md; the numbers are seeded and known, so
a test can check a rendered table against them. Model behaviour is the business of the
tests that run the real model (test_compare, test_e2e)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

IF_TASK, MC_TASK = "ifeval_offline", "arc_easy_offline"
CATEGORIES = ("keywords", "length_constraints", "detectable_format", "punctuation")
WORDS = ("the", "model", "answers", "each", "request", "with", "care", "and", "detail",
         "about", "science", "history", "art", "music", "cooking", "travel", "health",
         "sport", "weather", "animals", "plants", "cities", "rivers", "oceans", "stars")
N = 60


def _h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _sentence(rng: np.random.Generator, n: int) -> str:
    return " ".join(rng.choice(WORDS, size=n)).capitalize() + "."


def write_run(path: Path, name: str, *, seed: int, if_pass: float, mc_pass: float,
              qa_share: float = 0.0, length: int = 20, model_path: str | None = None,
              max_gen_toks: int = 256, prompts: list[str] | None = None,
              responses: list[str] | None = None, temperature: float | None = None) -> Path:
    """A complete run of model ``name``: IFEval-style samples passing each instruction
    with probability ``if_pass``, MC samples right with ``mc_pass``, and ``qa_share`` of
    the responses written as a synthetic `Question: ... Answer: ...` pair. ``prompts`` and
    ``responses`` replace the generated texts (sampled at ``temperature`` if given)."""
    rng = np.random.default_rng(seed)
    if_rows, mc_rows = [], []
    n = N if responses is None else len(responses)
    texts, prompt_rng = prompts, np.random.default_rng(0)  # the same prompts in every run
    for i in range(n):
        prompt = (f"Write about topic {i}. " + _sentence(prompt_rng, 6)) if texts is None \
            else texts[i]
        cats = [CATEGORIES[(i + k) % len(CATEGORIES)] for k in range(1 + i % 2)]
        ids = [f"{c}:rule{(i + k) % 3}" for k, c in enumerate(cats)]
        strict = [bool(rng.random() < if_pass) for _ in ids]
        loose = [s or bool(rng.random() < 0.3) for s in strict]
        body = " ".join(_sentence(rng, int(rng.integers(length // 2, length * 3 // 2)))
                        for _ in range(2))
        if rng.random() < qa_share:
            body = f"Answer: {_sentence(rng, 4)}\nQuestion: {_sentence(rng, 5)}\nAnswer: {body}"
        if responses is not None:
            body = responses[i]
        if_rows.append({
            "sample_id": i, "doc_hash": _h(prompt), "prompt_hash": _h(prompt), "prompt": prompt,
            "response": body, "target": None,
            "scores": {"prompt_level_strict_acc": float(all(strict)),
                       "inst_level_strict_acc": [float(s) for s in strict],
                       "prompt_level_loose_acc": float(all(loose)),
                       "inst_level_loose_acc": [float(s) for s in loose]},
            "instructions": [{"id": iid, "category": iid.split(":")[0], "strict": s, "loose": lo}
                             for iid, s, lo in zip(ids, strict, loose, strict=True)]})
        q = f"Question {i}: " + _sentence(prompt_rng, 5)
        right = bool(rng.random() < mc_pass)
        mc_rows.append({
            "sample_id": i, "doc_hash": _h(q), "prompt_hash": _h(q), "prompt": q,
            "response": "A" if right else "B", "target": 0,
            "choices": ["A", "B", "C", "D"],
            "scores": {"acc": float(right), "acc_norm": float(right)}})
    metrics = {IF_TASK: _if_metrics(if_rows), MC_TASK: {
        m: float(np.mean([r["scores"][m] for r in mc_rows])) for m in ("acc", "acc_norm")}}
    manifest = {
        "schema_version": 1, "status": "complete",
        "model": {"name": name, "path": model_path, "fingerprint": "sha256:" + _h(name)},
        "backend": {"name": "hf"}, "suite": "quick",
        "config": {"model": {"name": name, "path": model_path}, "seed": 1234,
                   "output_root": str(path.parent)},
        "tasks": {
            IF_TASK: {"version": 4.0, "n_samples": n, "output_type": "generate_until",
                      "generation_kwargs": {"do_sample": temperature is not None,
                                            "temperature": temperature or 0.0,
                                            "max_gen_toks": max_gen_toks},
                      "num_fewshot": 0, "chat_template": True},
            MC_TASK: {"version": 1.0, "n_samples": n, "output_type": "multiple_choice",
                      "num_fewshot": 0, "chat_template": False}},
    }
    (path / "samples").mkdir(parents=True, exist_ok=True)
    (path / "manifest.json").write_text(json.dumps(manifest))
    (path / "metrics.json").write_text(json.dumps(metrics))
    for task, rows in ((IF_TASK, if_rows), (MC_TASK, mc_rows)):
        (path / "samples" / f"{task}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows))
    return path


def _if_metrics(rows: list[dict]) -> dict[str, float]:
    out = {}
    for m in ("prompt_level_strict_acc", "prompt_level_loose_acc"):
        out[m] = float(np.mean([r["scores"][m] for r in rows]))
    for m in ("inst_level_strict_acc", "inst_level_loose_acc"):
        out[m] = float(np.mean([v for r in rows for v in r["scores"][m]]))
    return out
