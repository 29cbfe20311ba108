"""Paired statistics for two checkpoints scored on the same samples.

Everything resamples or permutes *samples* (prompts), never runs, and takes a seed.
Library implementations are used where they exist (scipy, statsmodels); what is written
here is the paired bootstrap over clusters and the forgetting-rate correction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def cluster_means(values: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    """(sums, counts) per sample; a sample holds one value, or several (IFEval's
    instructions), and the metric is sum over all values / number of values."""
    sums = np.array([float(np.sum(v)) for v in values])
    counts = np.array([len(v) for v in values], dtype=float)
    return sums, counts


Column = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""(baseline sums, baseline counts, candidate sums, candidate counts) per sample."""


def paired_bootstrap_cis(
    columns: Sequence[Column], *, n_boot: int = 10_000, seed: int = 0, level: float = 0.95
) -> list[tuple[float, float]]:
    """Percentile CIs of metric(cand) - metric(base) for several metrics of one task.

    Samples are resampled with replacement, the same resamples for both checkpoints
    (that makes it paired) and for every column (so a task's CIs are consistent). A
    metric is sum/count over the resampled samples, so clusters (IFEval's instructions
    of a prompt) and samples without the metric (count 0) are handled alike. Resamples
    are drawn as count vectors and applied by matrix products, in chunks.
    """
    return [iv["delta"] for iv in bootstrap_intervals(columns, n_boot=n_boot, seed=seed,
                                                      level=level)]


SCHEMES = ("auto", "indices", "classes")
"""How ``bootstrap_intervals`` draws resamples: ``indices`` draws n sample indices per
resample; ``classes`` draws how many of them fall on each distinct sample (a multinomial
over the distinct rows of the columns), the same distribution at a fraction of the cost
when few rows are distinct (pass/fail metrics: at most 4 per metric); ``auto`` picks."""


def bootstrap_intervals(
    columns: Sequence[Column], *, n_boot: int = 10_000, seed: int = 0, level: float = 0.95,
    scheme: str = "auto",
) -> list[dict[str, Any]]:
    """Per column, percentile CIs of the delta, the baseline value and the candidate value,
    and ``se``: the delta's bootstrap standard error.

    One set of resamples serves all three (see ``paired_bootstrap_cis``): the delta's
    interval is the paired one; the two values' intervals are what error bars show.

    A metric is a sum over the resample's samples, so it depends only on how many times
    each distinct sample (row of the columns) was drawn. With u distinct rows among n,
    those counts are Multinomial(n, multiplicity/n): drawing them (``classes``) costs
    n_boot x u instead of n_boot x n and gives the same intervals up to resampling noise
    (a test compares the two, and the coverage test runs both). ``auto`` takes ``classes``
    when u is at most n/4. The rows are those of all ``columns`` together, so with
    ``classes`` the exact draws (not their distribution) depend on which columns were
    resampled together: the same task compared with and without an extra metric gives
    intervals equal up to resampling noise, not to the last digit. The seed and the
    data still fix every number.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    if not columns:
        return []
    n = len(columns[0][0])
    nan = (float("nan"), float("nan"))
    if n == 0:
        return [{"delta": nan, "baseline": nan, "candidate": nan, "se": float("nan")}
                for _ in columns]
    m = len(columns)
    mat = np.stack([c[i] for i in range(4) for c in columns], axis=1)  # n x 4m
    rng = np.random.default_rng(seed)
    draws = {k: np.empty((n_boot, m)) for k in ("delta", "baseline", "candidate")}
    rows_u, mult = np.unique(mat, axis=0, return_counts=True) if scheme != "indices" \
        else (mat, None)
    classes = mult is not None and (scheme == "classes" or len(mult) * 4 <= n)
    if classes:
        p = mult / n
        chunk = max(1, 4_000_000 // len(mult))
    else:
        chunk = max(1, 4_000_000 // n)
    for start in range(0, n_boot, chunk):
        rows = min(n_boot, start + chunk) - start
        if classes:
            agg = rng.multinomial(n, p, size=rows).astype(float) @ rows_u
        else:
            idx = rng.integers(0, n, size=(rows, n))
            offsets = (np.arange(rows)[:, None] * n + idx).ravel()
            weights = np.bincount(offsets, minlength=rows * n).reshape(rows, n).astype(float)
            agg = weights @ mat  # rows x 4m
        bs, bc, cs, cc = (agg[:, i * m:(i + 1) * m] for i in range(4))
        with np.errstate(invalid="ignore", divide="ignore"):
            b, c = bs / bc, cs / cc
        draws["baseline"][start:start + rows] = b
        draws["candidate"][start:start + rows] = c
        draws["delta"][start:start + rows] = c - b
    alpha = (1 - level) / 2
    out: list[dict[str, Any]] = []
    for j in range(m):
        iv: dict[str, Any] = {}
        for key, d in draws.items():
            d = d[:, j][np.isfinite(d[:, j])]
            if d.size == 0:
                iv[key] = nan
            else:
                lo, hi = np.quantile(d, [alpha, 1 - alpha])
                iv[key] = (float(lo), float(hi))
            if key == "delta":
                iv["se"] = float(np.std(d, ddof=1)) if d.size > 1 else float("nan")
        out.append(iv)
    return out


POWER = 0.8
"""The power at which drift.json states each metric's minimum detectable effect."""


