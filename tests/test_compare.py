"""`python -m evalsuite.compare` on real runs of SmolLM2: a negative control (two runs of
the same checkpoint and settings), a synthetic positive control (a candidate derived
from a real run with known changes), refusals, and the pandas API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evalsuite.drift import compare, load_run, metrics_frame, samples_frame
from tests.conftest import run_cli

N = 8


def _eval(tmp: Path, name: str) -> Path:
    run_dir = tmp / name
    proc = run_cli("+model=smollm2_135m", "suite=quick", f"limit={N}", "max_gen_toks=32",
                   "backend.batch_size=8", f"hydra.run.dir={run_dir}", cwd=tmp)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return run_dir


@pytest.fixture(scope="module")
def twins(tmp_path_factory, smollm2_dir) -> tuple[Path, Path]:
    """Two independent runs of the same checkpoint with the same settings."""
    tmp = tmp_path_factory.mktemp("twins")
    return _eval(tmp, "a"), _eval(tmp, "b")


def compare_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evalsuite.compare", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HYDRA_FULL_ERROR": "0"})


def _rewrite(run_dir: Path, task: str, edit) -> None:
    path = run_dir / "samples" / f"{task}.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines() if x]
    for i, r in enumerate(rows):
        edit(i, r)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_negative_control_two_runs_of_the_same_model_show_no_change(twins, tmp_path):
    a, b = twins
    proc = compare_cli(f"baseline={a}", f"candidate={b}", f"out={tmp_path / 'cmp'}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    drift = json.loads((tmp_path / "cmp" / "drift.json").read_text())
    assert drift["baseline"]["path"] == str(a)
    [comp] = drift["comparisons"].values()
    tasks = comp["tasks"]
    assert set(tasks) == {"ifeval_offline", "arc_easy_offline"}
    for task in tasks.values():
        for r in task["metrics"].values():
            assert not r["significant"] and r["p_value"] > 0.05
            assert r["ci_low"] <= r["delta"] <= r["ci_high"]
            assert set(r["flips"]) >= {"lost", "gained"}
    length = comp["distribution"]["ifeval_offline"]["length"]
    assert length["ks_p_value"] > 0.05
    assert drift["settings"]["length_unit"].startswith("tokens")
    assert "drift:" in proc.stdout and "report:" in proc.stdout


def test_scores_in_drift_json_equal_the_stored_metrics(twins):
    a, b = twins
    drift = compare(a, [b])
    [comp] = drift["comparisons"].values()
    stored = json.loads((a / "metrics.json").read_text())
    for task, t in comp["tasks"].items():
        for metric, r in t["metrics"].items():
            assert r["baseline"] == pytest.approx(stored[task][metric])
            assert r["matches_stored"]


@pytest.fixture
def derived(twins, tmp_path) -> tuple[Path, Path, dict]:
    """A candidate made from run a with known changes: the first 3 IFEval responses get a
    Q-A template and every instruction of prompts 0-1 flips to failed; ARC questions
    0-1 flip to wrong."""
    a, _ = twins
    cand = tmp_path / "cand"
    shutil.copytree(a, cand)
    before = {r["sample_id"]: r for r in load_run(a).samples["ifeval_offline"]}

    def ifeval(i, r):
        if i < 3:
            r["response"] = f"Answer: {r['response']}\nQuestion: and then?\nAnswer: yes"
        if i < 2:
            r["scores"]["prompt_level_strict_acc"] = False
            r["scores"]["inst_level_strict_acc"] = [False] * len(r["instructions"])
            for inst in r["instructions"]:
                inst["strict"] = False

    def arc(i, r):
        if i < 2:
            r["scores"]["acc"] = 0.0

    _rewrite(cand, "ifeval_offline", ifeval)
    _rewrite(cand, "arc_easy_offline", arc)
    return a, cand, before


def test_positive_control_changes_are_measured_exactly(derived):
    a, cand, before = derived
    drift = compare(a, [cand])
    [comp] = drift["comparisons"].values()
    ife = comp["tasks"]["ifeval_offline"]["metrics"]
    lost_prompts = sum(bool(before[i]["scores"]["prompt_level_strict_acc"]) for i in (0, 1))
    assert ife["prompt_level_strict_acc"]["flips"]["lost"] == lost_prompts
    assert ife["prompt_level_strict_acc"]["flips"]["gained"] == 0
    assert ife["prompt_level_strict_acc"]["delta"] == pytest.approx(-lost_prompts / N)
    lost_inst = sum(sum(map(bool, before[i]["scores"]["inst_level_strict_acc"])) for i in (0, 1))
    assert ife["inst_level_strict_acc"]["flips"]["lost"] == lost_inst
    arc_rows = load_run(a).samples["arc_easy_offline"]
    lost_arc = sum(r["scores"]["acc"] == 1.0 for r in arc_rows[:2])
    acc = comp["tasks"]["arc_easy_offline"]["metrics"]["acc"]
    assert acc["flips"]["lost"] == lost_arc
    assert "forgetting_chance_adjusted" in acc
    patterns = {p["pattern"]: p for p in comp["distribution"]["ifeval_offline"]["patterns"]}
    assert patterns["qa_turns"]["candidate"] - patterns["qa_turns"]["baseline"] == (
        pytest.approx(3 / N))
    assert patterns["starts_with_answer"]["flips"]["gained"] == 3 - sum(
        r["response"].lstrip().startswith(("Answer:", "A:")) for r in list(before.values())[:3])
    cats = [c for c in comp["categories"] if c["level"] == "strict"]
    assert sum(c["flips"]["lost"] for c in cats) == lost_inst
    ids = [c for c in comp["instruction_ids"] if c["level"] == "strict"]
    assert sum(c["n_units"] for c in ids) == sum(len(r["instructions"]) for r in before.values())


def test_different_task_versions_are_refused(twins, tmp_path):
    a, b = twins
    cand = tmp_path / "v"
    shutil.copytree(b, cand)
    m = json.loads((cand / "manifest.json").read_text())
    m["tasks"]["arc_easy_offline"]["version"] = 9.9
    (cand / "manifest.json").write_text(json.dumps(m))
    proc = compare_cli(f"baseline={a}", f"candidate={cand}", f"out={tmp_path / 'o'}",
                       cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "version" in lines[0] and "arc_easy_offline" in lines[0]
    assert not (tmp_path / "o" / "drift.json").exists()


def test_a_different_document_under_the_same_id_is_refused(twins, tmp_path):
    a, b = twins
    cand = tmp_path / "d"
    shutil.copytree(b, cand)

    def edit(i, r):
        if i == 1:
            r["doc_hash"] = "0" * 64

    _rewrite(cand, "ifeval_offline", edit)
    proc = compare_cli(f"baseline={a}", f"candidate={cand}", f"out={tmp_path / 'o'}",
                       cwd=tmp_path)
    assert proc.returncode == 2 and "different document" in proc.stderr


def test_different_generation_settings_warn_loudly(twins, tmp_path):
    a, b = twins
    cand = tmp_path / "g"
    shutil.copytree(b, cand)
    m = json.loads((cand / "manifest.json").read_text())
    m["tasks"]["ifeval_offline"]["generation_kwargs"]["max_gen_toks"] = 999
    (cand / "manifest.json").write_text(json.dumps(m))
    drift = compare(a, [cand])
    [comp] = drift["comparisons"].values()
    assert any("generation settings differ" in w for w in comp["warnings"])


@pytest.mark.parametrize("args,needle", [
    (["baseline=/nonexistent/run"], "name both runs"),
    (["baseline=/nonexistent/run", "candidate=/nonexistent/other"], "not a run directory"),
    (["baseline=X", "candidate=Y", "level=2.0"], "level must be"),
    (["baseline=X", "candidate=Y", "patterns={bad: '('}"], "invalid regex"),
])
def test_bad_compare_input_is_one_line(tmp_path, args, needle):
    proc = compare_cli(*args, f"out={tmp_path / 'o'}", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("evalsuite: ") and needle in lines[0]
    assert not (tmp_path / "o").exists()  # no directory that looks like a comparison


def test_runs_load_as_dataframes(twins):
    a, _ = twins
    run = load_run(a)
    df = samples_frame(run)
    assert len(df) == 2 * N
    assert set(df["task"]) == {"ifeval_offline", "arc_easy_offline"}
    assert {"sample_id", "prompt", "response", "score.acc", "score.prompt_level_strict_acc"} <= set(
        df.columns)
    mf = metrics_frame(run)
    stored = json.loads((a / "metrics.json").read_text())
    assert len(mf) == sum(len(v) for v in stored.values())
    row = mf[(mf.task == "arc_easy_offline") & (mf.metric == "acc")].iloc[0]
    assert row["value"] == stored["arc_easy_offline"]["acc"]


def test_negative_control_embedding_classifier_cannot_tell_the_runs_apart(twins):
    a, b = twins
    [comp] = compare(a, [b])["comparisons"].values()
    emb = comp["distribution"]["ifeval_offline"]["embeddings"]
    assert abs(emb["classifier_two_sample"]["auc"] - 0.5) < 0.15
    assert emb["frechet_distance"] < 0.05


def test_sentence_embeddings_are_unit_vectors_that_know_meaning(cache):
    from evalsuite.drift.embeddings import SentenceEmbedder

    emb = SentenceEmbedder().embed(["A cat sleeps on the sofa.", "A kitten naps on the couch.",
                                    "Stock markets fell sharply on Monday.",
                                    "A cat sleeps on the sofa."])
    assert emb.shape == (4, 384)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert np.allclose(emb[0], emb[3], atol=1e-5)
    assert emb[0] @ emb[1] > emb[0] @ emb[2] + 0.3


def test_embedder_encodes_each_distinct_answer_once_and_bf16_agrees_with_fp32(cache):
    from evalsuite.drift.embeddings import SentenceEmbedder

    texts = ["A cat sleeps on the sofa.", "Stock markets fell sharply on Monday. " * 40, "",
             "A cat sleeps on the sofa."]
    fp32 = SentenceEmbedder(precision="fp32")
    a = fp32.embed(texts)
    assert fp32.encoded == 3  # the repeated answer is encoded once
    b = fp32.embed(texts[::-1])
    assert fp32.encoded == 3 and np.array_equal(b, a[::-1])
    # the memo changes nothing: a fresh encode in other batches gives the same vectors
    assert np.allclose(fp32.encode(texts), a, atol=1e-5)
    bf16 = SentenceEmbedder(precision="bf16")  # emulated where the CPU lacks it: slow, same
    assert np.min(np.sum(bf16.embed(texts) * a, axis=1)) > 0.999
    # its Linear weights are rounded to bf16 once, not by autocast in every batch: the
    # same vectors to the bit (so the cache's files stay valid)
    fp32.precision = "bf16"
    assert np.array_equal(bf16.encode(texts), fp32.encode(texts))


def test_a_second_comparison_reads_its_embeddings_from_the_cache(twins, tmp_path, monkeypatch):
    from evalsuite.drift import CompareSettings
    from evalsuite.drift.embedcache import EmbeddingCache

    a, b = twins
    seen: list[EmbeddingCache] = []
    original = EmbeddingCache.__init__

    def spy(self, root):  # a fresh cache folder, and a hold on each comparison's cache
        original(self, tmp_path)
        seen.append(self)

    monkeypatch.setattr(EmbeddingCache, "__init__", spy)
    settings = CompareSettings(n_boot=200)
    first = compare(a, [b], settings)
    second = compare(a, [b], settings)
    files = list((tmp_path / "embeddings").rglob("*.npy"))
    # twins answer alike: the candidate's list may be the baseline's file already
    assert seen[0].hits + seen[0].misses == 2 and seen[0].misses == len(files) >= 1
    assert seen[1].hits == 2 and seen[1].misses == 0
    emb = [next(iter(d["comparisons"].values()))["distribution"]["ifeval_offline"]["embeddings"]
           for d in (first, second)]
    assert emb[0] == emb[1]
    assert first["settings"]["embeddings_precision"] in ("fp32", "bf16")
    assert first["settings"]["embeddings_precision"] in emb[0]["model"]
