"""The real thing: SmolLM2-135M-Instruct through transformers and lm-eval's IFEval."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.conftest import read_rows, run_cli

IFEVAL_METRICS = {"prompt_level_strict_acc", "inst_level_strict_acc",
                  "prompt_level_loose_acc", "inst_level_loose_acc"}
N = 4


@pytest.fixture(scope="module")
def run(tmp_path_factory, smollm2_dir) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("e2e")
    run_dir = tmp / "run"
    # From another working directory: conf/ and tasks/ must not depend on the cwd.
    proc = run_cli("+model=smollm2_135m", "suite=quick", f"limit={N}", "max_gen_toks=48",
                   "backend.batch_size=4", f"hydra.run.dir={run_dir}", cwd=tmp)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return run_dir, proc.stdout


def test_run_directory_matches_the_contract(run):
    run_dir, _ = run
    assert {p.name for p in run_dir.iterdir()} >= {"manifest.json", "metrics.json", "samples"}
    m = json.loads((run_dir / "manifest.json").read_text())
    for key in ("schema_version", "status", "model", "backend", "suite", "tasks", "config",
                "versions", "seeds", "started_at", "ended_at"):
        assert key in m, key
    assert m["status"] == "complete"
    assert m["suite"] == "quick"
    assert m["model"]["name"] == "smollm2_135m"
    assert m["tasks"]["ifeval_offline"]["version"] == 4.0
    assert m["tasks"]["ifeval_offline"]["n_samples"] == N
    assert m["config"]["model"]["name"] == "smollm2_135m"
    assert m["versions"]["lm_eval"] and m["versions"]["torch"]
    assert m["seeds"]["random"] == m["config"]["seed"]
    gen = m["tasks"]["ifeval_offline"]["generation_kwargs"]
    assert gen["do_sample"] is False and gen["max_gen_toks"] == 48


def test_fingerprint_is_the_hash_of_the_weights(run, smollm2_dir):
    run_dir, _ = run
    m = json.loads((run_dir / "manifest.json").read_text())
    assert Path(m["model"]["path"]) == smollm2_dir
    h = hashlib.sha256()
    for p in sorted(smollm2_dir.glob("*.safetensors")):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    assert m["model"]["fingerprint"] == f"sha256:{h.hexdigest()}"


def test_samples_hold_prompt_response_and_scores(run):
    run_dir, _ = run
    rows = read_rows(run_dir)
    assert [r["sample_id"] for r in rows] == list(range(N))
    for r in rows:
        assert r["doc"]["prompt"] in r["prompt"]
        assert r["prompt"].rstrip().endswith("<|im_start|>assistant")  # chat template applied
        assert isinstance(r["response"], str) and r["response"].strip()
        assert set(r["scores"]) == IFEVAL_METRICS
        assert len(r["scores"]["inst_level_strict_acc"]) == len(r["doc"]["instruction_id_list"])


def test_metrics_equal_the_aggregate_of_the_samples(run):
    run_dir, _ = run
    metrics = json.loads((run_dir / "metrics.json").read_text())["ifeval_offline"]
    assert set(metrics) == IFEVAL_METRICS
    rows = read_rows(run_dir)
    for level in ("strict", "loose"):
        prompt = [float(r["scores"][f"prompt_level_{level}_acc"]) for r in rows]
        inst = [float(v) for r in rows for v in r["scores"][f"inst_level_{level}_acc"]]
        assert metrics[f"prompt_level_{level}_acc"] == pytest.approx(sum(prompt) / len(prompt))
        assert metrics[f"inst_level_{level}_acc"] == pytest.approx(sum(inst) / len(inst))


def test_results_table_is_printed(run):
    _, stdout = run
    assert "prompt_level_strict_acc" in stdout
    assert "run directory:" in stdout


def test_ifeval_instruction_results_and_categories_add_up(run):
    run_dir, _ = run
    rows = read_rows(run_dir)
    m = json.loads((run_dir / "manifest.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())["ifeval_offline"]
    cats = m["tasks"]["ifeval_offline"]["instruction_categories"]
    for r in rows:  # one entry per instruction, in lm-eval's order, with its verdicts
        assert [i["id"] for i in r["instructions"]] == r["doc"]["instruction_id_list"]
        assert [i["strict"] for i in r["instructions"]] == r["scores"]["inst_level_strict_acc"]
        assert [i["loose"] for i in r["instructions"]] == r["scores"]["inst_level_loose_acc"]
    n = sum(len(r["doc"]["instruction_id_list"]) for r in rows)
    assert sum(c["n"] for c in cats.values()) == n
    for level in ("strict", "loose"):
        key = f"inst_level_{level}_acc"
        assert sum(c["n"] * c[key] for c in cats.values()) / n == pytest.approx(metrics[key])


def test_quick_suite_scores_a_benchmark_without_the_chat_template(run):
    run_dir, _ = run
    m = json.loads((run_dir / "manifest.json").read_text())
    assert m["tasks"]["arc_easy_offline"]["chat_template"] is False
    assert m["tasks"]["ifeval_offline"]["chat_template"] is True
    rows = read_rows(run_dir, "arc_easy_offline")
    assert len(rows) == N
    for r in rows:  # the stock arc_easy prompt, exactly
        assert r["prompt"] == f"Question: {r['doc']['question']}\nAnswer:"
        assert len(r["loglikelihoods"]) == len(r["doc"]["choices"]["text"])
