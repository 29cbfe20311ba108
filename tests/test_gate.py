"""The drift gate (issue 16): compare ... gate={PATTERN: TOLERANCE} junit=PATH exits 3
when a metric drops significantly past its tolerance, writes a JUnit file CI systems
read, and refuses a gate that would pass by matching nothing."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from evalsuite.drift import gate
from evalsuite.errors import UserError
from tests.conftest import run_cli
from tests.stored_runs import IF_TASK, MC_TASK, write_run

FAST = ("n_boot=300", "embeddings=false", "render=false", "explorer=false")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("gate")
    # instruction following falls from 0.8 to 0.35 (significant); MC rises
    base = write_run(tmp / "base", "base", seed=1, if_pass=0.8, mc_pass=0.5)
    cand = write_run(tmp / "cand", "tuned", seed=2, if_pass=0.35, mc_pass=0.7)
    return base, cand


def _compare(runs, tmp: Path, *args: str):
    base, cand = runs
    return run_cli(f"baseline={base}", f"candidate={cand}", f"out={tmp / 'out'}", *FAST,
                   *args, module="evalsuite.compare", cwd=tmp)


def test_a_failing_gate_exits_3_with_a_line_per_violation_and_a_junit_file(runs, tmp_path):
    junit = tmp_path / "ci" / "gate.xml"
    r = _compare(runs, tmp_path, "gate={ifeval*/inst_level_*:0.05,acc:0.01}",
                 f"junit={junit}")
    assert r.returncode == gate.GATE_FAILED, r.stderr[-2000:]
    lines = r.stderr.strip().splitlines()
    failed = [x for x in lines if x.startswith("gate FAILED")]
    assert {x.split()[6] for x in failed} == {"inst_level_strict_acc", "inst_level_loose_acc"}
    assert lines[-1].startswith("evalsuite: gate failed: 2 of 3 gated metrics")
    assert len(lines) == len(failed) + 1  # nothing else on stderr
    drift = json.loads((tmp_path / "out" / "drift.json").read_text())  # the report is kept
    summary = drift["gate"]
    assert summary["passed"] is False and summary["failures"] == 2
    assert summary["rules"] == {"ifeval*/inst_level_*": 0.05, "acc": 0.01}
    by = {(c["task"], c["metric"]): c for c in summary["checks"]}
    (comp,) = drift["comparisons"].values()
    strict = comp["tasks"][IF_TASK]["metrics"]["inst_level_strict_acc"]
    assert by[(IF_TASK, "inst_level_strict_acc")]["drop"] == pytest.approx(-strict["delta"])
    assert by[(MC_TASK, "acc")]["passed"]  # it rose: a gain never fails a gate
    assert (MC_TASK, "acc_norm") not in by  # `acc` names that metric only
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites" and root.get("tests") == "3" and root.get("failures") == "2"
    (suite,) = root
    assert suite.get("name") == "base -> tuned"
    cases = {(c.get("classname"), c.get("name")): c for c in suite.iter("testcase")}
    assert cases[(IF_TASK, "inst_level_strict_acc")].find("failure") is not None
    assert cases[(MC_TASK, "acc")].find("failure") is None


def test_the_report_says_what_failed_the_gate(runs, tmp_path):
    r = _compare(runs, tmp_path, "gate={inst_level_strict_acc:0.05}", "render=true")
    assert r.returncode == gate.GATE_FAILED, r.stderr[-2000:]
    md = (tmp_path / "out" / "report.md").read_text()
    assert "**Gate failed.** 1 of 1 gated metrics" in md and "`inst_level_strict_acc`" in md
    assert "Gate failed." in (tmp_path / "out" / "report.html").read_text()


def test_a_passing_gate_exits_0_and_says_so(runs, tmp_path):
    junit = tmp_path / "gate.xml"
    r = _compare(runs, tmp_path, "gate={inst_level_strict_acc:0.9}", f"junit={junit}")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "gate passed: 1 gated metrics" in r.stdout
    assert ET.parse(junit).getroot().get("failures") == "0"


@pytest.mark.parametrize(("args", "needle"), [
    (("gate={ifevel*/inst_level_strict_acc:0.02}",), "matches no compared metric"),
    (("gate={acc:-0.1}",), "a number of 0 or more"),
    (("gate={acc:lots}",), "a number of 0 or more"),
    (("gate=0.02",), "gate must map metrics"),
    (("gate={a/b/c:0.1}",), "METRIC or TASK/METRIC"),
    (("junit=x.xml",), "give the gate too"),
])
def test_a_bad_gate_is_one_line_and_writes_nothing(runs, tmp_path, args, needle):
    r = _compare(runs, tmp_path, *args)
    assert r.returncode == 2 and needle in r.stderr, r.stderr[-2000:]
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() and not (tmp_path / "x.xml").exists()


def _drift(metrics: dict) -> dict:
    return {"comparisons": {"c": {"tasks": {"t": {"metrics": metrics}}}}}


def test_the_strictest_matching_rule_applies_and_only_significant_drops_fail():
    rules = gate.parse_rules({"*": 0.5, "t/acc": 0.01})
    drift = _drift({"acc": {"delta": -0.1, "significant": True, "p_holm": 0.001},
                    "f1": {"delta": -0.1, "significant": True, "p_holm": 0.001},
                    "em": {"delta": -0.9, "significant": False, "p_holm": 0.2}})
    checks = {c.metric: c for c in gate.check(drift, rules)}
    assert checks["acc"].tolerance == 0.01 and not checks["acc"].passed
    assert checks["f1"].tolerance == 0.5 and checks["f1"].passed
    assert checks["em"].passed  # large, but not significant: maybe noise


def test_a_rise_in_a_lower_is_better_metric_is_a_drop():
    rules = gate.parse_rules({"word_perplexity": 0.5})
    (c,) = gate.check(_drift({"word_perplexity": {"delta": 2.0, "significant": True}}), rules)
    assert c.drop == 2.0 and not c.passed


def test_true_is_not_a_tolerance():
    with pytest.raises(UserError, match="a number of 0 or more"):
        gate.parse_rules({"acc": True})


def test_a_junit_path_that_cannot_be_written_is_refused_before_any_work(runs, tmp_path):
    (tmp_path / "adir").mkdir()
    r = _compare(runs, tmp_path, "gate={acc:0.1}", f"junit={tmp_path / 'adir'}")
    assert r.returncode == 2 and "is not a file path that can be written" in r.stderr
    assert not (tmp_path / "out").exists()
