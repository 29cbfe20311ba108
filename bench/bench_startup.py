"""Start-up of `python -m evalsuite backend=vllm`: where the seconds before the first
request go, with the engine in evalsuite's process and in vLLM's engine process.

    python bench/bench_startup.py                  # 3 repeats of each mode, 4 prompts
    python bench/bench_startup.py --repeats 1

Each run is a whole process, as a user starts it (`request_cache=false`, 4 IFEval prompts
x 16 new tokens, so generation is a small part). Every line the process writes is
timestamped as it arrives; phases end at lines evalsuite itself logs:

- ``resolved config``: interpreter, Hydra and the config (evalsuite's imports included)
- ``starting vLLM``: evalsuite's set-up (task index, data, checkpoint) and vLLM's import
- ``vLLM engine ready``: the engine (processes, weights, KV cache, warm-up)
- ``run directory:``: the tasks (generation and scoring) and the records written
- the process's exit: shutdown

Also timed alone: ``python -c "import vllm"``, the part of the second phase that is
vLLM's. Prints a table (median of the repeats) and writes JSON (default
bench/results/startup.json).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PHASES = [("hydra and config", "resolved config"),
          ("our set-up + vLLM import", "starting vLLM"),
          ("engine start", "vLLM engine ready"),
          ("tasks", "run directory:")]


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> dict[str, float]:
    """Seconds from launch to each phase's end marker (first line holding it), and exit."""
    t0 = time.perf_counter()
    marks: dict[str, float] = {}
    lines: list[str] = []
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    assert proc.stdout is not None
    for line in proc.stdout:
        now = time.perf_counter() - t0
        lines.append(line)
        for _, marker in PHASES:
            if marker in line and marker not in marks:
                marks[marker] = now
    rc = proc.wait()
    marks["exit"] = time.perf_counter() - t0
    missing = [m for _, m in PHASES if m not in marks]
    if rc != 0 or missing:
        tail = "".join(lines[-20:])
        sys.exit(f"bench: {' '.join(cmd[2:])} failed (exit {rc}, missing {missing}):\n{tail}")
    return marks


def _phases(marks: dict[str, float]) -> dict[str, float]:
    out, prev = {}, 0.0
    for name, marker in [*PHASES, ("shutdown", "exit")]:
        out[name] = marks[marker] - prev
        prev = marks[marker]
    out["ready for the first request"] = marks["vLLM engine ready"]
    out["whole process"] = marks["exit"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--limit", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "startup.json")
    args = ap.parse_args()
    if args.repeats < 1 or args.limit < 1 or args.max_tokens < 1:
        sys.exit("bench: --repeats, --limit and --max-tokens must be at least 1")

    work = Path(tempfile.mkdtemp(prefix="evalsuite-bench-"))
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(os.cpu_count()))}
    modes = {"in process (CPU default)": "true", "engine process (vLLM default)": "false"}
    runs: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    imports: list[float] = []
    try:
        # the first run of all warms the page cache and converts nothing new (cache primed)
        for i in range(args.repeats):
            for mode, flag in modes.items():  # interleaved, so drift on the machine is shared
                run_dir = work / f"run_{flag}_{i}"
                marks = _run([sys.executable, "-m", "evalsuite", "+model=smollm2_135m",
                              "backend=vllm", f"backend.in_process={flag}",
                              "tasks=[ifeval_offline]", f"limit={args.limit}",
                              f"max_gen_toks={args.max_tokens}", "request_cache=false",
                              f"hydra.run.dir={run_dir}"], work, env)
                runs[mode].append(_phases(marks))
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import vllm"], check=True, env=env,
                           capture_output=True)
            imports.append(time.perf_counter() - t)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    table = {mode: {k: statistics.median(r[k] for r in rs) for k in rs[0]}
             for mode, rs in runs.items()}
    report = {"prompts": args.limit, "max_new_tokens": args.max_tokens,
              "repeats": args.repeats, "cpu_count": os.cpu_count(),
              "import_vllm_alone_s": statistics.median(imports),
              "median_s": table, "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")

    names = list(next(iter(table.values())))
    print(f"backend=vllm start-up, {args.limit} IFEval prompts x {args.max_tokens} tokens, "
          f"median of {args.repeats}, {os.cpu_count()} CPUs (seconds)")
    print(f"{'phase':30}" + "".join(f"{m:>32}" for m in table))
    for k in names:
        print(f"{k:30}" + "".join(f"{table[m][k]:32.1f}" for m in table))
    print(f"`python -c 'import vllm'` alone: {report['import_vllm_alone_s']:.1f} s")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
