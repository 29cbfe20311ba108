"""MT-Bench and pairwise judging through the command lines.

The slow tests run the real SmolLM2-135M as the evaluated model and as the judge, on two
questions with short answers: that proves the plumbing (prompts, parsing, storage,
metrics), not the grades. The others check bad input: one line, non-zero exit, nothing
left behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evalsuite.judge import combine
from tests.conftest import REPO, read_rows, run_cli

# short answers and judgments keep the slow tests at seconds each on a 2-core CPU
SHORT = ("limit=2", "max_gen_toks=32", "judge.max_gen_toks=48")


def _one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("evalsuite:")]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def run_judge_cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """``python -m evalsuite.judge ARGS`` as a user runs it."""
    env = {**os.environ, "HYDRA_FULL_ERROR": "0",
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    return subprocess.run([sys.executable, "-m", "evalsuite.judge", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_mtbench_without_a_judge_names_the_fix(tmp_path: Path):
    proc = run_cli("+model=smollm2_135m", "suite=mtbench", f"hydra.run.dir={tmp_path / 'run'}")
    _one_line_error(proc, "task mtbench_offline is graded by a judge model",
                    "+judge=smollm2_135m")
    assert proc.returncode == 2
    assert not (tmp_path / "run").exists()


def test_unknown_judge_name(tmp_path: Path):
    proc = run_cli("+model=smollm2_135m", "suite=mtbench", "+judge=gpt_nine",
                   f"hydra.run.dir={tmp_path / 'run'}")
    _one_line_error(proc, "unknown judge 'gpt_nine'", "smollm2_135m")
    assert not (tmp_path / "run").exists()


def test_pairwise_without_a_judge_names_the_fix(tmp_path: Path):
    proc = run_judge_cli(f"baseline={tmp_path}", f"candidate={tmp_path}",
                         f"out={tmp_path / 'out'}")
    _one_line_error(proc, "pairwise comparison is graded by a judge model", "+judge=")
    assert not (tmp_path / "out").exists()


def test_pairwise_with_a_missing_run_writes_nothing(tmp_path: Path):
    proc = run_judge_cli(f"baseline={tmp_path / 'nowhere'}", f"candidate={tmp_path}",
                         "+judge=smollm2_135m", f"out={tmp_path / 'out'}")
    _one_line_error(proc, "is not a run directory")
    assert not (tmp_path / "out").exists()


# ----- the real model, answering and judging


@pytest.fixture(scope="module")
def mtbench_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two MT-Bench questions answered and judged by SmolLM2-135M, through the CLI."""
    run_dir = tmp_path_factory.mktemp("mtbench") / "run"
    proc = run_cli("+model=smollm2_135m", "suite=mtbench", "+judge=smollm2_135m", *SHORT,
                   f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "mtbench_offline" in proc.stdout
    return run_dir


@pytest.mark.slow
def test_mtbench_end_to_end_with_a_real_judge(mtbench_run: Path):
    manifest = json.loads((mtbench_run / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    info = manifest["tasks"]["mtbench_offline"]
    judge = info["judge"]
    # the judge's identity: here the evaluated model itself, on the same backend
    assert judge["model"] == "smollm2_135m" and judge["backend"]["name"] == "hf"
    assert judge["fingerprint"] == manifest["model"]["fingerprint"]
    assert judge["max_gen_toks"] == 48 and info["generation_kwargs"]["max_gen_toks"] == 32
    rows = read_rows(mtbench_run, "mtbench_offline")
    assert [r["sample_id"] for r in rows] == ["81/turn1", "81/turn2", "82/turn1", "82/turn2"]
    for t1, t2 in zip(rows[::2], rows[1::2], strict=True):
        assert t1["response"].strip() and t2["response"].strip()
        # turn 2's prompt is the whole chat: question 1, the model's own answer, question 2
        assert "<|im_start|>user" in t2["prompt"]
        assert t1["response"].strip() in t2["prompt"]
        assert t2["prompt"].index(t1["question"]) < t2["prompt"].index(t2["question"])
    ratings = [r["judge"]["rating"] for r in rows]
    for r in rows:
        assert r["judge"]["output"].strip()
        assert r["judge"]["prompt"] == ("single-v1" if r["turn"] == 1 else "single-v1-multi-turn")
        assert r["judge"]["rating"] is None or 1 <= r["judge"]["rating"] <= 10
        assert r["scores"]["score"] == r["judge"]["rating"]
    assert judge["n_unparsable"] == ratings.count(None) == len(judge["unparsable_sample_ids"])
    metrics = json.loads((mtbench_run / "metrics.json").read_text())["mtbench_offline"]
    parsed = [v for v in ratings if v is not None]
    assert metrics["score"] == (sum(parsed) / len(parsed) if parsed else None)
    turn1 = [v for v in ratings[::2] if v is not None]
    assert metrics["score_turn1"] == (sum(turn1) / len(turn1) if turn1 else None)
    assert info["categories"]["writing"]["n"] == 4


@pytest.mark.slow
def test_pairwise_judging_of_two_stored_runs_with_a_real_judge(mtbench_run: Path, tmp_path: Path):
    from hydra import compose, initialize_config_dir

    from evalsuite.config import from_hydra
    from evalsuite.resources import CONF_DIR
    from evalsuite.run.runner import evaluate

    # the candidate: the same model with shorter answers, run in this process
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", ["+model=smollm2_135m", "suite=mtbench", "+judge=smollm2_135m",
                                 "limit=1", "max_gen_toks=12", "judge.max_gen_toks=8"])
    cand = tmp_path / "cand"
    evaluate(from_hydra(cfg, cand))

    out = tmp_path / "pairwise"
    proc = run_judge_cli(f"baseline={mtbench_run}", f"candidate={cand}", "+judge=smollm2_135m",
                         "task=mtbench_offline", "limit=2", "judge.max_gen_toks=48",
                         f"out={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "pairwise.json").read_text())
    # written once, atomically: no temporary file left beside it
    assert not [p.name for p in out.iterdir() if p.name.startswith(".") and p.name != ".hydra"]
    manifest = json.loads((mtbench_run / "manifest.json").read_text())
    assert result["judge"]["fingerprint"] == manifest["model"]["fingerprint"]
    assert result["judge"]["model"] == "smollm2_135m"
    assert result["config"]["task"] == "mtbench_offline" and "lm_eval" in result["versions"]
    samples = result["samples"]["mtbench_offline"]
    # the first question's two turns: the multi-turn prompt shows both conversations
    assert [s["sample_id"] for s in samples] == ["81/turn1", "81/turn2"]
    assert [s["prompt"] for s in samples] == ["pair-v2", "pair-v2-multi-turn"]
    for s in samples:
        assert s["baseline_first"]["output"].strip() and s["candidate_first"]["output"].strip()
        assert s["outcome"] == combine(s["baseline_first"]["verdict"],
                                       s["candidate_first"]["verdict"])
    r = result["tasks"]["mtbench_offline"]
    assert r["n"] == 2 and r["wins"] + r["ties"] + r["losses"] + r["errors"] == 2
    if r["n_valid"]:
        assert r["win_rate"] == pytest.approx((r["wins"] + r["ties"] / 2) / r["n_valid"])
        assert r["ci_low"] <= r["win_rate"] <= r["ci_high"]
    assert "mtbench_offline" in proc.stdout and str(out / "pairwise.json") in proc.stdout
