"""The demo and its controls.

Unit tests judge hand-made drift.json dicts and real comparisons of stored runs; the
slow test runs the negative control at small size through the demo's command line with
the real model (two sampled vLLM runs of SmolLM2), then again to check that finished
evaluations are reused."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evalsuite.demo import negative, positive
from evalsuite.demo._controls import pattern_tests
from evalsuite.drift import CompareSettings, compare
from tests.conftest import REPO, require_vllm
from tests.stored_runs import IF_TASK, write_run

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _metric(base: float, cand: float, p_holm: float) -> dict:
    d = cand - base
    return {"baseline": base, "candidate": cand, "delta": d, "ci_low": d - 0.02,
            "ci_high": d + 0.02, "p_value": p_holm / 2, "p_holm": p_holm,
            "significant": p_holm < 0.05}


def _drift(*, pattern_p: float = 1e-6, if_p: float = 1e-4, auc: float = 0.9,
           if_delta: float = -0.1) -> dict:
    """A drift.json shaped like compare's, with the numbers the controls read."""
    pats = [{"pattern": "writes_new_question", "n": 541, "baseline": 0.0, "candidate": 0.2,
             "delta": 0.2, "p_value": pattern_p},
            {"pattern": "starts_with_answer", "n": 541, "baseline": 0.0, "candidate": 0.0,
             "delta": 0.0, "p_value": 1.0}]
    return {"settings": {"alpha": 0.05}, "comparisons": {"tuned": {
        "tasks": {IF_TASK: {"metrics": {
            "inst_level_strict_acc": _metric(0.4, 0.4 + if_delta, if_p),
            "prompt_level_strict_acc": _metric(0.3, 0.3, 1.0)}},
            "arc_easy_offline": {"metrics": {"acc": _metric(0.5, 0.55, 0.5)}}},
        "categories": [{"task": IF_TASK, "category": "keywords", "level": "strict",
                        "p_value": 0.9, "p_holm": 0.9}],
        "instruction_ids": [{"task": IF_TASK, "id": "keywords:x", "level": "strict",
                             "p_value": 0.8, "p_holm": 0.8}],
        "distribution": {IF_TASK: {"patterns": pats, "lexical": {"jsd_1gram": 0.1},
                                   "embeddings": {"classifier_two_sample": {"auc": auc}}}},
    }}}


def test_positive_control_passes_only_when_all_three_show():
    assert positive(_drift(), "tuned", min_auc=0.65).passed
    for broken, failing in (({"pattern_p": 0.2}, "template pattern rate rose"),
                            ({"if_p": 0.2}, "instruction following dropped"),
                            ({"if_delta": +0.1}, "instruction following dropped"),
                            ({"auc": 0.6}, "distribution shift")):
        v = positive(_drift(**broken), "tuned", min_auc=0.65)
        assert not v.passed, broken
        assert [c.name for c in v.checks if not c.passed] == [failing], broken


def test_pattern_p_values_are_holm_corrected_within_the_task():
    # 0.03 alone is significant; Holm over two patterns doubles it to 0.06
    rows = pattern_tests(_drift(pattern_p=0.03)["comparisons"]["tuned"], 0.05)
    assert [round(r["p_holm"], 6) for r in rows] == [0.06, 1.0]
    assert not positive(_drift(pattern_p=0.03), "tuned", min_auc=0.65).checks[0].passed


def test_positive_control_without_embeddings_says_how_to_get_them():
    d = _drift()
    del d["comparisons"]["tuned"]["distribution"][IF_TASK]["embeddings"]
    v = positive(d, "tuned", min_auc=0.65)
    assert not v.passed and "embeddings=true" in v.checks[-1].detail


