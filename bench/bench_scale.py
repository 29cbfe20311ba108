"""Scale of the drift analysis: ``python -m evalsuite.compare`` on 1k-100k paired samples
against 1-50 candidates, whole process, seconds and peak memory.

Builds run directories in a temporary folder: multiple-choice samples split over four
tasks (MMLU-shaped 4-way questions, per-sample acc and acc_norm), and with
``--gen-share`` a share of IFEval-shaped generation samples (instruction lists, responses
of realistic length drawn from real IFEval prompts). Each candidate flips a few percent
of the baseline's verdicts. Every cell runs the real CLI in a fresh process
(``render=false``, ``explorer=false``), the median of ``--repeat`` runs; the peak memory
is that process's maximum resident set, and with ``n_jobs`` the largest worker's; RSS
counts the pages a forked worker shares with the parent in both, so the last column is
the proportional set size of the process and its workers together, sampled every 0.2 s
from /proc by this script in one more run of the cell (not a timed one). ``--embeddings``
adds the embedding shift to the cells with generation samples. Prints a table, writes
JSON.

    python bench/bench_scale.py [--cells 1000x1,10000x10,100000x10] [--n-boot 10000]
        [--n-jobs 1,-1] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from evalsuite.drift.parallel import workers  # noqa: E402

DEFAULT_CELLS = "1000x1,1000x10,1000x50,10000x1,10000x10,10000x50,100000x1,100000x10"
MC_TASKS = ("mc_a", "mc_b", "mc_c", "mc_d")
CATS = ["keywords:existence", "length_constraints:number_words", "detectable_format:title",
        "punctuation:no_comma", "change_case:english_lowercase", "startend:quotation"]


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def _mc_rows(n: int, ok: np.ndarray) -> list[dict]:
    return [{"sample_id": i, "doc_hash": f"m{i}", "prompt_hash": f"q{i}",
             "prompt": "Question: which one?\nAnswer:", "response": "ABCD"[i % 4],
             "target": i % 4, "choices": ["A", "B", "C", "D"],
             "loglikelihoods": [-1.25, -2.5, -3.0, -4.0],
             "scores": {"acc": float(ok[i]), "acc_norm": float(ok[i])}} for i in range(n)]


def _gen_rows(n: int, rng: np.random.Generator, words: list[str], drift: float,
              instr: list[list[str]], base_pass: np.ndarray) -> list[dict]:
    rows = []
    for i in range(n):
        ids = instr[i]
        flip = rng.random(len(ids)) < drift
        strict = [bool(p) != bool(f) for p, f in zip(base_pass[i, :len(ids)], flip,
                                                      strict=True)]
        text = " ".join(rng.choice(words, size=max(int(rng.gamma(4, 40)), 1)))
        rows.append({
            "sample_id": i, "doc_hash": f"d{i}", "prompt_hash": f"p{i}",
            "prompt": f"Write about topic {i}.", "response": text, "target": 0,
            "scores": {"prompt_level_strict_acc": all(strict), "inst_level_strict_acc": strict,
                       "prompt_level_loose_acc": all(strict), "inst_level_loose_acc": strict},
            "instructions": [{"id": x, "category": x.split(":")[0], "strict": s, "loose": s}
                             for x, s in zip(ids, strict, strict=True)]})
    return rows


def make_run(root: Path, name: str, n: int, gen_share: float, seed: int, drift: float,
             words: list[str]) -> Path:
    """A run directory of ``n`` samples; ``drift`` is the share of verdicts flipped
    against the baseline's (seed 0 draws the baseline's verdicts, the same for all)."""
    base_rng = np.random.default_rng(0)
    rng = np.random.default_rng(seed)
    n_gen = int(round(n * gen_share))
    n_mc = n - n_gen
    run = root / name
    metrics: dict[str, dict[str, float]] = {}
    tasks: dict[str, dict] = {}
    per = [n_mc // len(MC_TASKS) + (k < n_mc % len(MC_TASKS)) for k in range(len(MC_TASKS))]
    for task, m in zip(MC_TASKS, per, strict=True):
        if m == 0:
            continue
        base_ok = base_rng.random(m) < 0.45
        ok = base_ok ^ (rng.random(m) < drift)
        _write_jsonl(run / "samples" / f"{task}.jsonl", _mc_rows(m, ok))
        metrics[task] = {"acc": float(ok.mean()), "acc_norm": float(ok.mean())}
        tasks[task] = {"version": 1.0, "output_type": "multiple_choice", "n_samples": m}
    if n_gen:
        instr = [list(base_rng.choice(CATS, size=int(base_rng.integers(1, 4)), replace=False))
                 for _ in range(n_gen)]
        base_pass = base_rng.random((n_gen, 3)) < 0.35
        rows = _gen_rows(n_gen, rng, words, drift, instr, base_pass)
        _write_jsonl(run / "samples" / "ifeval_offline.jsonl", rows)
        flat = [v for r in rows for v in r["scores"]["inst_level_strict_acc"]]
        prompt = [float(r["scores"]["prompt_level_strict_acc"]) for r in rows]
        metrics["ifeval_offline"] = {
            "prompt_level_strict_acc": float(np.mean(prompt)),
            "inst_level_strict_acc": float(np.mean(flat)),
            "prompt_level_loose_acc": float(np.mean(prompt)),
            "inst_level_loose_acc": float(np.mean(flat))}
        tasks["ifeval_offline"] = {"version": 4.0, "output_type": "generate_until",
                                   "n_samples": n_gen,
                                   "generation_kwargs": {"max_gen_toks": 256}}
    run.mkdir(parents=True, exist_ok=True)
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / "manifest.json").write_text(json.dumps({
        "schema_version": 1, "status": "complete", "model": {"name": name, "path": None},
        "backend": {"name": "hf"}, "suite": "bench", "tasks": tasks}))
    return run


# The child reports its own peak resident set: RUSAGE_CHILDREN of this process would be
# the maximum over every cell run so far.
_CHILD = """
import resource, runpy, sys, time
t0 = time.perf_counter()
sys.argv = ["evalsuite.compare", *sys.argv[1:]]
try:
    runpy.run_module("evalsuite.compare", run_name="__main__")
