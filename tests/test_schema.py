"""The typed records: shipped JSON Schemas match the models, files are read through them
(older versions included), and a damaged or newer file is one line, not a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

import evalsuite
from evalsuite.drift import CompareSettings, compare
from evalsuite.errors import UserError
from evalsuite.schema import SCHEMA_DIR, SCHEMA_VERSION, SampleRecord, json_schemas

from .stored_runs import IF_TASK, MC_TASK, write_run


def test_the_shipped_json_schemas_are_generated_from_the_models():
    for name, text in json_schemas().items():
        shipped = (SCHEMA_DIR / name).read_text(encoding="utf-8")
        assert shipped == text, f"{name} is stale: run python -m evalsuite.schema --write"


def test_every_field_has_a_docstring():
    for name, text in json_schemas().items():
        schema = json.loads(text)
        models = {"root": schema, **schema.get("$defs", {})}
        for model, spec in models.items():
            for field, prop in (spec.get("properties") or {}).items():
                assert prop.get("description"), f"{name}: {model}.{field} has no docstring"


@pytest.fixture
def stored(tmp_path: Path) -> tuple[Path, Path]:
    base = write_run(tmp_path / "base", "base", seed=1, if_pass=0.6, mc_pass=0.5)
    cand = write_run(tmp_path / "cand", "cand", seed=2, if_pass=0.4, mc_pass=0.7)
    return base, cand


def test_load_run_reads_a_version_1_run_typed(stored):
    run = evalsuite.load_run(stored[0])
    assert run.manifest.schema_version == 1 and run.manifest.status == "complete"
    assert run.manifest.tasks[IF_TASK].output_type == "generate_until"
    rec = run.samples[IF_TASK][0]
    assert isinstance(rec, SampleRecord) and rec.schema_version == 1
    assert rec.instructions and rec.instructions[0].category in rec.instructions[0].id
    df = run.samples_df()
    assert set(df["task"]) == {IF_TASK, MC_TASK} and len(df) == 120
    assert df.loc[df.task == MC_TASK, "n_choices"].eq(4).all()
    mf = run.metrics_df()
    acc = mf[(mf.task == MC_TASK) & (mf.metric == "acc")]["value"].item()
    assert acc == pytest.approx(df.loc[df.task == MC_TASK, "score.acc"].mean())


def test_load_drift_is_typed_and_matches_the_comparison(stored, tmp_path: Path):
    drift = compare(stored[0], [stored[1]], CompareSettings(n_boot=200, embeddings=False))
    assert drift["schema_version"] == SCHEMA_VERSION
    (tmp_path / "drift.json").write_text(json.dumps(drift))
    report = evalsuite.load_drift(tmp_path)
    df = report.metrics_df()
    row = df[(df.task == MC_TASK) & (df.metric == "acc")].iloc[0]
    want = drift["comparisons"]["cand"]["tasks"][MC_TASK]["metrics"]["acc"]
    assert row.delta == pytest.approx(want["delta"]) and row.lost == want["flips"]["lost"]
    jsonschema.validate(drift, json.loads((SCHEMA_DIR / "drift.schema.json").read_text()))


def test_a_cut_samples_file_is_one_line(stored):
    file = stored[0] / "samples" / f"{IF_TASK}.jsonl"
    text = file.read_text()
    file.write_text(text[: len(text) - 40])  # the last line cut short, as by a full disk
    with pytest.raises(UserError, match=r"line 60 is not valid JSON .*cut short"):
        evalsuite.load_run(stored[0])


def test_a_record_of_the_wrong_type_names_the_field(stored):
    file = stored[0] / "samples" / f"{MC_TASK}.jsonl"
    rows = [json.loads(x) for x in file.read_text().splitlines()]
    rows[3]["loglikelihoods"] = "not a list"
    file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(UserError, match=r"sample record \(line 4\) \(loglikelihoods:"):
        evalsuite.load_run(stored[0])


def test_a_newer_schema_version_asks_for_an_upgrade(stored):
    path = stored[0] / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["schema_version"] = SCHEMA_VERSION + 1
    path.write_text(json.dumps(manifest))
    with pytest.raises(UserError, match="newer than this evalsuite reads.*upgrade evalsuite"):
        evalsuite.load_run(stored[0])


def test_a_manifest_without_a_status_is_refused(stored):
    path = stored[0] / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["status"]
    path.write_text(json.dumps(manifest))
    with pytest.raises(UserError, match="not a valid manifest .status: Field required"):
        evalsuite.load_run(stored[0])


def test_the_writer_refuses_a_record_it_cannot_type(tmp_path: Path):
    from pydantic import ValidationError

    from evalsuite.run.rundir import RunWriter

    w = RunWriter(tmp_path, {"model": {"name": "m"}, "backend": {"name": "hf"}, "suite": "s"})
    with pytest.raises(ValidationError):
        w.add_task("a", [{"scores": {}}], {}, {"n_samples": 1})  # no sample_id
    assert not (tmp_path / "samples" / "a.jsonl").exists()