def test_negative_control_fails_on_any_significant_family_or_far_auc():
    calm = _drift(pattern_p=0.5, if_p=0.5, auc=0.52)
    assert negative(calm, "tuned", auc_tolerance=0.1).passed
    # one Holm correction over all 7 tests: 0.01 alone would be significant, 7 x 0.01 not
    borderline = copy.deepcopy(calm)
    borderline["comparisons"]["tuned"]["categories"][0]["p_value"] = 0.01
    assert negative(borderline, "tuned", auc_tolerance=0.1).passed
    cases = [
        (lambda c: c["tasks"]["arc_easy_offline"]["metrics"]["acc"].update(p_value=1e-5),
         "no significant change in task metrics"),
        (lambda c: c["categories"][0].update(p_value=1e-5),
         "no significant change in instruction categories"),
        (lambda c: c["instruction_ids"][0].update(p_value=1e-5),
         "no significant change in instruction ids"),
        (lambda c: c["distribution"][IF_TASK]["patterns"][0].update(p_value=1e-5),
         "no significant change in template patterns"),
        (lambda c: c["distribution"][IF_TASK]["embeddings"]["classifier_two_sample"]
         .update(auc=0.7), "AUC near 0.5"),
    ]
    for edit, failing in cases:
        d = copy.deepcopy(calm)
        edit(d["comparisons"]["tuned"])
        v = negative(d, "tuned", auc_tolerance=0.1)
        assert [c.name for c in v.checks if not c.passed] == [failing]


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    return {
        "base": write_run(root / "base", "base", seed=1, if_pass=0.7, mc_pass=0.5),
        # a known drift: 60 % of answers in the Q-A template and instructions followed less
        "tuned": write_run(root / "tuned", "tuned", seed=2, if_pass=0.25, mc_pass=0.55,
                           qa_share=0.6, length=8),
        # the same model again with other random draws: no drift
        "again": write_run(root / "again", "again", seed=3, if_pass=0.7, mc_pass=0.5),
        # the template shows, instruction following is untouched
        "format": write_run(root / "format", "format", seed=4, if_pass=0.7, mc_pass=0.5,
                            qa_share=0.6, length=8),
    }


def test_controls_on_real_comparisons_of_stored_runs(stored):
    settings = CompareSettings(n_boot=2000, embeddings=True)
    drifted = compare(str(stored["base"]), [str(stored["tuned"])], settings)
    v = positive(drifted, "tuned", min_auc=0.65)
    assert v.passed, v.lines()
    assert not negative(drifted, "tuned", auc_tolerance=0.1).passed

    calm = compare(str(stored["base"]), [str(stored["again"])], settings)
    n = negative(calm, "again", auc_tolerance=0.15)
    assert n.passed, n.lines()
    assert not positive(calm, "again", min_auc=0.65).passed


def _demo(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "evalsuite.demo", *args], cwd=REPO,
                          capture_output=True, text=True, env=env, timeout=1800)


def test_bad_demo_settings_are_one_line(tmp_path):
    for args, needle in ((["size=huge"], "unknown size 'huge'"),
                         (["control=bogus"], "control must be one of"),
                         (["backend=tpu"], "unknown backend 'tpu'"),
                         (["control=negative", "negative.seeds=[1,1]"], "two different"),
                         (["+recipe.stepz=3"], "unknown recipe key")):
        r = _demo(*args)
        assert r.returncode == 2, (args, r.stderr[-2000:])
        last = r.stderr.strip().splitlines()[-1]
        assert last.startswith("evalsuite: ") and needle in last, (args, r.stderr[-2000:])
        assert "Traceback" not in r.stderr


@pytest.mark.extended  # CI: the controls on real stored runs; the setup runs the demo
@pytest.mark.slow
def test_negative_control_at_small_size_with_the_real_model(tmp_path):
    require_vllm()
    out, runs = tmp_path / "report", tmp_path / "runs"
    args = ["control=negative", "size=small", "backend=vllm", f"out={out}",
            f"runs_dir={runs}",
            "negative.eval=['suite=ifeval','max_gen_toks=32','limit=50']"]
    r = _demo(*args)
    assert r.returncode == 0, r.stderr[-3000:]
    record = json.loads((out / "controls.json").read_text())
    checks = {c["name"]: c for c in record["checks"]}
    # the two runs really sampled different answers, and nothing drifted
    assert checks["the two runs' responses differ"]["passed"], record
    assert record["passed"], record
    assert len(list(runs.iterdir())) == 2
    assert (out / "report.md").read_text().count("The negative control") == 1
    assert f"report: {out / 'report.md'}" in r.stdout

    again = _demo(*args)  # both evaluations are reused: no model is loaded
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("reusing the finished run") == 2
    assert "$ python -m evalsuite " not in again.stdout
    assert json.loads((out / "controls.json").read_text())["checks"] == record["checks"]


