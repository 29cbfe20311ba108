"""The run directory stays consistent at every step, including a crash mid-run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalsuite.errors import UserError
from evalsuite.run.rundir import RunWriter, read_json
from evalsuite.schema import SCHEMA_VERSION, dump, read_samples


def _writer(d: Path) -> RunWriter:
    return RunWriter(d, {"model": {"name": "m", "fingerprint": None},
                        "backend": {"name": "hf"}, "suite": "s"})


def test_metrics_never_claim_more_than_samples(tmp_path: Path):
    w = _writer(tmp_path)
    assert read_json(tmp_path / "manifest.json")["status"] == "partial"
    assert read_json(tmp_path / "metrics.json") == {}
    w.add_task("a", [{"sample_id": 0, "scores": {"acc": 1}}], {"acc": 1.0},
               {"version": 1, "n_samples": 1})
    for task in read_json(tmp_path / "metrics.json"):
        assert (tmp_path / "samples" / f"{task}.jsonl").is_file()
    assert read_json(tmp_path / "manifest.json")["status"] == "partial"
    w.finish()
    m = read_json(tmp_path / "manifest.json")
    assert m["status"] == "complete" and m["ended_at"] and m["tasks"]["a"]["version"] == 1
    # each record is written through the typed model, with the schema version
    (rec,) = read_samples(tmp_path / "samples" / "a.jsonl")
    assert dump(rec) == {"schema_version": SCHEMA_VERSION, "sample_id": 0, "scores": {"acc": 1}}


def test_failure_is_recorded_as_partial(tmp_path: Path):
    w = _writer(tmp_path)
    w.add_task("a", [], {}, {"n_samples": 0})
    w.fail(RuntimeError("boom"))
    m = read_json(tmp_path / "manifest.json")
    assert m["status"] == "partial"
    assert m["error"] == "RuntimeError: boom"
    assert list(m["tasks"]) == ["a"]


def test_a_complete_run_is_never_overwritten(tmp_path: Path):
    _writer(tmp_path).finish()
    with pytest.raises(UserError, match="already holds a complete run"):
        _writer(tmp_path)


def test_a_partial_run_restarts_without_stale_metrics(tmp_path: Path):
    w = _writer(tmp_path)
    w.add_task("a", [], {"acc": 1.0}, {"n_samples": 0})
    w.close()  # the process ended (a crash releases the lock with it)
    _writer(tmp_path)
    assert json.loads((tmp_path / "metrics.json").read_text()) == {}


def test_one_writer_per_run_directory(tmp_path: Path):
    w = _writer(tmp_path)
    with pytest.raises(UserError, match="another evalsuite process is writing .*: wait for it"):
        _writer(tmp_path)
    w.add_task("a", [], {"acc": 1.0}, {"n_samples": 0})  # the first writer goes on
    w.close()
    assert not (tmp_path / ".evalsuite.lock").exists()  # nothing left that looks like a run
    _writer(tmp_path).close()  # and the same command may continue it


def test_a_second_process_is_refused_while_the_first_writes(tmp_path: Path):
    import subprocess
    import sys

    w = _writer(tmp_path)
    code = ("import sys; from pathlib import Path; from evalsuite.run.rundir import RunWriter\n"
            "try:\n    RunWriter(Path(sys.argv[1]), {})\n"
            "except Exception as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                         text=True, timeout=120).stdout
    assert "another evalsuite process is writing" in out
    w.close()


def test_no_temp_files_are_left(tmp_path: Path):
    w = _writer(tmp_path)
    w.add_task("a", [{"sample_id": 0, "x": 1}], {"acc": 1.0}, {"n_samples": 1})
    w.finish()
    leftovers = [p.name for p in tmp_path.rglob("*.tmp")]
    assert leftovers == []
