"""Score changes per task and metric, sample flips, and IFEval by instruction group."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evalsuite.drift import stats
from evalsuite.drift.pairing import PairedTask

MC_TYPES = ("multiple_choice",)
LEVELS = ("strict", "loose")


def _as_cluster(value: Any) -> list[float] | None:
    """A per-sample score as a list of numbers (IFEval's inst-level scores are lists)."""
    if isinstance(value, list):
        vals = [float(v) for v in value if v is not None]
        return vals or None
    if isinstance(value, bool | int | float):
        return None if isinstance(value, float) and math.isnan(value) else [float(value)]
    return None


_SCALARS = (bool, int, float)


def _sums(values: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, list[list[float]] | None]:
    """Per sample, the sum and number of a score's values (``_as_cluster``), and the
    clusters themselves where some value is a list. Scalar scores, nearly every task's,
    are converted in one step rather than sample by sample."""
    if all(type(v) in _SCALARS for v in values):
        arr = np.array(values, dtype=float)
        ok = ~np.isnan(arr)
        return np.where(ok, arr, 0.0), ok.astype(float), None
    clusters = [_as_cluster(v) for v in values]
    sums = np.array([sum(c) if c else 0.0 for c in clusters])
    counts = np.array([len(c) if c else 0 for c in clusters], dtype=float)
    return sums, counts, [c or [] for c in clusters]


@dataclass
class _Series:
    """One metric (or instruction group) over the paired samples of a task."""

    n: int
    b_sum: np.ndarray = field(init=False)
    b_cnt: np.ndarray = field(init=False)
    c_sum: np.ndarray = field(init=False)
    c_cnt: np.ndarray = field(init=False)
    flat_b: list[float] = field(default_factory=list)
    flat_c: list[float] = field(default_factory=list)
    n_samples: int = 0

    def __post_init__(self) -> None:
        self.b_sum, self.b_cnt = np.zeros(self.n), np.zeros(self.n)
        self.c_sum, self.c_cnt = np.zeros(self.n), np.zeros(self.n)

    @classmethod
    def of(cls, base: Sequence[Any], cand: Sequence[Any]) -> _Series:
        """The metric's paired values: a sample counts where both runs scored it with the
        same number of values (IFEval's instruction lists)."""
        s = cls(len(base))
        bs, bc, bl = _sums(base)
        cs, cc, cl = _sums(cand)
        ok = (bc > 0) & (bc == cc)
        s.b_sum, s.b_cnt = np.where(ok, bs, 0.0), np.where(ok, bc, 0.0)
        s.c_sum, s.c_cnt = np.where(ok, cs, 0.0), np.where(ok, cc, 0.0)
        s.n_samples = int(ok.sum())
        if bl is None and cl is None:
            s.flat_b, s.flat_c = bs[ok].tolist(), cs[ok].tolist()
        else:
            bl = bl if bl is not None else [[v] for v in bs]
            cl = cl if cl is not None else [[v] for v in cs]
            idx = np.flatnonzero(ok)
            s.flat_b = [v for i in idx for v in bl[i]]
            s.flat_c = [v for i in idx for v in cl[i]]
        return s

    def column(self) -> stats.Column:
        return (self.b_sum, self.b_cnt, self.c_sum, self.c_cnt)

    def summary(self, iv: dict[str, Any], seed: int = 0) -> dict[str, Any]:
        b = self.b_sum.sum() / self.b_cnt.sum()
        c = self.c_sum.sum() / self.c_cnt.sum()
        row: dict[str, Any] = {
            "n": self.n_samples, "n_units": int(self.b_cnt.sum()),
            "baseline": float(b), "candidate": float(c), "delta": float(c - b),
            "ci_low": iv["delta"][0], "ci_high": iv["delta"][1], "se": iv["se"],
            # each value's own interval, for error bars (same resamples)
            "baseline_ci": list(iv["baseline"]), "candidate_ci": list(iv["candidate"]),
        }
        flat = np.concatenate([np.asarray(self.flat_b, float), np.asarray(self.flat_c, float)])
        binary = bool(np.all((flat == 0.0) | (flat == 1.0)))
        if binary:
            fb, fc = np.array(self.flat_b) > 0.5, np.array(self.flat_c) > 0.5
            row["flips"] = stats.flips(fb, fc)
        if binary and np.all(self.b_cnt <= 1):
            row.update(test="mcnemar_exact", p_value=stats.mcnemar_exact(fb, fc))
        elif binary:
            # several verdicts per sample are correlated: permute whole samples instead
            mask = self.b_cnt > 0
            row.update(test="sign_flip_permutation", p_value=stats.sign_flip_p(
                self.c_sum[mask] - self.b_sum[mask], seed=seed))
        else:
            mask = self.b_cnt > 0
            row.update(test="wilcoxon", flips=None, p_value=stats.wilcoxon_p(
                self.b_sum[mask] / self.b_cnt[mask], self.c_sum[mask] / self.c_cnt[mask]))
        return row


def task_changes(
    paired: PairedTask, metrics: Sequence[str], *,
    n_boot: int = 10_000, seed: int = 0, level: float = 0.95, alpha: float = 0.05,
) -> dict[str, list[dict[str, Any]]]:
    """All paired comparisons of one task, bootstrapped together.

    Returns ``metrics`` (one row per metric), and for IFEval-style tasks
    ``categories`` and ``instruction_ids`` (one row per group and strictness level).
    """
    n = len(paired.base)
    b_scores = [b.get("scores") or {} for b in paired.base]
    c_scores = [c.get("scores") or {} for c in paired.cand]
    series = {m: _Series.of([x.get(m) for x in b_scores], [x.get(m) for x in c_scores])
              for m in metrics}
    groups: dict[tuple[str, str, str], _Series] = {}
    with_instructions = [i for i, b in enumerate(paired.base) if b.get("instructions")]
    for i in with_instructions:  # IFEval-style tasks only
        b, c = paired.base[i], paired.cand[i]
        bi, ci = b.get("instructions"), c.get("instructions")
        if not bi or not ci or len(bi) != len(ci):
            continue
        for x, y in zip(bi, ci, strict=True):
            if x["id"] != y["id"]:
                continue
            for by in ("category", "id"):
                for level_name in LEVELS:
                    if x.get(level_name) is None or y.get(level_name) is None:
                        continue
                    key = (by, x[by], level_name)
                    g = groups.get(key)
                    if g is None:
                        g = groups[key] = _Series(n)
                    g.b_sum[i] += float(x[level_name])
                    g.b_cnt[i] += 1
                    g.c_sum[i] += float(y[level_name])
                    g.c_cnt[i] += 1
                    g.flat_b.append(float(x[level_name]))
                    g.flat_c.append(float(y[level_name]))
    for g in groups.values():
        g.n_samples = int(np.sum(g.b_cnt > 0))
    used = {m: s for m, s in series.items() if s.n_samples}
    cols = [s.column() for s in used.values()] + [g.column() for g in groups.values()]
    cis = stats.bootstrap_intervals(cols, n_boot=n_boot, seed=seed, level=level)
    out: dict[str, list[dict[str, Any]]] = {"metrics": [], "categories": [], "instruction_ids": []}
    ks = [len(x["choices"]) for x in paired.base if isinstance(x.get("choices"), list)] \
        if paired.output_type in MC_TYPES else []
    for (metric, s), ci in zip(used.items(), cis[:len(used)], strict=True):
        row = {"task": paired.task, "version": paired.version, "metric": metric,
               **s.summary(ci, seed)}
        if paired.output_type in MC_TYPES and row["flips"] is not None and ks:
            row["choices_k"] = float(np.mean(ks))
            row["forgetting_chance_adjusted"] = stats.chance_adjusted_forgetting(
                np.array(s.flat_b) > 0.5, np.array(s.flat_c) > 0.5, row["choices_k"])
        out["metrics"].append(row)
    for ((by, name, level_name), g), ci in zip(groups.items(), cis[len(used):], strict=True):
        section = "categories" if by == "category" else "instruction_ids"
        out[section].append({"task": paired.task, by: name, "level": level_name,
                             **g.summary(ci, seed)})
    for section in ("categories", "instruction_ids"):
        key = "category" if section == "categories" else "id"
        out[section].sort(key=lambda r, k=key: (r[k], r["level"]))
        for level_name in LEVELS:  # many groups: Holm within each section and level
            add_holm([r for r in out[section] if r["level"] == level_name], alpha)
    return out


def add_holm(rows: list[dict[str, Any]], alpha: float = 0.05) -> None:
    """Holm-adjusted p-values across ``rows`` (one family: all task metrics of one
    comparison, or one section and level of instruction groups), and each row's minimum
    detectable effect at that family's size."""
    for row, adj in zip(rows, stats.holm([r["p_value"] for r in rows]), strict=True):
        row["p_holm"] = adj
        row["mde"] = stats.min_detectable_effect(row.get("se", float("nan")), alpha,
                                                 tests=len(rows))