@pytest.mark.slow
def test_positive_demo_at_small_size_tells_both_halves_with_the_real_model(tmp_path):
    # The README's setup runs this very demo (same runs/demo and cache): in CI every step
    # is reused here and only the comparison runs again; on a fresh checkout it trains
    # and evaluates all three checkpoints (about 8 minutes).
    require_vllm()
    from evalsuite.report import load_drift
    from evalsuite.schema import read_manifest

    out = tmp_path / "report"
    r = _demo("size=small", "backend=vllm", f"out={out}")
    assert r.returncode == 0, r.stderr[-3000:]
    drift = load_drift(out)
    assert list(drift["comparisons"]) == ["synthetic_qa", "synthetic_qa+unlearn"]
    rec = drift["remedies"]["synthetic_qa+unlearn"]
    assert rec["treated"] == "synthetic_qa" and rec["n_samples"]["ifeval_offline"] == 50
    inst = next(m for m in rec["metrics"] if m["metric"] == "inst_level_strict_acc")
    assert inst["baseline"] == pytest.approx(
        drift["comparisons"]["synthetic_qa"]["tasks"]["ifeval_offline"]["metrics"][
            "inst_level_strict_acc"]["baseline"])
    # the third run is the unlearned checkpoint, and its manifest says so
    third = read_manifest(REPO / drift["candidates"][1]["path"])
    assert [s["stage"] for s in third.model.lineage] == ["synthetic", "unlearn"]
    record = json.loads((out / "controls.json").read_text())
    assert record["control"] == "positive" and record["remedy"]["control"] == "remedy"
    assert [c["name"] for c in record["remedy"]["checks"]] == [
        "template pattern rate fell", "instruction-level IFEval drop recovered",
        "benchmark average kept"]
    assert record["demo"]["unlearn_model"].startswith(record["demo"]["recipe_model"])
    md = (out / "report.md").read_text()
    assert "## Controls" in md and "The remedy control" in md and "figures/remedy.png" in md
    assert "remedy control (synthetic_qa+unlearn)" in r.stdout


@pytest.mark.slow
def test_the_ablation_sweep_is_one_command_with_the_real_model(tmp_path):
    # all three terms is the small demo's own remedy: reused from the setup's demo (or the
    # test above); forgetting alone is trained (4 steps, no replay) and evaluated here
    require_vllm()
    out = tmp_path / "ablation"
    r = _demo("-m", "size=small", "backend=vllm", "ablation=forget,all", f"out={out}")
    assert r.returncode == 0, r.stderr[-3000:]
    md = (out / "ablation.md").read_text()
    rows = [x for x in md.splitlines() if x.startswith("| forget")]
    assert [x.split("|")[1].strip() for x in rows] == ["forget", "forget + replay + kl"], md
    assert f"ablation: {out / 'ablation.md'}" in r.stdout
    for name, weights in (("forget", (1.0, 0.0, 0.0)), ("all", (1.0, 1.0, 1.0))):
        record = json.loads((out / name / "controls.json").read_text())
        assert record["demo"]["ablation"] == name
        u = record["demo"]["unlearn"]
        assert (u["forget_weight"], u["replay_weight"], u["kl_weight"]) == weights
        assert (out / name / "report.md").is_file()
    keys = {json.loads((out / n / "controls.json").read_text())["demo"]["unlearn_key"]
            for n in ("forget", "all")}
    assert len(keys) == 2  # two different checkpoints


