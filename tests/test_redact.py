"""Secrets never reach a file or a log line: env-held keys, URL passwords, bearer tokens."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from evalsuite.storage import redact
from evalsuite.storage.atomic import redact_file, write_json

from .conftest import run_cli

KEY = "sk-evalsuite-0123456789abcdef"


@pytest.fixture
def key_in_env(monkeypatch):
    monkeypatch.setenv("MY_PROVIDER_API_KEY", KEY)
    monkeypatch.setenv("SHORT_TOKEN", "1")
    monkeypatch.setenv("PLAIN_NAME", "a-credential-with-an-ordinary-name")


def test_values_of_secret_named_variables_are_masked(key_in_env):
    assert redact.redact(f"header {KEY} end") == "header *** end"
    assert redact.redact("token 1 stays") == "token 1 stays"  # too short to be a key
    # a variable with an ordinary name only once a config names it as api_key_env
    assert "a-credential" in redact.redact("a-credential-with-an-ordinary-name")
    redact.register("PLAIN_NAME")
    assert redact.redact("x a-credential-with-an-ordinary-name y") == "x *** y"


def test_url_passwords_and_bearer_tokens_are_masked():
    assert (redact.redact("GET https://alice:hunter2pass@api.example.com/v1 failed")
            == "GET https://alice:***@api.example.com/v1 failed")
    assert redact.redact("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    assert (redact.redact("{'Authorization': 'Bearer abcdefgh12345678'}")
            == "{'Authorization': 'Bearer ***'}")


def test_every_atomic_write_is_masked(key_in_env, tmp_path: Path):
    write_json(tmp_path / "m.json", {"config": {"extra_args": ["--api-key", KEY]}})
    text = (tmp_path / "m.json").read_text()
    assert KEY not in text and json.loads(text)["config"]["extra_args"] == ["--api-key", "***"]


def test_log_records_and_tracebacks_are_masked(key_in_env):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(redact.RedactingFilter())
    logger = logging.getLogger("test_redact")
    logger.addHandler(handler)
    try:
        logger.warning("request failed: %s", {"Authorization": f"Bearer {KEY}"})
        try:
            raise RuntimeError(f"bad key {KEY}")
        except RuntimeError:
            logger.exception("crashed")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert KEY not in out
    assert "Bearer ***" in out and "RuntimeError: bad key ***" in out


def test_redact_file_rewrites_only_when_needed(key_in_env, tmp_path: Path):
    log = tmp_path / "server.log"
    log.write_text(f"non-default args: {{'api_key': ['{KEY}']}}\n")
    redact_file(log)
    assert log.read_text() == "non-default args: {'api_key': ['***']}\n"
    redact_file(tmp_path / "missing.log")  # nothing to do, no error


def test_a_key_typed_into_an_override_reaches_no_file(key_in_env, tmp_path: Path):
    """A run whose endpoint is down (one line, exit 1, partial run kept), with the key
    of the environment sent as a bearer token and also typed into an override: no file
    of the run and no output line holds it."""
    run = tmp_path / "run"
    proc = run_cli("+model=smollm2_135m", "backend=openai", "tasks=[ifeval_offline]",
                   "limit=1", "backend.base_url=http://127.0.0.1:9/v1",
                   "backend.api_key_env=MY_PROVIDER_API_KEY", "backend.max_retries=1",
                   f"+backend_note={KEY}", f"hydra.run.dir={run}")
    assert proc.returncode == 1
    lines = [x[x.index("evalsuite:"):] for x in proc.stderr.splitlines() if "evalsuite:" in x]
    assert len(lines) == 1
    assert lines[0].startswith("evalsuite: cannot reach the endpoint http://127.0.0.1:9/v1")
    assert "Traceback" not in proc.stderr
    assert KEY not in proc.stdout + proc.stderr
    files = [p for p in run.rglob("*") if p.is_file()]
    assert {"overrides.yaml", "manifest.json"} <= {p.name for p in files}
    for p in files:
        assert KEY not in p.read_text(errors="replace"), p
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "partial" and manifest["config"]["backend_note"] == "***"


def test_a_password_in_the_endpoint_url_is_refused(tmp_path: Path):
    proc = run_cli("+model=smollm2_135m", "backend=openai",
                   "backend.base_url=http://bob:s3cretpassw0rd@127.0.0.1:9/v1",
                   f"hydra.run.dir={tmp_path}/run")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "evalsuite: backend.base_url holds a password: put the key in an environment "
        "variable and name it in backend.api_key_env")
    assert "s3cretpassw0rd" not in proc.stdout + proc.stderr
    assert not (tmp_path / "run").exists()
