"""drift.json as tidy pandas frames: the one place that knows its layout.

Tables, figures and the written summary all read these frames, so a number in a
table, on a figure and in the text is the same number.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import pandas as pd

from evalsuite.tasks.metrics import IF_METRICS, PRIMARY

# Short names a paper uses; unknown tasks keep their own name (minus "_offline").
TASK_NAMES = {
    "mmlu": "MMLU", "arc_challenge": "ARC-C", "arc_easy": "ARC-E", "hellaswag": "HellaSwag",
    "boolq": "BoolQ", "piqa": "PIQA", "winogrande": "WinoG", "gsm8k_cot": "GSM8K",
    "gsm8k": "GSM8K", "ifeval": "IFEval", "ifbench": "IFBench", "mt_bench": "MT-Bench",
    "openbookqa": "OBQA", "sciq": "SciQ", "truthfulqa_mc2": "TruthfulQA",
}
METRIC_NAMES = {
    "prompt_level_strict_acc": "P-S", "inst_level_strict_acc": "I-S",
    "prompt_level_loose_acc": "P-L", "inst_level_loose_acc": "I-L",
    "acc": "acc", "acc_norm": "acc_n", "exact_match,strict-match": "EM strict",
    "exact_match,flexible-extract": "EM flex", "exact_match": "EM",
}
METRIC_LONG = {
    "prompt_level_strict_acc": "prompt-level strict accuracy",
    "inst_level_strict_acc": "instruction-level strict accuracy",
    "prompt_level_loose_acc": "prompt-level loose accuracy",
    "inst_level_loose_acc": "instruction-level loose accuracy",
    "acc": "accuracy", "acc_norm": "length-normalised accuracy",
    "exact_match,strict-match": "exact match (strict)",
    "exact_match,flexible-extract": "exact match (flexible)",
}
BENCHMARKS, INSTRUCTION = "Benchmarks", "Instruction following"


def task_name(task: str) -> str:
    base = task.removesuffix("_offline")
    return TASK_NAMES.get(base, base)


def metric_name(metric: str) -> str:
    return METRIC_NAMES.get(metric, metric)


def metric_long(metric: str) -> str:
    return METRIC_LONG.get(metric, metric)


def checkpoints(drift: dict[str, Any]) -> list[str]:
    """Labels in table order: baseline first, then candidates as given."""
    return [drift["baseline"]["label"], *drift["comparisons"]]


def instruction_tasks(drift: dict[str, Any]) -> set[str]:
    """Tasks scored per instruction (IFEval-style): categories or IFEval metric names."""
    out: set[str] = set()
    for comp in drift["comparisons"].values():
        out.update(r["task"] for r in comp.get("categories", ()))
        for task, t in comp["tasks"].items():
            if set(t["metrics"]) & set(IF_METRICS):
                out.add(task)
    return out


def scores(drift: dict[str, Any]) -> pd.DataFrame:
    """One row per checkpoint, task and metric (every metric drift.json has).

    Columns: checkpoint, role, task, metric, family, value, value_ci_low, value_ci_high,
    delta, ci_low, ci_high, p_value, p_holm, significant, test, n, flips_lost,
    flips_gained, forgetting, mde (the change detectable with 80 % power). A baseline
    row comes from the first comparison that has the task (the baseline's values are the
    same in each, unless a candidate lacks some samples; each candidate's delta is
    against its own paired samples).
    """
    if_tasks = instruction_tasks(drift)
    rows: list[dict[str, Any]] = []
    base = drift["baseline"]["label"]
    seen: set[tuple[str, str]] = set()
    for label, comp in drift["comparisons"].items():
        for task, t in comp["tasks"].items():
            family = INSTRUCTION if task in if_tasks else BENCHMARKS
            for metric, r in t["metrics"].items():
                common = {"task": task, "metric": metric, "family": family,
                          "version": t.get("version"), "n": r.get("n")}
                if (task, metric) not in seen:
                    seen.add((task, metric))
                    lo, hi = _pair(r.get("baseline_ci"))
                    rows.append({**common, "checkpoint": base, "role": "baseline",
                                 "value": r.get("baseline"), "value_ci_low": lo,
                                 "value_ci_high": hi})
                lo, hi = _pair(r.get("candidate_ci"))
                flips = r.get("flips") or {}
                rows.append({
                    **common, "checkpoint": label, "role": "candidate",
                    "value": r.get("candidate"), "value_ci_low": lo, "value_ci_high": hi,
                    "delta": r.get("delta"), "ci_low": r.get("ci_low"),
                    "ci_high": r.get("ci_high"), "p_value": r.get("p_value"),
                    "p_holm": r.get("p_holm"), "significant": r.get("significant"),
                    "test": r.get("test"), "flips_lost": flips.get("lost"),
                    "flips_gained": flips.get("gained"),
                    "forgetting": r.get("forgetting_chance_adjusted"), "mde": r.get("mde")})
    cols = ["checkpoint", "role", "task", "metric", "family", "version", "n", "value",
            "value_ci_low", "value_ci_high", "delta", "ci_low", "ci_high", "p_value",
            "p_holm", "significant", "test", "flips_lost", "flips_gained", "forgetting",
            "mde"]
    return pd.DataFrame(rows, columns=cols)


def _pair(value: Any) -> tuple[float | None, float | None]:
    if isinstance(value, list | tuple) and len(value) == 2:
        return value[0], value[1]
    return None, None


def headline_metrics(drift: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(family, task, metric) columns of the main table: benchmarks first, one metric
    each (acc_norm over acc, ...), then instruction-following tasks with their four
    IFEval metrics."""
    if_tasks = instruction_tasks(drift)
    tasks: dict[str, list[str]] = {}  # every task any candidate shares with the baseline
    for comp in drift["comparisons"].values():
        for task, t in comp["tasks"].items():
            have = tasks.setdefault(task, [])
            have.extend(m for m in t["metrics"] if m not in have)
    bench, instr = [], []
    for task, metrics in tasks.items():
        if task in if_tasks:
            instr.extend((INSTRUCTION, task, m) for m in IF_METRICS if m in metrics)
            continue
        pick = next((m for m in PRIMARY if m in metrics), metrics[0] if metrics else None)
        if pick is not None:
            bench.append((BENCHMARKS, task, pick))
    return bench + instr


