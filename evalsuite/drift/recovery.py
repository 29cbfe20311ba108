"""What a remedy gave back: three runs of the same samples (the baseline, a treated
checkpoint, the remedy that started from it), metric by metric.

For each metric the share of the treated change the remedy undid,
``(remedy - treated) / (baseline - treated)``: for a metric the treatment lost it is
the share **recovered** (1: back to the baseline, 0: nothing back, above 1: past it);
for a metric it gained, ``1 - share`` is the share of the gain **kept**. Intervals are
percentile intervals over one paired bootstrap: each resample draws the same samples
from all three runs, so the three values move together as they do in the data. A share
is a ratio whose denominator is the treated change; where that change's own interval
holds 0 the ratio has no meaningful interval and none is given (``estimable`` false).

The benchmark average (each benchmark's headline metric, tasks weighted equally) gets
the same treatment, each task resampled on its own; template-pattern rates get a paired
McNemar test treated -> remedy, Holm-corrected within each task.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evalsuite.drift import distribution as dist
from evalsuite.drift import stats
from evalsuite.drift.pairing import PairedTask
from evalsuite.drift.scores import _sums
from evalsuite.tasks.metrics import IF_METRICS, PRIMARY, higher_is_better

RUNS = ("baseline", "treated", "remedy")


@dataclass
class ThreeWay:
    """One task's samples present in all three runs, in the baseline's order."""

    task: str
    output_type: str | None
    rows: tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]


def join(treated: Sequence[PairedTask], remedy: Sequence[PairedTask]) -> list[ThreeWay]:
    """Tasks paired baseline->treated and baseline->remedy, joined on the baseline's
    sample ids (samples missing from any run are left out)."""
    by_task = {p.task: p for p in remedy}
    out = []
    for pt in treated:
        pr = by_task.get(pt.task)
        if pr is None:
            continue
        rem = {b["sample_id"]: c for b, c in zip(pr.base, pr.cand, strict=True)}
        b_rows, t_rows, r_rows = [], [], []
        for b, t in zip(pt.base, pt.cand, strict=True):
            r = rem.get(b["sample_id"])
            if r is not None:
                b_rows.append(b)
                t_rows.append(t)
                r_rows.append(r)
        if b_rows:
            out.append(ThreeWay(pt.task, pt.output_type, (b_rows, t_rows, r_rows)))
    return out


def _weights(n: int, n_boot: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Resample counts (rows: resamples, columns: samples), in chunks of bounded size."""
    chunk = max(1, 4_000_000 // max(n, 1))
    for start in range(0, n_boot, chunk):
        rows = min(n_boot, start + chunk) - start
        idx = rng.integers(0, n, size=(rows, n))
        offsets = (np.arange(rows)[:, None] * n + idx).ravel()
        yield np.bincount(offsets, minlength=rows * n).reshape(rows, n).astype(float)


def _metric_series(tw: ThreeWay, metric: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(sums 3 x n, counts n) of a metric over the samples all three runs scored with
    the same number of values; None where no sample qualifies."""
    sums, counts = [], []
    for rows in tw.rows:
        s, c, _ = _sums([(r.get("scores") or {}).get(metric) for r in rows])
        sums.append(s)
        counts.append(c)
    ok = (counts[0] > 0) & (counts[0] == counts[1]) & (counts[0] == counts[2])
    if not ok.any():
        return None
    return np.stack([np.where(ok, s, 0.0) for s in sums]), np.where(ok, counts[0], 0.0)


def _interval(draws: np.ndarray, level: float) -> list[float | None]:
    finite = draws[np.isfinite(draws)]
    if finite.size == 0:
        return [None, None]
    a = (1 - level) / 2
    lo, hi = np.percentile(finite, [100 * a, 100 * (1 - a)])
    return [float(lo), float(hi)]


def _excludes_zero(iv: list[float | None]) -> bool:
    lo, hi = iv
    return lo is not None and hi is not None and (lo > 0 or hi < 0)


def _share_row(point: np.ndarray, draws: np.ndarray, level: float, higher: bool) -> dict[str, Any]:
    """Everything about one metric from its point values (baseline, treated, remedy) and
    their resampled values (n_boot x 3)."""
    b, t, r = (float(x) for x in point)
    change = t - b
    change_iv = _interval(draws[:, 1] - draws[:, 0], level)
    sign = 1 if higher else -1
    kind = "lost" if sign * change < 0 else "gained" if sign * change > 0 else "unchanged"
    row: dict[str, Any] = {
        "baseline": b, "treated": t, "remedy": r,
        "baseline_ci": _interval(draws[:, 0], level),
        "treated_ci": _interval(draws[:, 1], level),
        "remedy_ci": _interval(draws[:, 2], level),
        "treated_change": change, "treated_change_ci": change_iv,
        "remedy_change": r - t, "remedy_change_ci": _interval(draws[:, 2] - draws[:, 1], level),
        "remedy_vs_baseline": r - b,
        "remedy_vs_baseline_ci": _interval(draws[:, 2] - draws[:, 0], level),
        "kind": kind, "share": None, "share_ci": [None, None],
        "estimable": bool(kind != "unchanged" and _excludes_zero(change_iv)),
    }
    if kind == "unchanged":
        return row
    with np.errstate(divide="ignore", invalid="ignore"):
        undone = (draws[:, 2] - draws[:, 1]) / (draws[:, 0] - draws[:, 1])
    point_undone = (r - t) / (b - t)
    # lost: the share recovered; gained: the share of the gain kept
    if kind == "lost":
        row["share"], share_draws = point_undone, undone
    else:
        row["share"], share_draws = 1.0 - point_undone, 1.0 - undone
    if row["estimable"]:
        row["share_ci"] = _interval(share_draws, level)
    return row


def metric_rows(three: Sequence[ThreeWay], metrics: dict[str, list[str]], *, n_boot: int,
                seed: int, level: float) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Per (task, metric) rows, and the benchmark average (None without benchmarks).

    ``metrics``: task -> the metrics to analyse (the baseline's)."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    bench_draws: list[np.ndarray] = []
    bench_points: list[np.ndarray] = []
    bench_tasks: list[str] = []
    for tw in three:
        names = metrics.get(tw.task, [])
        series = {m: s for m in names if (s := _metric_series(tw, m)) is not None}
        if not series:
            continue
        n = len(tw.rows[0])
        keys = list(series)
        # one matrix: 3 runs' sums and the counts of every metric, resampled together
        mat = np.concatenate([np.vstack([series[m][0], series[m][1][None, :]]) for m in keys]).T
        draws = np.concatenate([w @ mat for w in _weights(n, n_boot, rng)])  # n_boot x 4m
        point = mat.sum(axis=0)
        is_if = any(m in IF_METRICS for m in names)
        # the average holds accuracies only (PRIMARY): a perplexity would swamp it
        primary = None if is_if else next((m for m in PRIMARY if m in series), None)
        headline = primary if primary is not None or is_if else keys[0]
        for j, m in enumerate(keys):
            cols = slice(4 * j, 4 * j + 3)
            cnt = 4 * j + 3
            with np.errstate(divide="ignore", invalid="ignore"):
                d = draws[:, cols] / draws[:, [cnt]]
            p = point[cols] / point[cnt]
            row = {"task": tw.task, "metric": m, "n": int(np.sum(series[m][1] > 0)),
                   "family": "instruction_following" if is_if else "benchmark",
                   "headline": m == headline or m in IF_METRICS,
                   **_share_row(p, d, level, higher_is_better(m))}
            rows.append(row)
            if m == primary:
                bench_draws.append(d)
                bench_points.append(p)
                bench_tasks.append(tw.task)
    average = None
    if bench_draws:
        average = {"tasks": bench_tasks, "metric": "average of each benchmark's headline metric",
                   **_share_row(np.mean(bench_points, axis=0), np.mean(bench_draws, axis=0),
                                level, True)}
        lo, hi = average["treated_ci"]
        average["remedy_within_treated_ci"] = bool(
            lo is not None and hi is not None and lo <= average["remedy"] <= hi)
        # what a remedy must not do: fall below the treated checkpoint's interval
        average["remedy_above_treated_ci_low"] = bool(lo is not None
                                                      and average["remedy"] >= lo)
    return rows, average


def pattern_rows(three: Sequence[ThreeWay], patterns: Sequence[dist.Pattern],
                 alpha: float) -> list[dict[str, Any]]:
    """Template-pattern rates of the three runs, with the paired test treated -> remedy
    (McNemar, Holm over each task's patterns)."""
    import re

    out: list[dict[str, Any]] = []
    for tw in three:
        if tw.output_type != "generate_until":
            continue
        texts = [[r.get("response") or "" for r in rows] for rows in tw.rows]
        task_rows = []
        for p in patterns:
            rx = re.compile(p.regex, re.MULTILINE)
            hits = [np.array([bool(rx.search(t)) for t in side]) for side in texts]
            task_rows.append({
                "task": tw.task, "pattern": p.name, "n": int(hits[0].size),
                **{k: float(h.mean()) for k, h in zip(RUNS, hits, strict=True)},
                "p_value": stats.mcnemar_exact(hits[1], hits[2]),
                "flips": stats.flips(hits[1], hits[2])})
        for row, ph in zip(task_rows, stats.holm([r["p_value"] for r in task_rows]),
                           strict=True):
            row["p_holm"] = ph
            row["significant"] = bool(ph < alpha)
        out.extend(task_rows)
    return out


def auc_of(distribution: dict[str, Any] | None) -> float | None:
    """A task's two-sample AUC from a comparison's distribution record, if computed."""
    emb = (distribution or {}).get("embeddings") or {}
    auc = (emb.get("classifier_two_sample") or {}).get("auc")
    return float(auc) if isinstance(auc, int | float) and np.isfinite(auc) else None


def analyse(treated: Sequence[PairedTask], remedy: Sequence[PairedTask],
            metrics: dict[str, list[str]], patterns: Sequence[dist.Pattern], *,
            n_boot: int, seed: int, level: float, alpha: float) -> dict[str, Any]:
    """The remedy's record in drift.json (without the AUCs, which the caller adds from
    its comparisons against the baseline)."""
    three = join(treated, remedy)
    rows, average = metric_rows(three, metrics, n_boot=n_boot, seed=seed, level=level)
    return {"n_samples": {tw.task: len(tw.rows[0]) for tw in three},
            "metrics": rows, "benchmark_average": average,
            "patterns": pattern_rows(three, patterns, alpha), "auc": []}
