"""backend=vllm (the CPU build) against backend=hf: same greedy text, same scores, same
log-likelihoods. One vLLM engine start and one transformers load for the module."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import (
    new_vllm_temp_dirs,
    read_rows,
    require_vllm,
    run_cli,
    vllm_processes,
)
from tests.tiny_tasks import QUESTIONS, write_tiny_tasks

require_vllm()

N_IFEVAL = 16
BENCH = ["arc_challenge_offline", "hellaswag_offline", "boolq_offline", "winogrande_offline"]
# the sampled probe set: 4 instructions answered 4 times each at temperature 1
PROBE = "alpaca_probe_sampled_offline"
TASKS = f"ifeval_offline,tiny_mc,tiny_rolling,{','.join(BENCH)}"


def _run(tmp: Path, backend: str, *extra: str, tasks: str = TASKS) -> Path:
    run_dir = tmp / backend
    proc = run_cli("+model=smollm2_135m", f"backend={backend}", f"tasks=[{tasks}]",
                   f"limit={N_IFEVAL}",
                   "max_gen_toks=64", f"task_paths=[{tmp / 'tiny'}]",
                   "model.chat_template=true", f"hydra.run.dir={run_dir}", *extra, cwd=tmp)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (tmp / f"{backend}.log").write_text(proc.stdout + proc.stderr)  # Hydra logs to stdout
    return run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory, smollm2_dir) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("vllm")
    write_tiny_tasks(tmp / "tiny")
    # the sampled probe only through vLLM (sampling does not compare across backends)
    return (_run(tmp, "hf", "backend.batch_size=8"),
            _run(tmp, "vllm", "store_logprobs=true", tasks=f"{TASKS},{PROBE}"))


def test_greedy_text_is_identical(runs):
    hf, vl = (read_rows(r, "ifeval_offline") for r in runs)
    assert len(hf) == len(vl) == N_IFEVAL
    assert [r["prompt"] for r in hf] == [r["prompt"] for r in vl]
    same = sum(a["response"] == b["response"] for a, b in zip(hf, vl, strict=True))
    assert same == N_IFEVAL


def test_ifeval_scores_match(runs):
    hf, vl = (json.loads((r / "metrics.json").read_text())["ifeval_offline"] for r in runs)
    assert hf == vl


def test_multiple_choice_loglikelihoods_match(runs):
    hf, vl = (read_rows(r, "tiny_mc") for r in runs)
    assert len(hf) == len(vl) == len(QUESTIONS)
    for a, b in zip(hf, vl, strict=True):
        assert a["loglikelihoods"] == pytest.approx(b["loglikelihoods"], abs=1e-3)
        assert a["scores"] == b["scores"]
    # the model knows the capital of France: a sanity check that scores mean something
    assert hf[0]["response"] == " Paris"
    hm, vm = (json.loads((r / "metrics.json").read_text())["tiny_mc"] for r in runs)
    assert hm == pytest.approx(vm)


@pytest.mark.parametrize("task", BENCH)
def test_offline_benchmarks_agree_between_hf_and_vllm(runs, task):
    hf, vl = (read_rows(r, task) for r in runs)
    assert len(hf) == len(vl) == N_IFEVAL
    for a, b in zip(hf, vl, strict=True):
        assert a["prompt"] == b["prompt"]
        assert a["loglikelihoods"] == pytest.approx(b["loglikelihoods"], abs=2e-3)
        top = sorted(a["loglikelihoods"], reverse=True)
        if top[0] - top[1] > 5e-3:  # a near-tie may break either way in float32
            assert a["scores"]["acc"] == b["scores"]["acc"]


def test_rolling_loglikelihood_matches(runs):
    hm, vm = (json.loads((r / "metrics.json").read_text())["tiny_rolling"] for r in runs)
    assert set(hm) == {"word_perplexity", "byte_perplexity", "bits_per_byte"}
    assert hm == pytest.approx(vm, rel=1e-3)


def test_response_logprobs_are_stored(runs):
    _, vl = runs
    for r in read_rows(vl, "ifeval_offline"):
        lps = r["response_logprobs"]
        assert lps and len(lps) <= 64
        assert all(lp <= 0.0 for lp in lps)
    manifest = json.loads((vl / "manifest.json").read_text())
    assert manifest["backend"]["name"] == "vllm"
    assert manifest["status"] == "complete"


def test_sampled_probe_repeats_differ_and_keep_their_own_logprobs(runs):
    _, vl = runs
    rows = read_rows(vl, PROBE)
    assert [(r["doc"]["prompt_id"], r["doc"]["repeat"]) for r in rows] == [
        (i, k) for i in range(4) for k in range(4)]
    assert json.loads((vl / "metrics.json").read_text())[PROBE] == {}  # nothing scored
    for i in range(4):
        answers = [r["response"] for r in rows[4 * i:4 * i + 4]]
        assert len({r["prompt"] for r in rows[4 * i:4 * i + 4]}) == 1
        assert len(set(answers)) > 1, answers  # each repeat its own seed
    for r in rows:
        assert r["response_logprobs"] and all(lp <= 0.0 for lp in r["response_logprobs"])
    # the engine's logprobs are the model's: transformers recomputes them, and the
    # Monte-Carlo KL of a run against itself is exactly 0
    from evalsuite.drift import CompareSettings, compare

    drift = compare(vl, [vl], CompareSettings(n_boot=100, embeddings=False,
                                              cross_likelihood=True))
    [comp] = drift["comparisons"].values()
    cross = comp["distribution"][PROBE]["cross_likelihood"]
    assert cross["stored_logprobs_max_abs_diff"] < 5e-3
    assert cross["kl_candidate_baseline"]["mean_sequence_logratio"] == 0.0
    assert cross["kl_candidate_baseline"]["n"] == len(rows)


def test_the_cpu_build_runs_the_engine_in_process(runs):
    # no engine or worker process to spawn: the start-up this default saves (bench_startup)
    log = (runs[1].parent / "vllm.log").read_text()
    assert "vLLM engine ready in" in log and "(in process)" in log, log[-2000:]


def test_engine_processes_and_temp_dirs_are_gone(runs):
    assert vllm_processes() == []
    assert new_vllm_temp_dirs() == []
