"""The runner's plumbing with a fake model: real lm-eval task code, no weights.

These run in seconds; the real model runs in test_e2e.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from lm_eval.api.model import LM

import evalsuite.run.runner as runner
from evalsuite.config import from_hydra
from evalsuite.resources import CONF_DIR
from tests.conftest import read_rows


class EchoLM(LM):
    """Answers every prompt with a fixed text; can be told to die mid-run."""

    def __init__(self, answer: str, fail: BaseException | None = None) -> None:
        super().__init__()
        self.answer, self.fail, self.calls = answer, fail, 0

    def generate_until(self, requests, disable_tqdm: bool = False):
        self.calls += len(requests)
        if self.fail is not None:
            raise self.fail
        return [self.answer for _ in requests]

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        raise AssertionError("these tests only send generation requests")

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        raise AssertionError("these tests only send generation requests")


@pytest.fixture
def fake_checkpoint(tmp_path: Path) -> Path:
    d = tmp_path / "ckpt"
    d.mkdir()
    (d / "config.json").write_text("{}")
    (d / "pytorch_model.bin").write_bytes(b"not really weights")  # hashed, never loaded
    return d


def _cfg(run_dir: Path, ckpt: Path, *extra: str):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", ["+model=smollm2_135m", f"model.path={ckpt}",
                                 "model.chat_template=false", "limit=5", "tasks=[ifeval_offline]",
                                 *extra])
    return from_hydra(cfg, run_dir)


def test_complete_run_with_lm_eval_scoring(tmp_path, fake_checkpoint, monkeypatch):
    lm = EchoLM("hello world")
    monkeypatch.setattr(runner, "build_lm", lambda *a: lm)
    run_dir = tmp_path / "run"
    result = runner.evaluate(_cfg(run_dir, fake_checkpoint))
    assert lm.calls == 5
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["model"]["fingerprint"].startswith("sha256:")
    rows = read_rows(run_dir)
    assert [r["response"] for r in rows] == ["hello world"] * 5
    # No chat template: the prompt is the IFEval prompt itself.
    assert all(r["prompt"] == r["doc"]["prompt"] for r in rows)
    strict = [r["scores"]["prompt_level_strict_acc"] for r in rows]
    assert result.metrics["ifeval_offline"]["prompt_level_strict_acc"] == sum(strict) / 5


@pytest.mark.parametrize("error", [RuntimeError("engine died"), KeyboardInterrupt()])
def test_a_crash_leaves_a_partial_run_that_claims_nothing(tmp_path, fake_checkpoint,
                                                          monkeypatch, error):
    monkeypatch.setattr(runner, "build_lm", lambda *a: EchoLM("x", fail=error))
    run_dir = tmp_path / "run"
    with pytest.raises(type(error)):
        runner.evaluate(_cfg(run_dir, fake_checkpoint))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "partial"
    assert manifest["error"].startswith(type(error).__name__)
    assert json.loads((run_dir / "metrics.json").read_text()) == {}
    assert list((run_dir / "samples").iterdir()) == []


def test_a_full_disk_is_one_line_and_leaves_no_half_written_samples(tmp_path, fake_checkpoint,
                                                                    monkeypatch):
    import errno

    import evalsuite.run.rundir as rundir
    from evalsuite.errors import UserError

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runner, "build_lm", lambda *a: EchoLM("x"))
    monkeypatch.setattr(rundir, "write_jsonl", full)
    run_dir = tmp_path / "run"
    with pytest.raises(UserError, match="no space left on the device") as info:
        runner.evaluate(_cfg(run_dir, fake_checkpoint))
    assert "\n" not in info.value.message and "run the same command again" in info.value.message
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "partial"
    assert list((run_dir / "samples").iterdir()) == []


def test_rerunning_a_finished_run_answers_every_request_from_the_store(
        tmp_path, fake_checkpoint, monkeypatch):
    cached = ("request_cache=true", f"request_cache_dir={tmp_path / 'store'}")
    first = EchoLM("hello world")
    monkeypatch.setattr(runner, "build_lm", lambda *a: first)
    runner.evaluate(_cfg(tmp_path / "a", fake_checkpoint, *cached))
    assert first.calls == 5
    second = EchoLM("a different answer")
    monkeypatch.setattr(runner, "build_lm", lambda *a: second)
    runner.evaluate(_cfg(tmp_path / "b", fake_checkpoint, *cached))
    assert second.calls == 0  # the model was never asked
    assert read_rows(tmp_path / "b") == read_rows(tmp_path / "a")
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["tasks"]["ifeval_offline"]["requests"] == {"requests": 5, "cached": 5}
    third = EchoLM("uncached")
    monkeypatch.setattr(runner, "build_lm", lambda *a: third)
    runner.evaluate(_cfg(tmp_path / "c", fake_checkpoint, cached[1], "request_cache=false"))
    assert third.calls == 5


def test_a_tag_without_a_group_score_is_refused():
    from evalsuite.errors import UserError
    from evalsuite.ingest.lm_eval_records import collect

    out = {"samples": {"arc_easy_offline": [], "arc_challenge_offline": []},
           "results": {"arc_easy_offline": {"acc,none": 0.5},
                       "arc_challenge_offline": {"acc,none": 0.3}},
           "configs": {}}
    with pytest.raises(UserError, match="without a group score"):
        collect(out, "ai2_arc_offline")