except SystemExit as e:
    if e.code not in (None, 0):
        raise
finally:
    sys.stderr.write("\\nBENCH %f %d %d\\n" % (time.perf_counter() - t0,
                     resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                     resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
"""


def run_cell(root: Path, runs: list[Path], n_boot: int, embeddings: bool,
             n_jobs: int, sample_memory: bool = False) -> dict[str, float]:
    """One run of the CLI; ``sample_memory``: also the processes' PSS (reading /proc
    takes CPU from the run, so the timed runs do not sample)."""
    out = root / f"cmp_{len(runs)}_{time.monotonic_ns()}"
    args = [f"baseline={runs[0]}", f"candidate=[{','.join(str(r) for r in runs[1:])}]",
            f"out={out}", f"n_boot={n_boot}", "render=false", "explorer=false",
            f"embeddings={str(embeddings).lower()}", "embedding_cache=false",
            f"n_jobs={n_jobs}"]
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, "-c", _CHILD, *args], stdout=subprocess.DEVNULL,
                                stderr=err, text=True, cwd=REPO, env={**os.environ})
        pss = 0
        while proc.poll() is None:
            if sample_memory:
                pss = max(pss, _tree_pss_kb(proc.pid))
            time.sleep(0.2 if sample_memory else 0.01)
        wall = time.perf_counter() - t0
        err.seek(0)
        stderr = err.read()
    if proc.returncode != 0:
        sys.exit(stderr[-3000:])
    line = [x for x in stderr.splitlines() if x.startswith("BENCH ")][-1]
    _, _inner, rss_kb, worker_kb = line.split()
    procs = workers(n_jobs, len(runs) - 1)  # as the command counts them
    peak, worker = int(rss_kb) / 1024, int(worker_kb) / 1024 if procs > 1 else 0.0
    # RSS counts the pages a forked worker still shares with the parent in both, so the
    # sum is an upper bound of what the processes held together
    return {"seconds": round(wall, 2), "peak_rss_mb": round(peak, 1),
            "worker_peak_rss_mb": round(worker, 1),
            "peak_total_mb_bound": round(peak + (procs if procs > 1 else 0) * worker, 1),
            "peak_pss_all_mb": round(pss / 1024, 1)}


def _tree_pss_kb(pid: int) -> int:
    """Proportional set size of a process and its children: each shared page counted
    once over all of them, so the sum is the memory the processes hold together."""
    total = 0
    for p in [pid, *_children(pid)]:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                total += next(int(x.split()[1]) for x in f if x.startswith("Pss:"))
        except (OSError, StopIteration):
            pass
    return total


def _children(pid: int) -> list[int]:
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    out: list[int] = []
    for t in tasks:
        try:
            with open(f"/proc/{pid}/task/{t}/children") as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


HEAD = ("| samples | candidates | embeddings | n_jobs | seconds | peak RSS MB | "
        "worker peak RSS MB | peak PSS, all processes MB |\n|---|---|---|---|---|---|---|---|")


def _row(r: dict) -> str:
    return (f"| {r['samples']:,} | {r['candidates']} | {'yes' if r['embeddings'] else 'no'} | "
            f"{r['n_jobs']} | {r['seconds']} | {r['peak_rss_mb']:,} | "
            f"{r['worker_peak_rss_mb'] or '-'} | {r['peak_pss_all_mb']:,} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", default=DEFAULT_CELLS,
                    help="SAMPLESxCANDIDATES, comma-separated")
    ap.add_argument("--gen-share", type=float, default=0.0,
                    help="share of IFEval-shaped generation samples (0: multiple choice only)")
    ap.add_argument("--embeddings", action="store_true",
                    help="also time each cell with the embedding shift (needs --gen-share)")
    ap.add_argument("--n-boot", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3, help="runs per cell; the median is kept")
    ap.add_argument("--n-jobs", default="1,-1",
                    help="compare's n_jobs values timed in each cell, comma-separated "
                         "(-1: every core)")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "scale.json"))
    args = ap.parse_args()
    cells = [tuple(int(x) for x in c.split("x")) for c in args.cells.split(",")]
    n_jobs = [int(x) for x in args.n_jobs.split(",")]
    from evalsuite.tasks.data import ifeval_path

    prompts = [json.loads(x)["prompt"] for x in ifeval_path().read_text().splitlines() if x]
    words = " ".join(prompts).split()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for n in sorted({c[0] for c in cells}):
            k_max = max(c[1] for c in cells if c[0] == n)
            t0 = time.perf_counter()
            runs = [make_run(root / str(n), f"m{j}", n, args.gen_share, seed=j,
                             drift=0.0 if j == 0 else 0.02 + 0.002 * j, words=words)
                    for j in range(k_max + 1)]
            made = time.perf_counter() - t0
            mb = sum(f.stat().st_size for f in runs[0].rglob("*.jsonl")) / 2**20
            print(f"# {n} samples: {k_max + 1} runs written in {made:.1f} s "
                  f"({mb:.1f} MiB of JSONL each)", flush=True)
            for k in sorted(c[1] for c in cells if c[0] == n):
                for emb in (False, True) if args.embeddings and args.gen_share else (False,):
                    # one candidate runs in one process whatever n_jobs says
                    for jobs in n_jobs if k > 1 else n_jobs[:1]:
                        # the median run of --repeat: this machine is shared and noisy
                        tries = sorted((run_cell(root, runs[:k + 1], args.n_boot, emb, jobs)
                                        for _ in range(args.repeat)),
                                       key=lambda r: r["seconds"])
                        res = tries[len(tries) // 2]
                        res["peak_pss_all_mb"] = run_cell(root, runs[:k + 1], args.n_boot,
                                                          emb, jobs, True)["peak_pss_all_mb"]
                        row = {"samples": n, "candidates": k, "embeddings": emb,
                               "n_jobs": jobs, **res}
                        rows.append(row)
                        print(_row(row), flush=True)
    result = {
        "n_boot": args.n_boot, "gen_share": args.gen_share,
        "cpu_count": os.cpu_count(), "python": platform.python_version(),
        "n_jobs": n_jobs, "repeat": args.repeat,
        "targets": {"100000x10_seconds": 30, "100000x10_peak_mb": 4096, "1000x1_seconds": 2},
        "cells": rows,
    }
    print(f"\n{HEAD}")
    for r in rows:
        print(_row(r))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    out = Path(args.out)
    print(f"wrote {out.relative_to(REPO) if out.is_relative_to(REPO) else out}")


if __name__ == "__main__":
    main()
