"""The answers beside the numbers: drift.json's examples and the report's Examples
section (issue 18)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from evalsuite.drift.analysis import CompareSettings, compare
from evalsuite.drift.distribution import DEFAULT_PATTERNS
from evalsuite.report import render_report
from evalsuite.schema import DriftReport, view
from tests.conftest import run_cli
from tests.stored_runs import IF_TASK, MC_TASK, write_run


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("runs")
    return (write_run(root / "base", "base", seed=1, if_pass=0.8, mc_pass=0.5),
            write_run(root / "cand", "cand", seed=2, if_pass=0.6, mc_pass=0.5, qa_share=0.3))


def _drift(pair, **kw) -> dict:
    return compare(pair[0], [pair[1]], CompareSettings(n_boot=200, embeddings=False, **kw))


def _rows(run: Path, task: str) -> dict:
    lines = (run / "samples" / f"{task}.jsonl").read_text().splitlines()
    return {r["sample_id"]: r for r in map(json.loads, lines)}


def test_flipped_pairs_are_the_flips_the_statistics_count(pair):
    drift = _drift(pair)
    comp = drift["comparisons"]["cand"]
    ex = comp["examples"][IF_TASK]
    assert MC_TASK not in comp["examples"]  # generation tasks only
    assert ex["metric"] == "prompt_level_strict_acc"
    flips = comp["tasks"][IF_TASK]["metrics"]["prompt_level_strict_acc"]["flips"]
    by_kind = {s["kind"]: s for s in ex["sections"] if s["kind"] != "pattern"}
    assert by_kind["lost"]["total"] == flips["lost"] > 3
    assert by_kind["gained"]["total"] == flips["gained"]
    base, cand = _rows(pair[0], IF_TASK), _rows(pair[1], IF_TASK)
    for kind, (before, after) in (("lost", (1.0, 0.0)), ("gained", (0.0, 1.0))):
        assert 0 < len(by_kind[kind]["examples"]) <= 3
        for e in by_kind[kind]["examples"]:
            sid = e["sample_id"]
            # what the example says is what the runs stored
            assert float(base[sid]["scores"]["prompt_level_strict_acc"]) == before
            assert float(cand[sid]["scores"]["prompt_level_strict_acc"]) == after
            assert e["baseline"]["response"] == base[sid]["response"]
            assert e["candidate"]["response"] == cand[sid]["response"]
            assert [i["strict"] for i in e["candidate"]["instructions"]] == \
                [i["strict"] for i in cand[sid]["instructions"]]
            assert e["prompt"] == base[sid]["prompt"]
    DriftReport.model_validate(drift)


def test_pattern_examples_match_their_pattern_and_new_matches_come_first(pair):
    ex = _drift(pair)["comparisons"]["cand"]["examples"][IF_TASK]
    base = _rows(pair[0], IF_TASK)
    regex = {p.name: p.regex for p in DEFAULT_PATTERNS}
    sections = [s for s in ex["sections"] if s["kind"] == "pattern"]
    assert {s["pattern"] for s in sections} == set(regex)
    shown = 0
    for s in sections:
        for e in s["examples"]:
            assert re.search(regex[s["pattern"]], e["candidate"]["response"], re.MULTILINE)
            assert s["pattern"] in e["candidate"]["patterns"]
            assert not re.search(regex[s["pattern"]], base[e["sample_id"]]["response"],
                                 re.MULTILINE)  # the stored runs' baseline never writes it
            shown += 1
    assert shown >= 3


def test_random_pairs_follow_the_seed_and_the_count_is_a_setting(pair):
    def ids(drift: dict) -> list:
        (s,) = [s for s in drift["comparisons"]["cand"]["examples"][IF_TASK]["sections"]
                if s["kind"] == "random"]
        return [e["sample_id"] for e in s["examples"]]

    assert ids(_drift(pair, seed=3)) == ids(_drift(pair, seed=3))
    assert len({tuple(ids(_drift(pair, seed=s))) for s in range(4)}) > 1
    assert len(ids(_drift(pair, examples=7))) == 7
    assert _drift(pair, examples=0)["comparisons"]["cand"]["examples"] == {}


def test_the_report_shows_each_pair_once_and_escapes_the_answers(tmp_path: Path):
    hostile = "<script>alert(1)</script> ```not a fence``` Question: again"
    responses = [hostile if i % 2 else f"plain answer {i}" for i in range(12)]
    base = write_run(tmp_path / "b", "base", seed=1, if_pass=0.9, mc_pass=0.5)
    cand = write_run(tmp_path / "c", "cand", seed=2, if_pass=0.3, mc_pass=0.5,
                     responses=responses)
    base_resp = write_run(tmp_path / "b2", "base", seed=1, if_pass=0.9, mc_pass=0.5,
                          responses=[f"first answer {i}" for i in range(12)])
    drift = compare(base_resp, [cand], CompareSettings(n_boot=100, embeddings=False))
    render_report(view(DriftReport.model_validate(drift)), tmp_path / "out")
    page = (tmp_path / "out" / "report.html").read_text()
    md = (tmp_path / "out" / "report.md").read_text()
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'id="examples"' in page and "## Examples" in md
    # the answer's backticks cannot close the block it is shown in
    assert "````text" in md
    section = md[md.index("## Examples"):]
    shown = re.findall(r"^\*Sample (\d+)\.\*", section, re.MULTILINE)
    assert shown and len(shown) == len(set(shown))  # one pair, one place
    assert "Drawn at random" in section and "Passed before, failed after" in section
    assert base.is_dir()


def test_compare_cli_takes_examples_and_refuses_a_bad_count(pair, tmp_path: Path):
    out = tmp_path / "cmp"
    r = run_cli(f"baseline={pair[0]}", f"candidate={pair[1]}", f"out={out}", "n_boot=100",
                "embeddings=false", "render=false", "examples=1",
                module="evalsuite.compare", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    drift = json.loads((out / "drift.json").read_text())
    assert drift["settings"]["examples"] == 1
    assert all(len(s["examples"]) <= 1
               for s in drift["comparisons"]["cand"]["examples"][IF_TASK]["sections"])
    for i, bad in enumerate(("examples=-1", "examples=1000", "examples=lots")):
        r = run_cli(f"baseline={pair[0]}", f"candidate={pair[1]}", f"out={tmp_path / str(i)}",
                    bad, module="evalsuite.compare", cwd=tmp_path)
        assert r.returncode == 2 and "examples must be an integer from 0 to 100" in r.stderr
        assert not (tmp_path / str(i)).exists()
    r = run_cli(f"baseline={pair[0]}", f"candidate={pair[1]}", f"out={tmp_path / 'p'}",
                "embeddings_precision=fp16", module="evalsuite.compare", cwd=tmp_path)
    assert r.returncode == 2 and "embeddings_precision must be one of auto, fp32, bf16" in r.stderr
    assert not (tmp_path / "p").exists()


def test_a_drift_json_from_before_examples_still_renders(pair, tmp_path: Path):
    drift = _drift(pair)
    for comp in drift["comparisons"].values():
        del comp["examples"]
    render_report(view(DriftReport.model_validate(drift)), tmp_path)
    assert "## Examples" not in (tmp_path / "report.md").read_text()
