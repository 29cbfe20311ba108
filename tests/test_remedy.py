"""A remedy as a third checkpoint (compare remedy=, drift.json's remedies, the report's
remedy section, the demo's remedy control), from stored runs: no model.

The runs are written by hand with known pass rates, so every share is checked against
the same numbers computed here from the samples."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evalsuite.demo import remedy as remedy_control
from evalsuite.drift import CompareSettings, compare
from evalsuite.drift.recovery import ThreeWay, metric_rows
from evalsuite.errors import UserError
from evalsuite.report import load_drift, render_report
from evalsuite.schema import DriftReport
from tests.stored_runs import IF_TASK, MC_TASK, write_run

SETTINGS = CompareSettings(n_boot=2000, embeddings=False)
NAMES = ["base", "synthetic_qa", "unlearn"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("remedy")
    return {
        "base": write_run(tmp / "base", "base", seed=1, if_pass=0.8, mc_pass=0.5),
        # instruction following down, MC up, the Q-A template in half the answers
        "synthetic_qa": write_run(tmp / "syn", "syn", seed=2, if_pass=0.35, mc_pass=0.8,
                                  qa_share=0.5),
        # most of the instruction following back, the MC gain kept, the template rare
        "unlearn": write_run(tmp / "unl", "unl", seed=3, if_pass=0.7, mc_pass=0.8,
                             qa_share=0.05),
        # an unchanged "treatment": nothing to recover
        "same": write_run(tmp / "same", "base", seed=1, if_pass=0.8, mc_pass=0.5),
    }


@pytest.fixture(scope="module")
def drift(runs) -> dict:
    return compare(runs["base"], [runs["synthetic_qa"], runs["unlearn"]], SETTINGS,
                   names=NAMES, remedies={"unlearn": "synthetic_qa"})


def _mean(run: Path, task: str, metric: str) -> float:
    rows = [json.loads(x) for x in (run / "samples" / f"{task}.jsonl").read_text().splitlines()]
    vals = [v for r in rows for v in np.atleast_1d(r["scores"][metric])]
    return float(np.mean(vals))


def test_shares_are_the_samples_numbers(runs, drift):
    rec = drift["remedies"]["unlearn"]
    DriftReport.model_validate(drift)
    assert rec["treated"] == "synthetic_qa" and rec["n_samples"] == {IF_TASK: 60, MC_TASK: 60}
    rows = {(r["task"], r["metric"]): r for r in rec["metrics"]}
    for (task, metric), kind in (((IF_TASK, "inst_level_strict_acc"), "lost"),
                                 ((IF_TASK, "prompt_level_strict_acc"), "lost"),
                                 ((MC_TASK, "acc"), "gained")):
        b, t, r = (_mean(runs[k], task, metric) for k in NAMES)
        row = rows[(task, metric)]
        assert row["kind"] == kind
        assert (row["baseline"], row["treated"], row["remedy"]) == pytest.approx((b, t, r))
        undone = (r - t) / (b - t)
        assert row["share"] == pytest.approx(undone if kind == "lost" else 1 - undone)
        lo, hi = row["share_ci"]
        assert row["estimable"] and lo < row["share"] < hi
        assert row["treated_change_ci"][0] <= t - b <= row["treated_change_ci"][1]
    # the comparison of the remedy with the checkpoint it started from, paired
    comp = rec["comparison"]["tasks"][IF_TASK]["metrics"]["inst_level_strict_acc"]
    assert comp["baseline"] == pytest.approx(_mean(runs["synthetic_qa"], IF_TASK,
                                                   "inst_level_strict_acc"))
    assert comp["delta"] > 0 and comp["significant"]


def test_template_patterns_and_benchmark_average(drift):
    rec = drift["remedies"]["unlearn"]
    pats = {p["pattern"]: p for p in rec["patterns"]}
    q = pats["writes_new_question"]
    assert q["treated"] > 0.3 and q["remedy"] < 0.15 and q["significant"]
    assert q["flips"]["lost"] > q["flips"]["gained"]  # matched before, not after
    avg = rec["benchmark_average"]
    assert avg["tasks"] == [MC_TASK] and avg["metric"].startswith("average")
    acc_norm = next(r for r in rec["metrics"] if r["metric"] == "acc_norm")
    assert avg["remedy"] == pytest.approx(acc_norm["remedy"])  # one benchmark: its headline
    assert avg["remedy_within_treated_ci"] is True


def test_a_change_the_treated_run_did_not_show_has_no_share_interval(runs):
    d = compare(runs["base"], [runs["same"], runs["unlearn"]], SETTINGS,
                names=["base", "same", "fix"], remedies={"fix": "same"})
    rows = d["remedies"]["fix"]["metrics"]
    assert len(rows) == 6
    assert all(r["kind"] == "unchanged" and r["share"] is None for r in rows)
    assert all(r["share_ci"] == [None, None] and not r["estimable"] for r in rows)


def test_share_interval_covers_the_true_share():
    # 300 resampled worlds with a known recovery: 40 % of a 20-point loss comes back
    rng = np.random.default_rng(0)
    n, hits, worlds = 300, 0, 200
    for i in range(worlds):
        rows = tuple([{"sample_id": j, "scores": {"acc": float(rng.random() < p)}}
                      for j in range(n)] for p in (0.7, 0.5, 0.58))
        (row,), _ = metric_rows([ThreeWay("t", "multiple_choice", rows)], {"t": ["acc"]},
                                n_boot=400, seed=i, level=0.9)
        lo, hi = row["share_ci"]
        hits += lo is not None and lo <= 0.4 <= hi
    # a 90 % interval; the binomial sd of the count is about 4 of 200
    assert 0.82 <= hits / worlds <= 0.97, hits


@pytest.mark.parametrize("remedies,needle", [
    ({"fixed": "synthetic_qa"}, "names fixed, not a candidate"),
    ({"unlearn": "unlearn"}, "not from itself"),
    ({"unlearn": "synthetic_qa", "synthetic_qa": "unlearn"}, "is itself a remedy"),
])
def test_bad_remedies_are_refused_before_any_work(runs, remedies, needle):
    with pytest.raises(UserError, match=needle):
        compare(runs["base"], [runs["synthetic_qa"], runs["unlearn"]], SETTINGS,
                names=NAMES, remedies=remedies)


def test_the_cli_compares_and_renders_the_remedy(runs, tmp_path):
    out = tmp_path / "out"
    r = subprocess.run(
        [sys.executable, "-m", "evalsuite.compare", f"baseline={runs['base']}",
         f"candidate=[{runs['synthetic_qa']},{runs['unlearn']}]",
         "names=[base,synthetic_qa,synthetic_qa+unlearn]",
         "remedy={synthetic_qa+unlearn:synthetic_qa}", f"out={out}", "embeddings=false",
         "explorer=false", "n_boot=1000"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "synthetic_qa+unlearn, remedy of synthetic_qa" in r.stdout
    assert "inst_level_strict_acc        recovered" in r.stdout
    d = load_drift(out)  # through the typed records
    assert set(d["remedies"]) == {"synthetic_qa+unlearn"}
    md = (out / "report.md").read_text()
    assert "What synthetic_qa+unlearn gave back of synthetic_qa's change" in md
    assert "**synthetic_qa+unlearn** against **synthetic_qa**, the checkpoint it started" in md
    assert "figures/remedy.png" in md and (out / "figures" / "remedy.png").stat().st_size > 5000
    tex = (out / "tables" / "remedy_synthetic_qa_unlearn.tex").read_text()
    assert r"\begin{tabular}" in tex and "recovered" in tex
    share = d["remedies"]["synthetic_qa+unlearn"]["metrics"]
    inst = next(x for x in share if x["metric"] == "inst_level_strict_acc")
    assert f"recovered {100 * inst['share']:.0f} %" in md

    bad = subprocess.run(
        [sys.executable, "-m", "evalsuite.compare", f"baseline={runs['base']}",
         f"candidate=[{runs['synthetic_qa']},{runs['unlearn']}]", "remedy=[a,b]",
         f"out={tmp_path / 'bad'}", "embeddings=false"], capture_output=True, text=True,
        timeout=300)
    assert bad.returncode == 2 and not (tmp_path / "bad").exists()
    assert bad.stderr.strip().splitlines()[-1].startswith("evalsuite: remedy must map")


def test_the_remedy_control(runs, drift):
    v = remedy_control(drift, "unlearn")
    assert v.passed, v.lines()
    names = [c.name for c in v.checks]
    assert names == ["template pattern rate fell", "instruction-level IFEval drop recovered",
                     "benchmark average kept"]
    # the remedy judged against a checkpoint that did not drift: nothing to undo
    d = compare(runs["base"], [runs["same"], runs["unlearn"]], SETTINGS,
                names=["base", "same", "fix"], remedies={"fix": "same"})
    v = remedy_control(d, "fix")
    checks = {c.name: c for c in v.checks}
    assert checks["template pattern rate fell"].inconclusive
    assert checks["instruction-level IFEval drop recovered"].inconclusive
    # ... and a "remedy" that undid the benchmark gain fails the third check
    d = compare(runs["base"], [runs["synthetic_qa"], runs["same"]], SETTINGS,
                names=["base", "synthetic_qa", "undo"], remedies={"undo": "synthetic_qa"})
    v = remedy_control(d, "undo")
    checks = {c.name: c for c in v.checks}
    assert not checks["benchmark average kept"].passed and v.outcome == "failed"
    assert checks["instruction-level IFEval drop recovered"].passed  # all of it came back


def test_a_report_without_remedies_has_no_remedy_section(runs, tmp_path):
    d = compare(runs["base"], [runs["synthetic_qa"]], SETTINGS, names=NAMES[:2])
    assert "remedies" not in d
    render_report(d, tmp_path)
    assert not (tmp_path / "figures" / "remedy.png").exists()
    assert "gave back" not in (tmp_path / "report.md").read_text()


def test_the_ablation_table_has_a_row_per_term_set(runs, tmp_path):
    from evalsuite.demo._ablation import REMEDY, write
    from evalsuite.demo._controls import remedy as control

    records = []
    for name, fix, weights in (("forget", runs["unlearn"], (1.0, 0.0, 0.0)),
                               ("all", runs["same"], (1.0, 1.0, 1.0))):
        d = compare(runs["base"], [runs["synthetic_qa"], fix], SETTINGS,
                    names=["base", "synthetic_qa", REMEDY], remedies={REMEDY: "synthetic_qa"})
        out = tmp_path / "ablation" / name
        out.mkdir(parents=True)
        (out / "drift.json").write_text(json.dumps(d))
        records.append({"out": str(out), "remedy": control(d, REMEDY).to_dict(), "demo": {
            "ablation": name, "unlearn": dict(zip(("forget_weight", "replay_weight",
                                                   "kl_weight"), weights, strict=True))}})
    path = write(records, ["forget", "replay", "all"])
    assert path == tmp_path / "ablation" / "ablation.md"
    md = path.read_text()
    lines = [x for x in md.splitlines() if x.startswith("| forget")]
    assert len(lines) == 2, md
    assert lines[0].startswith("| forget |") and "passed" in lines[0]
    assert lines[1].startswith("| forget + replay + kl |") and "failed" in lines[1]
    assert "Not in the table (the job did not finish): replay." in md
    rows = list(csv.DictReader((path.parent / "ablation.csv").open()))
    inst = compare(runs["base"], [runs["synthetic_qa"], runs["unlearn"]], SETTINGS,
                   names=NAMES, remedies={"unlearn": "synthetic_qa"})["remedies"]["unlearn"]
    want = next(m for m in inst["metrics"] if m["metric"] == "inst_level_strict_acc")["share"]
    assert float(rows[0]["inst_strict_share"]) == pytest.approx(want)
    assert float(rows[1]["kl_weight"]) == 1.0 and float(rows[0]["replay_weight"]) == 0.0
    assert r"\begin{tabular}" in (path.parent / "ablation.tex").read_text()