def test_the_demo_sweep_refuses_what_it_cannot_do(tmp_path):
    r = _demo("-m", "ablation=forget,all", "hydra/launcher=joblib")
    assert r.returncode == 2 and "run one after another" in r.stderr.strip().splitlines()[-1]
    r = _demo("-m", "ablation=forget,all", "recipe.lr=1e-4,2e-4")
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 2 and "recipe.lr cannot be swept" in last, r.stderr[-2000:]
    r = _demo("ablation=forget", "control=negative")
    assert r.returncode == 2 and "needs control=positive" in r.stderr.strip().splitlines()[-1]
    # a job's bad input is its own line; the sweep goes on and ends non-zero
    r = _demo("-m", "size=small", "ablation=forget,replay", "unlearn.steps=9",
              f"out={tmp_path / 'abl'}", f"runs_dir={tmp_path / 'runs'}")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1, r.stderr[-2000:]
    assert sum("over the budget" in x for x in lines) == 2, r.stderr[-2000:]
    assert lines[-1] == ("evalsuite: 2 of 2 ablation jobs did not finish (their lines above); "
                         "the others' reports and the table are kept")
    assert "Traceback" not in r.stderr and not (tmp_path / "abl").exists()


def test_a_drop_too_small_for_the_sample_is_inconclusive_not_failed(stored):
    # a real comparison where the template shows and instruction following did not drop:
    # whether the missed drop fails the control depends on the minimum detectable effect
    # compare computed for the IFEval metrics
    calm = compare(str(stored["base"]), [str(stored["format"])],
                   CompareSettings(n_boot=2000, embeddings=True))
    mdes = [r["mde"] for r in calm["comparisons"]["format"]["tasks"][IF_TASK]["metrics"].values()]
    assert all(isinstance(m, float) and 0 < m < 1 for m in mdes), mdes
    smallest = min(mdes)

    weak = positive(calm, "format", min_auc=0.5, expected_drop=smallest / 2)
    check = {c.name: c for c in weak.checks}["instruction following dropped"]
    assert check.inconclusive and not check.passed
    assert f"{100 * smallest:.1f} points" in check.detail and "not powered" in check.detail
    assert weak.outcome == "inconclusive", weak.lines()
    assert weak.lines()[0].endswith("INCONCLUSIVE") and weak.to_dict()["outcome"] == weak.outcome

    # a drop the sample could have shown, and did not: that fails
    powered = positive(calm, "format", min_auc=0.5, expected_drop=min(0.99, smallest * 2))
    check = {c.name: c for c in powered.checks}["instruction following dropped"]
    assert not check.inconclusive and powered.outcome == "failed", powered.lines()

    # an inconclusive check next to a real failure is still a failure
    strict = positive(calm, "format", min_auc=0.99, expected_drop=smallest / 2)
    assert strict.outcome == "failed", strict.lines()


def test_bad_expected_drop_is_one_line():
    r = _demo("expected_drop=5")
    assert r.returncode == 2 and "expected_drop must be a fraction" in r.stderr, r.stderr[-800:]


def test_a_published_report_names_no_path_of_this_machine(tmp_path):
    from evalsuite.demo._steps import portable

    root, cache = tmp_path / "repo", tmp_path / "repo" / ".cache" / "evalsuite"
    folder = root / "reports" / ".demo.tmp"
    (folder / ".hydra").mkdir(parents=True)
    run = root / "runs" / "demo" / "smollm2_135m-abc"
    (folder / "drift.json").write_text(json.dumps(
        {"baseline": {"path": str(run), "model_path": str(cache / "models" / "m")},
         "config": {"out": str(folder)}}))
    (folder / ".hydra" / "hydra.yaml").write_text(f"cwd: {root}\nout={folder}\n")
    (folder / "figures.png").write_bytes(b"\x89PNG" + str(root).encode())  # not text: kept
    assert portable(folder, root, cache) == 2
    drift = json.loads((folder / "drift.json").read_text())
    assert drift["baseline"] == {"path": "runs/demo/smollm2_135m-abc",
                                 "model_path": "CACHE/models/m"}
    assert drift["config"]["out"] == "reports/.demo.tmp"
    assert (folder / ".hydra" / "hydra.yaml").read_text() == "cwd: .\nout=reports/.demo.tmp\n"
    assert str(tmp_path) not in (folder / "drift.json").read_text()
