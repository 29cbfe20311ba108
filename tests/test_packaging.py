"""evalsuite installs like any other package: the wheel carries conf/ and tasks/, and a
job runs from a directory that is not the checkout, with a user's own config directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from markupsafe import escape

from evalsuite.resources import CONF_DIR, TASKS_DIR

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from this checkout, as ``pip wheel .`` builds it."""
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                           "--no-build-isolation", "-q", str(REPO), "-w", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (found,) = out.glob("evalsuite-*.whl")
    return found


def test_the_wheel_carries_every_config_and_task_file(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    for src, inside in ((CONF_DIR, "evalsuite/_conf"), (TASKS_DIR, "evalsuite/_tasks")):
        files = [p for p in src.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        assert files
        missing = [str(p.relative_to(src)) for p in files
                   if f"{inside}/{p.relative_to(src).as_posix()}" not in names]
        assert not missing, missing
    assert any(n.startswith("evalsuite/schema/") and n.endswith(".json") for n in names)


def _installed(wheel: Path, where: Path) -> dict[str, str]:
    """The wheel unpacked as pip would put it in site-packages, first on the path."""
    site = where / "site"
    zipfile.ZipFile(wheel).extractall(site)
    return {**os.environ, "PYTHONPATH": str(site), "HYDRA_FULL_ERROR": "0"}


def test_the_installed_package_finds_its_configs_from_anywhere(wheel: Path, tmp_path: Path):
    env = _installed(wheel, tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = ("import evalsuite, evalsuite.resources as r; "
            "print(evalsuite.__file__); print(r.CONF_DIR); print(r.TASKS_DIR)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    file, conf, tasks = proc.stdout.split()
    site = str(tmp_path / "site")
    assert file.startswith(site) and conf == f"{site}/evalsuite/_conf"
    assert tasks == f"{site}/evalsuite/_tasks"
    # an unknown model is refused in one line, naming the user's way to add one
    proc = subprocess.run([sys.executable, "-m", "evalsuite", "+model=mine", "suite=quick"],
                          cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "unknown model 'mine'" in proc.stderr and "--config-dir" in proc.stderr


def _user_config_dir(root: Path) -> Path:
    """A user's own config directory: a model named ``mine`` (the embedded SmolLM2 under
    another name) and a suite of one IFEval prompt and two ARC-Easy questions."""
    conf = root / "myconf"
    (conf / "model").mkdir(parents=True)
    (conf / "suite").mkdir()
    model = (CONF_DIR / "model" / "smollm2_135m.yaml").read_text()
    (conf / "model" / "mine.yaml").write_text(model.replace("name: smollm2_135m", "name: mine"))
    (conf / "suite" / "tiny.yaml").write_text(
        "name: tiny\ntasks:\n  ifeval_offline:\n    limit: 2\n    gen_kwargs:\n"
        "      max_gen_toks: 24\n  arc_easy_offline:\n    limit: 4\n    chat_template: false\n")
    return conf


def test_a_job_and_a_comparison_run_from_the_wheel_outside_the_checkout(
        wheel: Path, tmp_path: Path, smollm2_dir: Path):
    env = _installed(wheel, tmp_path)
    conf = _user_config_dir(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "evalsuite", "--config-dir", str(conf), "+model=mine",
         "suite=tiny", "backend=hf", f"hydra.run.dir={run}"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["model"]["name"] == "mine"
    assert set(manifest["tasks"]) == {"ifeval_offline", "arc_easy_offline"}
    assert manifest["tasks"]["arc_easy_offline"]["n_samples"] == 4
    out = tmp_path / "cmp"
    proc = subprocess.run(
        [sys.executable, "-m", "evalsuite.compare", f"baseline={run}", f"candidate={run}",
         f"out={out}", "n_boot=200", "embeddings=false"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    drift = json.loads((out / "drift.json").read_text())
    (comp,) = drift["comparisons"].values()
    assert comp["tasks"]["arc_easy_offline"]["metrics"]["acc"]["delta"] == 0
    # the report's examples show the model's real answers, through the wheel's template
    answer = json.loads((run / "samples" / "ifeval_offline.jsonl").read_text(
        ).splitlines()[0])["response"].strip()
    page = (out / "report.html").read_text()
    assert answer and 'id="examples"' in page
    assert str(escape(answer.split("\n")[0][:60])) in page
    assert "Drawn at random" in (out / "report.md").read_text()
    assert "is the baseline run itself" in proc.stdout + proc.stderr  # said, not refused
    # every record the job and the comparison wrote validates against the shipped schemas
    shipped = tmp_path / "site" / "evalsuite" / "schema"
    checked = _validate_every_record(run, shipped) + _validate_every_record(out, shipped)
    assert {"manifest", "metrics", "sample", "drift"} == {kind for kind, _ in checked}
    assert len([f for kind, f in checked if kind == "sample"]) == 2 + 4


SCHEMA_OF = {"manifest.json": "manifest", "metrics.json": "metrics", "drift.json": "drift"}


def _validate_every_record(root: Path, schemas: Path) -> list[tuple[str, str]]:
    """Each JSON file under root against the shipped schema of its kind, each sample line
    against the sample schema; a JSON file with no schema fails. (kind, what) per check."""
    import jsonschema

    def check(kind: str, data: object, what: str) -> tuple[str, str]:
        schema = json.loads((schemas / f"{kind}.schema.json").read_text())
        jsonschema.validate(data, schema)
        return kind, what

    checked = []
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        if file.suffix == ".jsonl":
            assert file.parent.name == "samples", f"{file}: a JSONL file with no schema"
            checked += [check("sample", json.loads(line), f"{file.name}:{i}")
                        for i, line in enumerate(file.read_text().splitlines(), 1)]
        elif file.suffix == ".json":
            assert file.name in SCHEMA_OF, f"{file}: a JSON file with no schema"
            checked.append(check(SCHEMA_OF[file.name], json.loads(file.read_text()), file.name))
    return checked


def test_a_broken_vllm_install_fails_instead_of_skipping(monkeypatch):
    from importlib import metadata

    from tests.conftest import require_vllm

    monkeypatch.setattr(metadata, "version", lambda dist: "0.32.0")  # installed ...
    monkeypatch.setitem(sys.modules, "vllm", None)  # ... but its import fails
    with pytest.raises(ImportError):
        require_vllm()

    def missing(dist: str) -> str:
        raise metadata.PackageNotFoundError(dist)

    monkeypatch.setattr(metadata, "version", missing)  # not installed at all: a skip
    with pytest.raises(pytest.skip.Exception):
        require_vllm()
