"""backend=vllm_server and backend=openai against real vLLM servers (CPU build).

Servers must always stop: after success, a failed start, a busy port and Ctrl-C no
vLLM process is left and the port is free again."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import (
    new_vllm_temp_dirs,
    read_rows,
    require_vllm,
    run_cli,
    vllm_processes,
)
from tests.tiny_tasks import write_tiny_tasks

require_vllm()

from evalsuite.models.backends.server import ManagedServer, free_port, port_is_free  # noqa: E402

N = 4
TASKS = "tasks=[ifeval_offline,tiny_mc]"


def _common(tmp: Path) -> list[str]:
    return ["+model=smollm2_135m", TASKS, f"limit={N}", "max_gen_toks=48",
            f"task_paths=[{tmp / 'tiny'}]"]


@pytest.fixture(scope="module")
def tmp(tmp_path_factory, smollm2_dir) -> Path:
    d = tmp_path_factory.mktemp("server")
    write_tiny_tasks(d / "tiny")
    return d


SERVER_KEY = "sk-served-key-0123456789"


@pytest.fixture(scope="module")
def runs(tmp: Path) -> dict[str, Path]:
    port = free_port("127.0.0.1")
    out = {}
    # The server requires a key: from the environment (backend.api_key_env), and typed
    # into its flags as well, where vLLM logs it and the manifest's config holds it.
    os.environ["EVALSUITE_SERVED_KEY"] = SERVER_KEY
    keyed = [f"backend.port={port}", "backend.api_key_env=EVALSUITE_SERVED_KEY",
             f"backend.extra_args=[--api-key,{SERVER_KEY}]"]
    for backend, extra in (("hf", []), ("vllm_server", keyed)):
        proc = run_cli(*_common(tmp), f"backend={backend}", *extra,
                       f"hydra.run.dir={tmp / backend}", cwd=tmp)
        assert proc.returncode == 0, proc.stderr[-4000:]
        out[backend] = tmp / backend
    out["port"] = port  # type: ignore[assignment]
    return out


def test_server_run_matches_transformers(runs):
    hf, vs = runs["hf"], runs["vllm_server"]
    a, b = read_rows(hf, "ifeval_offline"), read_rows(vs, "ifeval_offline")
    assert [r["response"] for r in a] == [r["response"] for r in b]
    a, b = read_rows(hf, "tiny_mc"), read_rows(vs, "tiny_mc")
    for x, y in zip(a, b, strict=True):
        assert x["loglikelihoods"] == pytest.approx(y["loglikelihoods"], abs=1e-3)
    hm, vm = (json.loads((r / "metrics.json").read_text()) for r in (hf, vs))
    assert hm.keys() == vm.keys()
    for task in hm:
        assert hm[task] == pytest.approx(vm[task])


def test_the_server_key_reaches_no_file(runs):
    files = [f for f in runs["vllm_server"].rglob("*") if f.is_file()]
    assert {"vllm_server.log", "manifest.json", "overrides.yaml"} <= {f.name for f in files}
    for f in files:
        assert SERVER_KEY not in f.read_text(errors="replace"), f
    manifest = json.loads((runs["vllm_server"] / "manifest.json").read_text())
    assert manifest["config"]["backend"]["extra_args"] == ["--api-key", "***"]


def test_server_log_is_kept_and_server_is_gone(runs):
    vs = runs["vllm_server"]
    assert "Application startup complete" in (vs / "vllm_server.log").read_text()
    assert vllm_processes() == []
    assert port_is_free("127.0.0.1", runs["port"])
    assert json.loads((vs / "manifest.json").read_text())["status"] == "complete"


# extended; CI runs the same completions client against the keyed vllm_server run, and
# test_redact builds backend=openai
@pytest.mark.extended
def test_openai_backend_against_a_running_endpoint(tmp, smollm2_dir, monkeypatch, runs):
    """An endpoint evalsuite did not start: it is used, not stopped; the key never lands."""
    monkeypatch.setenv("EVALSUITE_TEST_KEY", "sk-secret-value-123")
    server = ManagedServer(["--model", str(smollm2_dir), "--served-model-name", "smol",
                            "--dtype", "float32", "--enforce-eager", "--max-model-len", "2048",
                            "--api-key", "sk-secret-value-123"],
                           "127.0.0.1", None, tmp / "endpoint.log",
                           {"VLLM_CPU_KVCACHE_SPACE": "1"}, 600).start()
    try:
        run_dir = tmp / "openai"
        proc = run_cli(*_common(tmp), "backend=openai",
                       f"backend.base_url={server.base_url}/v1", "backend.model=smol",
                       "backend.api_key_env=EVALSUITE_TEST_KEY", f"hydra.run.dir={run_dir}",
                       cwd=tmp)
        assert proc.returncode == 0, proc.stderr[-4000:]
        assert server.proc is not None and server.proc.poll() is None  # still ours, running
    finally:
        server.stop()
    a = read_rows(runs["hf"], "ifeval_offline")
    b = read_rows(run_dir, "ifeval_offline")
    assert [r["response"] for r in a] == [r["response"] for r in b]
    for f in run_dir.rglob("*"):
        if f.is_file():
            assert "sk-secret-value-123" not in f.read_text(errors="replace"), f
    assert vllm_processes() == []


def test_a_server_that_cannot_start_is_one_line(tmp):
    bad = tmp / "not_a_model"
    bad.mkdir()
    (bad / "config.json").write_text("{}")
    proc = run_cli("+model=smollm2_135m", f"model.path={bad}", "tasks=[ifeval_offline]",
                   "limit=1", "backend=vllm_server", f"hydra.run.dir={tmp / 'bad'}",
                   cwd=tmp, timeout=300)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.startswith("evalsuite:")]
    assert len(lines) == 1 and "vLLM server exited" in lines[0], proc.stderr[-2000:]
    assert vllm_processes() == []


def test_a_busy_port_is_one_line(tmp):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = run_cli(*_common(tmp), "backend=vllm_server", f"backend.port={port}",
                       f"hydra.run.dir={tmp / 'busy'}", cwd=tmp)
    assert proc.returncode != 0
    lines = [x for x in proc.stderr.splitlines() if x.startswith("evalsuite:")]
    assert len(lines) == 1 and f"port {port}" in lines[0] and "busy" in lines[0]
    assert vllm_processes() == []


@pytest.mark.parametrize("sig", [signal.SIGINT, pytest.param(signal.SIGTERM, marks=pytest.mark.extended)])  # noqa: E501
def test_interrupt_stops_the_server(tmp, sig):
    run_dir = tmp / f"interrupted_{sig.name}"
    port = free_port("127.0.0.1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "evalsuite", *_common(tmp), "backend=vllm_server",
         f"backend.port={port}", f"hydra.run.dir={run_dir}"],
        cwd=tmp, env={**os.environ}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # background jobs (nohup, CI runners) ignore SIGINT and children inherit that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 180
        log = run_dir / "vllm_server.log"
        while time.monotonic() < deadline and not (log.exists() and vllm_processes()):
            time.sleep(0.5)
        assert vllm_processes(), "server never started"
        time.sleep(3)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err
    assert vllm_processes() == []
    assert port_is_free("127.0.0.1", port)
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "partial"
    assert new_vllm_temp_dirs() == []


def _server_pid(port: int) -> int | None:
    for p in vllm_processes():
        cmd = p["cmdline"] or []
        if "vllm.entrypoints.openai.api_server" in " ".join(cmd) and str(port) in cmd:
            return p["pid"]
    return None


def _stored(db: Path) -> int:
    import sqlite3

    if not db.exists():
        return 0
    with sqlite3.connect(db, timeout=30) as con:
        try:
            return con.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
        except sqlite3.OperationalError:  # the table is not there yet
            return 0


def test_a_server_that_dies_is_restarted_once_then_the_run_fails_cleanly(tmp):
    """SIGKILL the real server after the first stored chunk: it is started again and the
    chunk in flight is answered; kill it again after the second: one line, exit 1, the
    run marked partial, both finished chunks kept in the request store, no server left."""
    run_dir, store = tmp / "server_dies", tmp / "server_dies_store"
    port = free_port("127.0.0.1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "evalsuite", "+model=smollm2_135m", "backend=vllm_server",
         f"backend.port={port}", "backend.max_retries=1", "tasks=[ifeval_offline]",
         "limit=8", "max_gen_toks=64", "request_cache=true", "request_chunk_size=2",
         f"request_cache_dir={store}", f"hydra.run.dir={run_dir}"],
        cwd=tmp, env={**os.environ}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    kills = []
    try:
        deadline = time.monotonic() + 400
        for rows in (2, 4):  # after the first chunk, then after the second
            while time.monotonic() < deadline and proc.poll() is None:
                db = next(iter(store.glob("*.sqlite")), None)
                if db is not None and _stored(db) >= rows:
                    break
                time.sleep(0.05)
            pid = _server_pid(port)
            assert pid is not None, "no server to kill"
            os.killpg(pid, signal.SIGKILL)
            kills.append(pid)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(set(kills)) == 2  # the second kill hit the restarted server
    assert proc.returncode == 1, err[-3000:]
    assert "starting it again, once" in out + err  # the log's warning
    lines = [x[x.index("evalsuite:"):] for x in err.splitlines() if "evalsuite:" in x]
    assert len(lines) == 1
    assert "vLLM server died again" in lines[0] and "run the same command" in lines[0]
    assert "Traceback" not in err
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "partial"
    db = next(iter(store.glob("*.sqlite")))
    assert 4 <= _stored(db) < 8  # the two finished chunks, not the whole task
    assert vllm_processes() == []
    assert port_is_free("127.0.0.1", port)
