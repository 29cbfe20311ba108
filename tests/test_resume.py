"""Resume after SIGKILL with the real model: the same command run again continues where
the killed run stopped, no finished request is generated twice, and the metrics equal
those of an uninterrupted run; a finished run run again calls the model for nothing."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow
N = 12


def _args(store: Path, run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "evalsuite", "+model=smollm2_135m", "backend=hf",
            "tasks=[ifeval_offline]", f"limit={N}", "max_gen_toks=32",
            "backend.batch_size=4", "request_cache=true", "request_chunk_size=2",
            f"request_cache_dir={store}",
            f"hydra.run.dir={run_dir}"]


def _run(store: Path, run_dir: Path) -> dict:
    r = subprocess.run(_args(store, run_dir), cwd=REPO, capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads((run_dir / "manifest.json").read_text())


def _rows(store: Path) -> int:
    files = list(store.glob("*.sqlite"))
    if not files:
        return 0
    try:
        with sqlite3.connect(files[0], timeout=5) as db:
            return int(db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])
    except sqlite3.OperationalError:  # the table is not created yet
        return 0


def _responses(run_dir: Path) -> list[str]:
    rows = (run_dir / "samples" / "ifeval_offline.jsonl").read_text().splitlines()
    return [json.loads(r)["response"] for r in rows]


def test_sigkill_then_resume_gives_the_uninterrupted_metrics(tmp_path, smollm2_dir):
    ref = _run(tmp_path / "ref_store", tmp_path / "ref")
    assert ref["tasks"]["ifeval_offline"]["requests"] == {"requests": N, "cached": 0}

    store, killed = tmp_path / "store", tmp_path / "killed"
    proc = subprocess.Popen(_args(store, killed), cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 600
    while _rows(store) < N // 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = _rows(store)
    assert 0 < done < N, f"kill landed at {done} of {N} stored answers"
    assert json.loads((killed / "manifest.json").read_text())["status"] == "partial"

    resumed = _run(store, tmp_path / "resumed")
    assert resumed["status"] == "complete"
    assert resumed["tasks"]["ifeval_offline"]["requests"] == {"requests": N, "cached": done}
    assert _rows(store) == N  # nothing generated twice: one row per request
    metrics = json.loads((tmp_path / "resumed" / "metrics.json").read_text())
    assert metrics == json.loads((tmp_path / "ref" / "metrics.json").read_text())
    assert _responses(tmp_path / "resumed") == _responses(tmp_path / "ref")
    # (a finished run run again calls the model for nothing: test_runner_fake)


# extended; CI runs test_vllm_server::test_interrupt_stops_the_server[SIGINT] and,
# for resume, the SIGKILL test
@pytest.mark.extended
def test_ctrl_c_marks_the_run_partial_in_one_line_and_the_rerun_continues(tmp_path,
                                                                          smollm2_dir):
    store, run_dir = tmp_path / "store", tmp_path / "run"
    # SIGINT is ignored in background jobs (nohup, CI runners) and children inherit that:
    # give the run Ctrl-C's default behaviour back, as a terminal would
    proc = subprocess.Popen(_args(store, run_dir), cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 600
    while _rows(store) < 4 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-3000:]
    assert err.count("evalsuite: interrupted") == 1, err[-3000:]
    # the last thing on stderr: lm-eval's generation bar is not redrawn after it
    assert err.replace("\r", "\n").strip().splitlines()[-1].startswith(
        "evalsuite: interrupted"), err[-3000:]
    assert "Traceback" not in err
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "partial"
    done = _rows(store)
    assert done >= 4

    resumed = _run(store, tmp_path / "resumed")
    assert resumed["tasks"]["ifeval_offline"]["requests"] == {"requests": N, "cached": done}


def test_a_model_without_a_chat_template_is_one_line(tmp_path, smollm2_dir):
    bare = tmp_path / "bare"
    bare.mkdir()
    for f in smollm2_dir.iterdir():
        if f.name == "chat_template.jinja":
            continue
        if f.name == "tokenizer_config.json":
            cfg = json.loads(f.read_text())
            cfg.pop("chat_template", None)
            (bare / f.name).write_text(json.dumps(cfg))
        else:
            (bare / f.name).symlink_to(f)
    r = subprocess.run([sys.executable, "-m", "evalsuite", "+model=smollm2_135m",
                        f"model.path={bare}", "backend=hf", "tasks=[ifeval_offline]", "limit=1",
                        f"hydra.run.dir={tmp_path / 'run'}"], cwd=REPO, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 2, r.stderr[-3000:]
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("evalsuite:")]
    assert len(lines) == 1 and "no chat template" in lines[0]
    assert "model.chat_template=false" in lines[0] and "Traceback" not in r.stderr
    assert not (tmp_path / "run" / "manifest.json").exists()  # nothing ran: no run left
