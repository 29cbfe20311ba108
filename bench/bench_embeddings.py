"""Embedding throughput: evalsuite's embedder against the encoder's own raw speed.

Texts are IFEval-shaped answers: spans of the real IFEval prompts, of lengths drawn like
SmolLM2's 256-token answers (gamma-distributed words, some past MiniLM's 256-token
bound). Rows, each a fresh measurement on the same texts in one process:

- ``before``: the embedder as it was before issue 19 (batches of 64 sorted by
  characters, fp32), reimplemented here verbatim;
- ``raw encoder``: the BERT forward alone on inputs tokenised and padded beforehand
  (same batches as the pipeline), the ceiling any pipeline can reach;
- ``pipeline``: ``SentenceEmbedder.encode`` (tokenise, pad, forward, pool, normalise),
  for fp32 and bf16 (bf16 only where the CPU computes it in hardware);
- ``sweep``: one baseline and K candidates whose answers differ from the baseline's in
  a share of the prompts, through ``embed`` as compare calls it (each distinct answer
  once), against the before-embedder's 2*K*N encodes. No disk cache: ``embed`` runs
  with ``cache=None``, as a first comparison would.

    python bench/bench_embeddings.py [--n 541] [--candidates 3] [--changed 0.3]

Prints a table, writes JSON (default bench/results/embeddings.json).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def answers(n: int, seed: int) -> list[str]:
    from evalsuite.tasks.data import ifeval_path

    prompts = [json.loads(x)["prompt"] for x in ifeval_path().read_text().splitlines() if x]
    words = " ".join(prompts).split()
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        length = max(int(rng.gamma(2, 60)), 3)
        start = int(rng.integers(0, len(words) - length))
        out.append(" ".join(words[start:start + length]))
    return out


def before(emb, texts: list[str]) -> np.ndarray:
    """The embed() of ccbfe40: char-length order, batches of 64, fp32."""
    import torch

    from evalsuite.drift.embeddings import MAX_TOKENS

    out = []
    order = np.argsort([-len(t) for t in texts], kind="stable")
    with torch.inference_mode():
        for start in range(0, len(texts), 64):
            batch = [texts[i] or "" for i in order[start:start + 64]]
            enc = emb.tokenizer(batch, padding=True, truncation=True, max_length=MAX_TOKENS,
                                return_tensors="pt")
            hidden = emb.model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(pooled, p=2, dim=1).numpy())
    e = np.concatenate(out)
    result = np.empty_like(e)
    result[order] = e
    return result


def raw(emb, texts: list[str]) -> float:
    """Seconds of the forward passes alone, inputs prepared outside the clock."""
    import torch

    from evalsuite.drift.embeddings import MAX_TOKENS

    ids = emb.tokenizer(texts, truncation=True, max_length=MAX_TOKENS)["input_ids"]
    order = np.argsort([-len(x) for x in ids], kind="stable")
    batches = [emb.tokenizer.pad({"input_ids": [ids[i] for i in order[s:s + emb.batch_size]]},
                                 return_tensors="pt")
               for s in range(0, len(ids), emb.batch_size)]
    bf16 = emb.precision == "bf16"
    t = time.perf_counter()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for enc in batches:
            emb.model(**enc)
    return time.perf_counter() - t


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=541, help="answers per run (IFEval: 541)")
    ap.add_argument("--candidates", type=int, default=3)
    ap.add_argument("--changed", type=float, default=0.3,
                    help="share of a candidate's answers that differ from the baseline's")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "embeddings.json"))
    args = ap.parse_args()
    import torch

    from evalsuite.drift.embeddings import SentenceEmbedder, native_bf16

    texts = answers(args.n, seed=0)
    precisions = ["fp32", "bf16"] if native_bf16() else ["fp32"]
    embs = {p: SentenceEmbedder(precision=p) for p in precisions}
    lens = [len(x) for x in embs["fp32"].tokenizer(texts, truncation=True,
                                                  max_length=512)["input_ids"]]
    for e in embs.values():  # first calls pay one-off kernel set-up
        e.encode(texts[:32])
    rows: list[dict] = []

    def row(name: str, seconds: float, encodes: int, **extra) -> None:
        rows.append({"row": name, "seconds": round(seconds, 2), "texts": encodes,
                     "texts_per_s": round(encodes / seconds, 1), **extra})

    ref, t_before = timed(before, embs["fp32"], texts)
    row("before (batches of 64 by characters, fp32)", t_before, len(texts))
    for p, e in embs.items():
        row(f"raw encoder forward ({p}, batches of {e.batch_size})", raw(e, texts), len(texts))
        vec, t = timed(e.encode, texts)
        cos = float(np.min(np.sum(vec * ref, axis=1)))
        row(f"pipeline encode ({p})", t, len(texts), min_cosine_to_before=round(cos, 6))

    # a sweep: each candidate keeps (1 - changed) of the baseline's answers
    rng = np.random.default_rng(1)
    cands = []
    for j in range(args.candidates):
        fresh = answers(args.n, seed=100 + j)
        swap = rng.random(args.n) < args.changed
        cands.append([f if s else b for b, f, s in zip(texts, fresh, swap, strict=True)])
    best = precisions[-1]
    sweep = SentenceEmbedder(precision=best)
    sweep.encode(texts[:32])
    sweep.encoded = 0
    t = time.perf_counter()
    for c in cands:  # what compare does per candidate: the baseline's answers, then its own
        sweep.embed(texts)
        sweep.embed(c)
    t_sweep = time.perf_counter() - t
    pairs = 2 * args.candidates * args.n
    row(f"sweep, {args.candidates} candidates ({best}, each distinct answer once)", t_sweep,
        pairs, encoded=sweep.encoded)
    t_sweep_before = 0.0
    for c in cands:
        t_sweep_before += timed(before, embs["fp32"], texts)[1] + timed(before, embs["fp32"], c)[1]
    row(f"sweep, {args.candidates} candidates (before)", t_sweep_before, pairs, encoded=pairs)

    result = {"n": args.n, "candidates": args.candidates, "changed": args.changed,
              "tokens": {"mean": round(float(np.mean(lens)), 1),
                         "median": float(np.median(lens)),
                         "past_256": round(float(np.mean(np.array(lens) > 256)), 3)},
              "torch": torch.__version__, "threads": torch.get_num_threads(),
              "cpu": platform.processor() or platform.machine(), "rows": rows}
    print(f"\n{args.n} IFEval-shaped answers, {result['tokens']['mean']} tokens on average, "
          f"{torch.get_num_threads()} threads\n")
    print("| row | seconds | texts | texts/s | vs before |\n|---|---|---|---|---|")
    base_rate = rows[0]["texts_per_s"]
    for r in rows:
        ref_rate = rows[-1]["texts_per_s"] if r["row"].startswith("sweep") else base_rate
        print(f"| {r['row']} | {r['seconds']} | {r['texts']} | {r['texts_per_s']} | "
              f"{r['texts_per_s'] / ref_rate:.2f}x |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
