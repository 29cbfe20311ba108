"""lighteval's own output directories as runs: read, compared, ingested, and refused in
one line when they cannot be used (issue 16). Every file here is written by the real
lighteval CLI (``lighteval accelerate``) on the real SmolLM2, in an environment of its own
(see tests/lighteval_env.py for why, and what stands in for its downloads)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests import lighteval_env
from tests.conftest import run_cli

pytestmark = pytest.mark.slow

N = 3
TASKS = {"ifeval_local": "ifeval_local|0", "arc_easy_local": "arc_easy_local|0"}


@pytest.fixture(scope="module")
def lighteval_runs(tmp_path_factory, cache: Path, smollm2_dir: Path) -> tuple[Path, Path]:
    """The same model and documents twice: IFEval answers of up to 16 and up to 32 tokens."""
    tmp = tmp_path_factory.mktemp("lighteval")
    exe = lighteval_env.venv(tmp)
    lighteval_env.model_view(smollm2_dir, tmp / "SmolLM2-135M-Instruct")
    data = lighteval_env.offline_data(cache, tmp / "data")
    return (lighteval_env.run(exe, tmp, data, 16, N),
            lighteval_env.run(exe, tmp, data, 32, N))


def _results(out: Path) -> dict:
    (f,) = out.rglob("results_*.json")
    return json.loads(f.read_text())


def _details(out: Path, task: str) -> list[dict]:
    import pyarrow.parquet as pq

    (f,) = out.rglob(f"details_{task}_*.parquet")
    return pq.read_table(f).to_pylist()


def test_a_lighteval_directory_reads_as_the_run_lighteval_scored(lighteval_runs):
    from evalsuite.drift.runs import load_run

    out = lighteval_runs[0]
    run = load_run(out)  # the --output-dir; its one model folder is found
    results = _results(out)
    assert run.manifest.model.source == "lighteval" and run.manifest.model.fingerprint is None
    assert run.manifest.model.name == "SmolLM2-135M-Instruct"
    assert set(run.samples) == set(TASKS)
    for task, key in TASKS.items():
        assert len(run.samples[task]) == N
        assert run.task_info(task).version == str(results["config_tasks"][key]["version"])
        assert run.task_info(task).num_fewshot == 0
        for metric, value in results["results"][key].items():
            if not metric.endswith("_stderr"):
                assert run.metrics[task][metric] == value
        details = {int(d["doc"]["id"]): d for d in _details(out, key)}
        assert sorted(details) == [r["sample_id"] for r in run.samples[task]]
        for rec in run.samples[task]:
            assert rec["scores"] == details[rec["sample_id"]]["metric"]  # lighteval's own
    ifeval = run.samples["ifeval_local"][0]
    ids = ifeval["doc"]["instruction_id_list"]
    assert [i["id"] for i in ifeval["instructions"]] == ids
    assert ifeval["scores"]["inst_level_strict_acc"] == [i["strict"] for i in
                                                          ifeval["instructions"]]
    assert ifeval["response"] == _details(out, TASKS["ifeval_local"])[
        [int(d["doc"]["id"]) for d in _details(out, TASKS["ifeval_local"])].index(
            ifeval["sample_id"])]["model_response"]["text"][0]
    mc = run.samples["arc_easy_local"][0]
    assert len(mc["loglikelihoods"]) == len(mc["choices"]) == 4
    assert mc["response"] == mc["choices"][mc["loglikelihoods"].index(max(mc["loglikelihoods"]))]
    assert isinstance(mc["target"], int)
    # lighteval's accuracy is whether the most likely choice is the gold one
    assert mc["scores"]["acc"] == int(mc["response"] == mc["choices"][mc["target"]])


def test_two_lighteval_outputs_compare_with_lighteval_s_own_numbers(lighteval_runs,
                                                                    tmp_path: Path):
    short, longer = lighteval_runs
    out, junit = tmp_path / "cmp", tmp_path / "gate.xml"
    r = run_cli(f"baseline={short}", f"candidate={longer}", f"out={out}", "n_boot=200",
                "embeddings=false", "gate={inst_level_strict_acc:0.0}", f"junit={junit}",
                module="evalsuite.compare", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "gate passed" in r.stdout and junit.is_file()
    drift = json.loads((out / "drift.json").read_text())
    assert drift["baseline"]["source"] == drift["candidates"][0]["source"] == "lighteval"
    (comp,) = drift["comparisons"].values()
    assert set(comp["tasks"]) == set(TASKS)
    for side, d in (("baseline", short), ("candidate", longer)):
        results = _results(d)["results"]
        for task, key in TASKS.items():
            for metric, row in comp["tasks"][task]["metrics"].items():
                assert row["n"] == N and row["matches_stored"]
                assert row[side] == pytest.approx(results[key][metric]), (side, metric)
    base = {d["doc"]["id"]: d for d in _details(short, TASKS["ifeval_local"])}
    cand = {d["doc"]["id"]: d for d in _details(longer, TASKS["ifeval_local"])}
    assert base.keys() == cand.keys()
    assert any(base[k]["model_response"]["text"] != cand[k]["model_response"]["text"]
               for k in base)  # the settings did change the answers
    flips = comp["tasks"]["ifeval_local"]["metrics"]["prompt_level_strict_acc"]["flips"]
    got = {k: cand[k]["metric"]["prompt_level_strict_acc"] for k in base}
    was = {k: base[k]["metric"]["prompt_level_strict_acc"] for k in base}
    assert flips["lost"] == sum(was[k] and not got[k] for k in base)
    assert flips["gained"] == sum(got[k] and not was[k] for k in base)
    # ARC is scored by log-likelihood, which the answer length does not touch
    arc = comp["tasks"]["arc_easy_local"]["metrics"]["acc"]
    assert arc["delta"] == 0
    report = (out / "report.md").read_text()
    assert "a lighteval output: no model fingerprint recorded" in report
    assert (out / "report.html").is_file()


def test_ingest_writes_a_run_directory_every_tool_reads(lighteval_runs, tmp_path: Path):
    from evalsuite.drift.runs import load_run

    src = lighteval_runs[0]
    out = tmp_path / "ingested"
    r = run_cli(str(src), f"out={out}", module="evalsuite.ingest", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = load_run(src), load_run(out)
    assert a.metrics == b.metrics and a.samples == b.samples
    assert json.loads((out / "manifest.json").read_text())["source"]["format"] == "lighteval"
    # one model's folder below results/ names the same run
    (model_dir,) = {f.parent for f in src.rglob("results_*.json")}
    assert load_run(model_dir).samples == a.samples


def test_lighteval_outputs_it_cannot_use_are_one_line(lighteval_runs, tmp_path: Path):
    src = lighteval_runs[0]

    def ingest(path: Path, fmt: str | None = None) -> str:
        out = tmp_path / f"o_{path.name}"
        r = run_cli(str(path), f"out={out}", *([f"format={fmt}"] if fmt else []),
                    module="evalsuite.ingest", cwd=tmp_path)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and not out.exists(), r.stderr
        return r.stderr

    # written without --save-details: results only
    bare = shutil.copytree(src, tmp_path / "bare")
    shutil.rmtree(bare / "details")
    assert "--save-details" in ingest(bare)
    # a details file cut short (a crash, a full disk)
    cut = shutil.copytree(src, tmp_path / "cut")
    (f,) = cut.rglob("details_ifeval_local*.parquet")
    f.write_bytes(f.read_bytes()[:-200])
    err = ingest(cut)
    assert f.name in err and "cut short" in err
    # results of two models in one --output-dir
    two = shutil.copytree(src, tmp_path / "two")
    (model_dir,) = {p.parent for p in two.rglob("results_*.json")}
    shutil.copytree(model_dir, model_dir.with_name("other-model"))
    assert "2 models" in ingest(two)
    # a results file that is not JSON
    bad = shutil.copytree(src, tmp_path / "bad")
    (res,) = bad.rglob("results_*.json")
    res.write_text(res.read_text()[:100])
    assert res.name in ingest(bad)
    # a lighteval directory named as another format
    assert "format=inspect" in ingest(src, "inspect")


def test_two_lighteval_runs_in_one_directory_the_newest_is_read_and_said(lighteval_runs,
                                                                        tmp_path: Path):
    from evalsuite.drift.runs import load_run

    short, longer = lighteval_runs
    both = shutil.copytree(short, tmp_path / "both")
    # the second run's files beside the first's, as lighteval writes a rerun into one
    # --output-dir (its timestamps are later: it ran after)
    for part in ("results", "details"):
        for src in (longer / part).rglob("*"):
            dst = both / part / src.relative_to(longer / part)
            if src.is_dir():
                dst.mkdir(parents=True, exist_ok=True)
            else:
                shutil.copy(src, dst)
    run = load_run(both)
    assert run.samples == load_run(longer).samples
    assert run.manifest.source["runs_in_directory"] == 2
    assert run.manifest.source["results_file"] == next(longer.rglob("results_*.json")).name
    r = run_cli(str(both), f"out={tmp_path / 'o'}", module="evalsuite.ingest", cwd=tmp_path)
    assert r.returncode == 0 and "holds 2 lighteval runs; reading the newest" in r.stderr
