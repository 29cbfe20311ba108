"""Random corruptions of real files (run directories, drift.json, data files) fed to the
readers, the comparison and the report: each is read, or refused with one UserError line;
never any other exception. Hypothesis draws the corruptions (derandomized: CI sees the
same few hundred cases on every run, and a failure prints the case that broke)."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import evalsuite
from evalsuite.drift import CompareSettings, compare
from evalsuite.errors import UserError
from evalsuite.tasks.data import ifeval_path, ifeval_row_problem
from evalsuite.tasks.rows import check_rows
from tests.stored_runs import write_run

FUZZ = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=6)


@st.composite
def corruptions(draw: Any) -> dict[str, Any]:
    """One way a file goes bad: cut short, a byte changed, or a JSON value replaced or
    removed somewhere inside (the shapes a crash, a bad disk or a hand edit leave)."""
    kind = draw(st.sampled_from(["truncate", "byte", "value", "drop"]))
    return {"kind": kind, "where": draw(st.floats(0, 1)), "byte": draw(st.integers(0, 255)),
            "path": draw(st.lists(st.integers(0, 50), min_size=1, max_size=6)),
            "value": draw(json_values)}


def _set_inside(data: Any, path: list[int], value: Any, drop: bool) -> Any:
    """``data`` with the node that ``path`` picks (indices taken modulo each container's
    size) replaced by ``value``, or removed."""
    if not isinstance(data, dict | list) or not data or not path:
        return value
    keys = list(data) if isinstance(data, dict) else list(range(len(data)))
    key = keys[path[0] % len(keys)]
    if len(path) == 1 or not isinstance(data[key], dict | list) or not data[key]:
        if drop:
            del data[key]
        else:
            data[key] = value
        return data
    data[key] = _set_inside(data[key], path[1:], value, drop)
    return data


def corrupt(file: Path, c: dict[str, Any]) -> None:
    raw = file.read_bytes()
    at = int(c["where"] * max(len(raw) - 1, 0))
    if c["kind"] == "truncate":
        file.write_bytes(raw[:at])
    elif c["kind"] == "byte":
        file.write_bytes(raw[:at] + bytes([c["byte"]]) + raw[at + 1:])
    else:
        drop = c["kind"] == "drop"
        if file.suffix == ".jsonl":
            lines = raw.decode().splitlines()
            i = c["path"][0] % len(lines)
            lines[i] = json.dumps(_set_inside(json.loads(lines[i]), c["path"][1:] or [0],
                                              c["value"], drop))
            file.write_text("\n".join(lines) + "\n")
        else:
            file.write_text(json.dumps(_set_inside(json.loads(raw), c["path"], c["value"], drop)))


def read_or_refuse(fn: Callable[[], Any]) -> Any:
    """Run ``fn``: a value, or None when it refused with a UserError; anything else fails
    the test, with the exception it raised."""
    try:
        return fn()
    except UserError as e:
        assert e.message and "\n" not in e.message.strip(), e.message
        return None


FEW = ["Yes, it is.", "No, it is not.", "Maybe later today.", "I cannot say that.",
       "Question: why?\nAnswer: because.", "Sure. Here are three points.", "Done.",
       "It depends on the weather."]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pristine")
    base = write_run(root / "base", "base", seed=1, if_pass=0.7, mc_pass=0.5, responses=FEW)
    cand = write_run(root / "cand", "cand", seed=2, if_pass=0.4, mc_pass=0.6, responses=FEW)
    drift = compare(base, [cand], CompareSettings(n_boot=50, embeddings=False))
    (root / "cmp").mkdir()
    (root / "cmp" / "drift.json").write_text(json.dumps(drift))
    data = root / "rows.jsonl"
    data.write_text("\n".join(ifeval_path().read_text(encoding="utf-8").splitlines()[:6]) + "\n")
    return {"base": base, "cand": cand, "drift": root / "cmp" / "drift.json", "data": data}


RUN_FILES = ["manifest.json", "metrics.json", "samples/ifeval_offline.jsonl",
             "samples/arc_easy_offline.jsonl"]


@FUZZ
@given(which=st.sampled_from(RUN_FILES), c=corruptions())
def test_a_corrupt_run_directory_is_compared_or_refused_in_one_line(pristine, which, c):
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        shutil.copytree(pristine["base"], run)
        corrupt(run / which, c)
        read_or_refuse(lambda: evalsuite.load_run(run))
        read_or_refuse(lambda: compare(run, [pristine["cand"]],
                                       CompareSettings(n_boot=20, embeddings=False)))


@FUZZ
@given(c=corruptions())
def test_a_corrupt_drift_json_is_reported_or_refused_in_one_line(pristine, c):
    from evalsuite.report import load_drift
    from evalsuite.report.summary import summarize
    from evalsuite.report.tables import write_tables

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        shutil.copy(pristine["drift"], out / "drift.json")
        corrupt(out / "drift.json", c)
        read_or_refuse(lambda: evalsuite.load_drift(out))
        drift = read_or_refuse(lambda: load_drift(out))
        if drift is not None:  # what validated must render (tables and text; figures
            # are drawn from the same frames, and take seconds each)
            read_or_refuse(lambda: (write_tables(drift, out / "tables"), summarize(drift)))


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(c=corruptions())
def test_a_corrupt_data_file_is_read_or_refused_in_one_line(pristine, c):
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "rows.jsonl"
        shutil.copy(pristine["data"], file)
        corrupt(file, c)
        good_bad = read_or_refuse(lambda: check_rows(file, ifeval_row_problem))
        if good_bad is not None:
            good, bad = good_bad
            assert good and len(good) + len(bad) <= 6 + 1
