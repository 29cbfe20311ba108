"""A user's own data file (suite.tasks.T.data_file) with malformed rows: the run goes on
over the good rows, and each bad row becomes a sample record naming its line and fault."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalsuite.drift.runs import load_run
from evalsuite.errors import UserError
from evalsuite.tasks.data import ifeval_path, ifeval_row_problem, malformed_rows
from evalsuite.tasks.rows import check_rows, error_records, read_rows, text_field

from .conftest import read_rows as read_samples
from .conftest import run_cli


def _shipped(n: int) -> list[dict]:
    lines = ifeval_path().read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines[:n]]


def _ifeval_file(tmp: Path) -> tuple[Path, list[dict]]:
    """Three good IFEval rows (the first of the shipped file) and three broken ones."""
    good = _shipped(3)
    unknown = {**good[0], "instruction_id_list": ["keywords:no_such_check"], "kwargs": [{}]}
    mismatched = {**good[1], "kwargs": []}
    lines = [json.dumps(good[0]), '{"prompt": "truncated row", "instruction_id_l',
             json.dumps(good[1]), json.dumps(unknown), "", json.dumps(mismatched),
             json.dumps(good[2])]
    path = tmp / "my_ifeval.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, good


def test_read_rows_keeps_good_rows_and_sets_bad_ones_aside(tmp_path: Path):
    path, good = _ifeval_file(tmp_path)
    rows = read_rows(path, ifeval_row_problem)
    assert [r["key"] for r in rows] == [g["key"] for g in good]
    assert [r["evalsuite_line"] for r in rows] == [1, 3, 7]
    good_again, bad = check_rows(path, ifeval_row_problem)
    assert good_again == rows  # one pure check: the loader's rows and the runner's agree
    assert [b["line"] for b in bad] == [2, 4, 6]
    assert bad[0]["error"].startswith("not valid JSON")
    assert bad[1]["error"] == "unknown instruction id 'keywords:no_such_check'"
    assert "'kwargs' must be a list of" in bad[2]["error"]
    assert malformed_rows("ifeval_offline", path) == bad  # what the runner records
    recs = error_records(bad)
    assert recs[0]["sample_id"] == "line-2" and recs[0]["error"].startswith("line 2: ")
    assert recs[0]["response"] is None and recs[0]["scores"] == {}


@pytest.mark.parametrize("row, needle", [
    ([1, 2], "must be a JSON object"),
    ({"instruction_id_list": []}, "'prompt' must be a non-empty string, and is missing"),
    ({"prompt": "x", "instruction_id_list": "punctuation:no_comma", "kwargs": [{}]},
     "'instruction_id_list' must be a non-empty list"),
    ({"prompt": "x", "instruction_id_list": ["length_constraints:number_words"],
      "kwargs": [{"num_words": 5, "relation": "roughly"}]},
     "instruction length_constraints:number_words: ValueError"),
    ({"prompt": "x", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}],
      "key": "seven"}, "'key' must be an integer"),
])
def test_ifeval_row_problems(row, needle):
    assert needle in ifeval_row_problem(row)


def test_good_ifeval_rows_pass():
    assert all(ifeval_row_problem(r) is None for r in _shipped(50))


def test_text_field():
    assert text_field({"instruction": "Say hi"}, "instruction") is None
    assert "non-empty" in text_field({"instruction": "  "}, "instruction")


def test_a_file_without_a_good_row_is_one_error(tmp_path: Path):
    path = tmp_path / "bad.jsonl"
    path.write_text("not json\n{}\n")
    with pytest.raises(UserError, match=r"has no usable row \(line 1: not valid JSON"):
        read_rows(path, ifeval_row_problem)


def test_data_file_on_a_task_that_reads_none_is_one_line(tmp_path: Path):
    proc = run_cli("+model=smollm2_135m", f"+suite.tasks.arc_easy_offline.data_file={tmp_path}",
                   f"hydra.run.dir={tmp_path}/r")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(
        "evalsuite: suite.tasks.arc_easy_offline.data_file: arc_easy_offline reads no data_file")


def test_missing_data_file_is_one_line(tmp_path: Path):
    proc = run_cli("+model=smollm2_135m", "tasks=[ifeval_offline]",
                   f"+suite.tasks.ifeval_offline.data_file={tmp_path}/nope.jsonl",
                   f"hydra.run.dir={tmp_path}/r")
    assert proc.returncode == 2
    assert "nope.jsonl does not exist: fix the path" in proc.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "r").exists()


def test_a_data_file_without_a_good_row_is_refused_before_the_model_loads(tmp_path: Path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instructions": "typo"}\n')
    proc = run_cli("+model=smollm2_135m", "backend=hf", "tasks=[alpaca_probe_offline]",
                   f"+suite.tasks.alpaca_probe_offline.data_file={bad}",
                   f"hydra.run.dir={tmp_path}/r")
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert "bad.jsonl has no usable row (line 1: 'instruction'" in last
    assert "loading" not in (proc.stdout + proc.stderr).lower()  # no model was loaded
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_malformed_rows_are_recorded_and_the_run_goes_on(tmp_path: Path):
    ifeval, good = _ifeval_file(tmp_path)
    probe = tmp_path / "my_probe.jsonl"
    probe.write_text('{"instruction": "Name a colour."}\n{"instructions": "typo"}\n'
                     '{"instruction": "Count to three."}\n')
    run = tmp_path / "run"
    proc = run_cli("+model=smollm2_135m", "backend=hf",
                   "tasks=[ifeval_offline,alpaca_probe_offline]", "max_gen_toks=24",
                   f"+suite.tasks.ifeval_offline.data_file={ifeval}",
                   f"+suite.tasks.alpaca_probe_offline.data_file={probe}",
                   f"hydra.run.dir={run}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "3 malformed rows" in proc.stdout + proc.stderr

    rows = read_samples(run)
    scored = [r for r in rows if "error" not in r]
    errors = [r for r in rows if "error" in r]
    assert [r["doc"]["key"] for r in scored] == [g["key"] for g in good]
    assert [r["prompt"] for r in scored] != [None] * 3
    assert [e["sample_id"] for e in errors] == ["line-2", "line-4", "line-6"]
    assert "unknown instruction id" in errors[1]["error"]
    manifest = json.loads((run / "manifest.json").read_text())
    info = manifest["tasks"]["ifeval_offline"]
    assert info["malformed_rows"] == 3 and info["n_samples"] == 3
    assert info["data_file"]["path"] == str(ifeval.resolve())
    assert len(info["data_file"]["sha256"]) == 64
    # the metric is over the good rows only: the mean of their own per-sample verdicts
    metrics = json.loads((run / "metrics.json").read_text())["ifeval_offline"]
    per_sample = [r["scores"]["prompt_level_strict_acc"] for r in scored]
    assert metrics["prompt_level_strict_acc"] == pytest.approx(sum(per_sample) / 3)

    probe_rows = read_samples(run, "alpaca_probe_offline")
    assert [r["prompt"] is None for r in probe_rows] == [False, False, True]
    assert "'instruction' must be a non-empty string, and is missing" in probe_rows[2]["error"]
    assert manifest["tasks"]["alpaca_probe_offline"]["malformed_rows"] == 1
    # the analysis reads the good samples only
    assert len(load_run(run).samples["ifeval_offline"]) == 3