def min_detectable_effect(se: float, alpha: float, tests: int = 1,
                          power: float = POWER) -> float | None:
    """The smallest true change this comparison detects with probability ``power``.

    Normal approximation of a two-sided test of the paired delta, whose standard error is
    ``se`` (the paired bootstrap's, so clusters and the pairing are in it), at the level
    of Holm's first step, ``alpha / tests``: a change must clear that to be called
    significant when it is the family's strongest, so the figure is the conservative one.
    None where the resampled deltas did not vary (no sample changed): the spread that
    power depends on is then unknown, not zero.
    """
    # scipy.special's normal quantile: scipy.stats takes a second to import
    from scipy.special import ndtri

    if not (se == se and se > 0) or tests < 1:
        return None
    z = ndtri(1 - alpha / (2 * tests)) + ndtri(power)
    return float(z * se)


def paired_bootstrap_ci(
    base: Sequence[Sequence[float]],
    cand: Sequence[Sequence[float]],
    *,
    n_boot: int = 10_000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Paired percentile CI of one metric; each sample is a list of values (a cluster)."""
    bs, bc = cluster_means(base)
    cs, cc = cluster_means(cand)
    return paired_bootstrap_cis([(bs, bc, cs, cc)], n_boot=n_boot, seed=seed, level=level)[0]


def mcnemar_exact(base: Sequence[bool], cand: Sequence[bool]) -> float:
    """Two-sided exact McNemar p-value for paired pass/fail outcomes.

    Only discordant pairs count: under no change, a flip is lost or gained with equal
    chance, so the number lost is Binomial(lost + gained, 1/2). The two-sided p-value of
    that symmetric binomial is twice the smaller tail (scipy.stats.binomtest's value, a
    test checks, from scipy.special: scipy.stats takes a second to import).
    """
    from scipy.special import bdtr

    b = np.asarray(base, dtype=bool)
    c = np.asarray(cand, dtype=bool)
    lost = int(np.sum(b & ~c))
    gained = int(np.sum(~b & c))
    if lost == gained:
        return 1.0
    return float(min(1.0, 2.0 * bdtr(min(lost, gained), lost + gained, 0.5)))


def sign_flip_p(diffs: Sequence[float], *, n_perm: int = 10_000, seed: int = 0,
                scheme: str = "auto") -> float:
    """Two-sided paired permutation p-value for the sum of per-sample differences.

    Under no change each sample's difference is as likely positive as negative; signs
    are flipped at random (seeded) and |sum| compared with the observed one. Used where
    a sample holds several correlated verdicts (IFEval's instructions of one prompt), so
    that the prompt, not the instruction, is the independent unit.

    ``classes`` (``auto`` where few |differences| are distinct, as with counts of
    verdicts): the m samples whose |difference| is v add v * (2 * Binomial(m, 1/2) - m)
    to the sum, so one binomial per distinct value replaces m signs; same distribution.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    d = np.asarray(diffs, dtype=float)
    d = d[np.isfinite(d)]
    if d.size == 0 or not np.any(d != 0):
        return 1.0
    observed = abs(d.sum()) - 1e-12  # tolerance: float sums of the same terms may differ
    rng = np.random.default_rng(seed)
    values, mult = np.unique(np.abs(d[d != 0]), return_counts=True)
    classes = scheme == "classes" or (scheme == "auto" and len(values) * 4 <= d.size)
    hits = 0
    chunk = max(1, 2_000_000 // (len(values) if classes else d.size))
    for start in range(0, n_perm, chunk):
        rows = min(n_perm, start + chunk) - start
        if classes:
            sums = (2 * rng.binomial(mult, 0.5, size=(rows, len(mult))) - mult) @ values
        else:
            sums = (rng.integers(0, 2, size=(rows, d.size)) * 2 - 1) @ d
        hits += int(np.sum(np.abs(sums) >= observed))
    return (1 + hits) / (1 + n_perm)


def wilcoxon_p(base: Sequence[float], cand: Sequence[float]) -> float:
    """Two-sided Wilcoxon signed-rank p-value for paired continuous scores (1.0 when
    every pair is tied: no evidence of change)."""
    from scipy.stats import wilcoxon

    d = np.asarray(cand, dtype=float) - np.asarray(base, dtype=float)
    d = d[~np.isnan(d)]
    if d.size == 0 or not np.any(d != 0):
        return 1.0
    return float(wilcoxon(d, zero_method="wilcox").pvalue)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, NaNs passed through. The step-down rule in
    numpy (equal to statsmodels' ``multipletests(method="holm")``, a test checks, and
    about 1,000 times faster: it runs once per comparison and per simulated family)."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    q = p[ok]
    m = q.size
    if m:
        order = np.argsort(q, kind="stable")
        stepped = np.minimum(np.maximum.accumulate((m - np.arange(m)) * q[order]), 1.0)
        adjusted = np.empty(m)
        adjusted[order] = stepped
        out[ok] = adjusted
    return [float(x) for x in out]


def flips(base: Sequence[bool], cand: Sequence[bool]) -> dict[str, int]:
    """Samples that passed before and failed after (lost), and the reverse (gained)."""
    b = np.asarray(base, dtype=bool)
    c = np.asarray(cand, dtype=bool)
    return {"lost": int(np.sum(b & ~c)), "gained": int(np.sum(~b & c)),
            "kept": int(np.sum(b & c)), "never": int(np.sum(~b & ~c))}


def chance_adjusted_forgetting(base: Sequence[bool], cand: Sequence[bool], k: float) -> float:
    """Lost rate minus the flips chance alone produces on a k-way multiple choice.

    "Mapping Post-Training Forgetting in Language Models at Scale" (arXiv 2510.17776):
    a guesser that is wrong before may be right by chance after and vice versa, so
    (1 - a_before)(1 - a_after)/(k - 1) of the lost rate is expected noise.
    """
    b = np.asarray(base, dtype=bool)
    c = np.asarray(cand, dtype=bool)
    if b.size == 0 or k <= 1:
        return float("nan")
    lost_rate = float(np.mean(b & ~c))
    return lost_rate - (1 - b.mean()) * (1 - c.mean()) / (k - 1)