def categories(drift: dict[str, Any]) -> pd.DataFrame:
    """Instruction categories: one row per checkpoint, task, category and level."""
    rows: list[dict[str, Any]] = []
    base = drift["baseline"]["label"]
    seen: set[tuple[str, str, str]] = set()
    for label, comp in drift["comparisons"].items():
        for r in comp.get("categories", ()):
            common = {"task": r["task"], "category": r["category"], "level": r["level"],
                      "n": r.get("n_units")}
            if (r["task"], r["category"], r["level"]) not in seen:
                seen.add((r["task"], r["category"], r["level"]))
                rows.append({**common, "checkpoint": base, "role": "baseline",
                             "value": r["baseline"]})
            rows.append({**common, "checkpoint": label, "role": "candidate",
                         "value": r["candidate"], "delta": r["delta"],
                         "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                         "p_value": r["p_value"], "p_holm": r.get("p_holm")})
    return pd.DataFrame(rows, columns=["checkpoint", "role", "task", "category", "level", "n",
                                       "value", "delta", "ci_low", "ci_high", "p_value",
                                       "p_holm"])


def generation_tasks(drift: dict[str, Any]) -> list[str]:
    """Tasks with distribution measures, the largest first (instruction tasks win ties)."""
    if_tasks = instruction_tasks(drift)
    sizes: dict[str, int] = {}
    for comp in drift["comparisons"].values():
        for task, d in comp.get("distribution", {}).items():
            sizes[task] = max(sizes.get(task, 0), int(d.get("n") or 0))
    return sorted(sizes, key=lambda t: (-(t in if_tasks), -sizes[t], t))


def base_distribution(drift: dict[str, Any], task: str) -> dict[str, Any] | None:
    """The distribution measures of ``task`` from the first comparison that has them
    (their baseline side is the baseline's)."""
    for comp in drift["comparisons"].values():
        d = comp.get("distribution", {}).get(task)
        if d:
            return d
    return None


def sweep_values(drift: dict[str, Any]) -> dict[str, Any] | None:
    """{"key": swept config key, "values": {label: value}} when drift.json has a sweep."""
    sweep = drift.get("sweep")
    if not sweep or not sweep.get("values"):
        return None
    return sweep


def finite(x: Any) -> bool:
    """A real, finite number (numbers.Real covers numpy's scalars, which pandas hands back)."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def _finite(x: Any) -> float | None:
    return float(x) if finite(x) else None


def embedding_shift(emb: dict[str, Any] | None) -> tuple[float | None, float | None]:
    """(two-sample AUC, Frechet distance) of a task's embeddings; None where drift.json
    has none or a null (the AUC needs 5 paired samples per class, the distance two)."""
    if not emb:
        return None, None
    return (_finite((emb.get("classifier_two_sample") or {}).get("auc")),
            _finite(emb.get("frechet_distance")))
