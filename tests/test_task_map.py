"""format= and task_map= of compare (issue 16): a run's format named instead of detected,
and a task stored under two names paired on purpose, never by accident."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.stored_runs import IF_TASK, MC_TASK, write_run

FAST = ("n_boot=200", "embeddings=false", "render=false", "explorer=false")


def _rename(run: Path, old: str, new: str, version: float, *, drop: str | None = None) -> None:
    """The same documents stored under another task name and version (lm-eval's stock
    `ifeval` against evalsuite's `ifeval_offline`, say)."""
    manifest = json.loads((run / "manifest.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    manifest["tasks"][new] = {**manifest["tasks"].pop(old), "version": version}
    metrics[new] = metrics.pop(old)
    (run / "samples" / f"{old}.jsonl").rename(run / "samples" / f"{new}.jsonl")
    if drop:
        del manifest["tasks"][drop], metrics[drop]
        (run / "samples" / f"{drop}.jsonl").unlink()
    (run / "manifest.json").write_text(json.dumps(manifest))
    (run / "metrics.json").write_text(json.dumps(metrics))


@pytest.fixture
def runs(tmp_path) -> tuple[Path, Path]:
    base = write_run(tmp_path / "base", "base", seed=1, if_pass=0.8, mc_pass=0.5)
    cand = write_run(tmp_path / "cand", "tuned", seed=2, if_pass=0.5, mc_pass=0.6)
    _rename(cand, IF_TASK, "ifeval", 4.0)
    return base, cand


def _compare(base: Path, cand: Path, tmp: Path, *args: str):
    return run_cli(f"baseline={base}", f"candidate={cand}", f"out={tmp / 'out'}", *FAST,
                   *args, module="evalsuite.compare", cwd=tmp)


def test_a_renamed_task_is_not_paired_by_accident_and_the_report_says_how(runs, tmp_path):
    r = _compare(*runs, tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    drift = json.loads((tmp_path / "out" / "drift.json").read_text())
    (comp,) = drift["comparisons"].values()
    assert set(comp["tasks"]) == {MC_TASK}  # only the task both hold under one name
    assert any(f"task_map={{{IF_TASK}:ifeval}} pairs them" in w for w in comp["warnings"])


def test_task_map_pairs_them_on_purpose_across_versions(runs, tmp_path):
    r = _compare(*runs, tmp_path, f"task_map={{{IF_TASK}:ifeval}}")
    assert r.returncode == 0, r.stderr[-2000:]
    drift = json.loads((tmp_path / "out" / "drift.json").read_text())
    (comp,) = drift["comparisons"].values()
    assert set(comp["tasks"]) == {"ifeval", MC_TASK}
    row = comp["tasks"]["ifeval"]["metrics"]["inst_level_strict_acc"]
    assert row["n"] == 60 and row["matches_stored"]
    assert any(f"paired by task_map with {IF_TASK} (baseline)" in w and "4.0" in w
               for w in comp["warnings"])


def test_only_documents_that_agree_pair_under_task_map(runs, tmp_path):
    base, cand = runs
    f = cand / "samples" / "ifeval.jsonl"
    rows = [json.loads(x) for x in f.read_text().splitlines()]
    rows[3]["doc_hash"] = "0" * 64
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = _compare(base, cand, tmp_path, f"task_map={{{IF_TASK}:ifeval}}")
    assert r.returncode == 2 and "sample 3 has a different document" in r.stderr
    assert not (tmp_path / "out").exists()


def test_no_common_task_names_the_task_map_that_would_pair_them(tmp_path):
    base = write_run(tmp_path / "base", "base", seed=1, if_pass=0.8, mc_pass=0.5)
    cand = write_run(tmp_path / "cand", "tuned", seed=2, if_pass=0.5, mc_pass=0.6)
    _rename(cand, IF_TASK, "ifeval", 4.0, drop=MC_TASK)
    r = _compare(base, cand, tmp_path)
    assert r.returncode == 2 and f"pair them on purpose with task_map={{{IF_TASK}:ifeval}}" \
        in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(("args", "needle"), [
    (("task_map={ifevl:x}",), "task_map names ifevl, which no compared run holds"),
    ((f"task_map={{{IF_TASK}:{MC_TASK}}}",), "holds both"),
    (("task_map=ifeval",), "task_map maps a task"),
    (("format=lm-eval",), "is not an lm-eval output directory (results_*.json), as format="),
    (("format=inspekt",), "unknown format 'inspekt'"),
    (("format={basline:evalsuite}",), "not basline"),
])
def test_bad_format_and_task_map_are_one_line(runs, tmp_path, args, needle):
    r = _compare(*runs, tmp_path, *args)
    assert r.returncode == 2 and needle in r.stderr, r.stderr[-2000:]
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_format_named_per_side_reads_the_run(runs, tmp_path):
    r = _compare(*runs, tmp_path, "format={baseline:evalsuite}")
    assert r.returncode == 0, r.stderr[-2000:]


def test_task_map_needs_document_hashes_to_pair(runs, tmp_path):
    base, cand = runs
    f = cand / "samples" / "ifeval.jsonl"
    rows = [json.loads(x) for x in f.read_text().splitlines()]
    for r in rows:
        r.pop("doc_hash")
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = _compare(base, cand, tmp_path, f"task_map={{{IF_TASK}:ifeval}}")
    assert r.returncode == 2 and "has no document hash in one run" in r.stderr, r.stderr
