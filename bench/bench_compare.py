"""Drift-analysis speed: compare two runs of about 1,000 samples each.

Builds two run directories in a temporary folder (IFEval-shaped generation samples
with instruction lists, and 4-way multiple-choice samples; responses of realistic
length drawn from real IFEval prompts), then times ``evalsuite.drift.analysis`` in
process, the report rendering, and ``python -m evalsuite.compare`` end to end (without
and with the report). Prints a table, writes JSON.

    python bench/bench_compare.py [--n-gen 541] [--n-mc 459] [--n-boot 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from evalsuite.storage.atomic import write_json, write_jsonl  # noqa: E402
from evalsuite.tasks.data import ifeval_path  # noqa: E402

CATS = ["keywords:existence", "length_constraints:number_words", "detectable_format:title",
        "punctuation:no_comma", "change_case:english_lowercase", "startend:quotation"]


def make_run(root: Path, name: str, n_gen: int, n_mc: int, seed: int, drift: float) -> Path:
    """A run directory; ``drift`` shifts pass rates and injects a Q-A template."""
    rng = np.random.default_rng(seed)
    prompts = [json.loads(x)["prompt"] for x in ifeval_path().read_text().splitlines() if x]
    words = " ".join(prompts).split()
    run = root / name
    gen, mc = [], []
    for i in range(n_gen):
        ids = list(rng.choice(CATS, size=int(rng.integers(1, 4)), replace=False))
        strict = [bool(rng.random() < 0.35 - drift) for _ in ids]
        n_words = int(rng.gamma(4, 40 * (1 - drift)))
        text = " ".join(rng.choice(words, size=max(n_words, 1)))
        if rng.random() < drift * 2:
            text = f"Answer: {text}\nQuestion: next?\nAnswer: more"
        gen.append({
            "sample_id": i, "doc_hash": f"d{i}", "prompt_hash": f"p{i}",
            "prompt": prompts[i % len(prompts)], "response": text, "target": 0,
            "scores": {"prompt_level_strict_acc": all(strict), "inst_level_strict_acc": strict,
                       "prompt_level_loose_acc": all(strict), "inst_level_loose_acc": strict},
            "instructions": [{"id": x, "category": x.split(":")[0], "strict": s, "loose": s}
                             for x, s in zip(ids, strict, strict=True)],
        })
    for i in range(n_mc):
        ok = float(rng.random() < 0.4 + drift)
        mc.append({"sample_id": i, "doc_hash": f"m{i}", "prompt_hash": f"q{i}",
                   "prompt": "Question: ?\nAnswer:", "response": "a", "target": 0,
                   "choices": ["a", "b", "c", "d"], "loglikelihoods": [-1, -2, -3, -4],
                   "scores": {"acc": ok, "acc_norm": ok}})

    def mean(rows, key):
        vals = [v for r in rows for v in (r["scores"][key] if isinstance(r["scores"][key], list)
                                           else [r["scores"][key]])]
        return float(np.mean(vals))

    metrics = {
        "ifeval_offline": {k: mean(gen, k) for k in gen[0]["scores"]},
        "arc_easy_offline": {k: mean(mc, k) for k in mc[0]["scores"]},
    }
    write_jsonl(run / "samples" / "ifeval_offline.jsonl", gen)
    write_jsonl(run / "samples" / "arc_easy_offline.jsonl", mc)
    write_json(run / "metrics.json", metrics)
    write_json(run / "manifest.json", {
        "schema_version": 1, "status": "complete", "model": {"name": name, "path": None},
        "backend": {"name": "hf"}, "suite": "bench",
        "tasks": {"ifeval_offline": {"version": 4.0, "output_type": "generate_until",
                                     "n_samples": len(gen),
                                     "generation_kwargs": {"max_gen_toks": 256}},
                  "arc_easy_offline": {"version": 1.0, "output_type": "multiple_choice",
                                       "n_samples": len(mc)}},
    })
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-gen", type=int, default=541)
    ap.add_argument("--n-mc", type=int, default=459)
    ap.add_argument("--n-boot", type=int, default=10_000)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "compare_1000.json"))
    args = ap.parse_args()

    from evalsuite.drift import CompareSettings, compare, load_run

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        a = make_run(root, "base", args.n_gen, args.n_mc, seed=1, drift=0.0)
        b = make_run(root, "cand", args.n_gen, args.n_mc, seed=2, drift=0.1)
        mean_words = float(np.mean([len((r["response"] or "").split())
                                    for r in load_run(b).samples["ifeval_offline"]]))
        t0 = time.perf_counter()
        compare(a, [b], CompareSettings(n_boot=args.n_boot, embeddings=False,
                                        embedding_cache=False))
        no_emb = time.perf_counter() - t0
        t0 = time.perf_counter()
        drift = compare(a, [b], CompareSettings(n_boot=args.n_boot, embedding_cache=False))
        with_emb = time.perf_counter() - t0
        from evalsuite.report import render_report

        t0 = time.perf_counter()
        render_report(drift, root / "report")
        render_s = time.perf_counter() - t0
        timings = {}
        # the comparison's own time (render=false), then the default with the report
        for emb, render in (("false", "false"), ("true", "false"), ("true", "true")):
            t0 = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "evalsuite.compare", f"baseline={a}", f"candidate={b}",
                 f"out={root / ('cmp' + emb + render)}", f"n_boot={args.n_boot}",
                 f"embeddings={emb}", "embedding_cache=false", f"render={render}"],
                capture_output=True, text=True, cwd=REPO, env={**os.environ})
            timings[emb + render] = time.perf_counter() - t0
            if proc.returncode != 0:
                sys.exit(proc.stderr[-2000:])
    [comp] = drift["comparisons"].values()
    n_rows = sum(len(t["metrics"]) for t in comp["tasks"].values())
    result = {
        "samples_per_run": args.n_gen + args.n_mc, "n_boot": args.n_boot,
        "metric_rows": n_rows, "category_rows": len(comp["categories"]),
        "instruction_id_rows": len(comp["instruction_ids"]),
        "mean_response_words_candidate": round(mean_words, 1),
        "in_process_no_embeddings_s": round(no_emb, 3),
        "in_process_with_embeddings_s": round(with_emb, 3),
        "cli_no_embeddings_s": round(timings["falsefalse"], 3),
        "cli_with_embeddings_s": round(timings["truefalse"], 3),
        "render_report_in_process_s": round(render_s, 3),
        "cli_with_embeddings_and_report_s": round(timings["truetrue"], 3),
        "targets_s": {"no_embeddings": 5.0, "with_embeddings": 60.0},
        "cpu_count": os.cpu_count(),
    }
    print("| measure | value |\n|---|---|")
    for k, v in result.items():
        print(f"| {k} | {v} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
