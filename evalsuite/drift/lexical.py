"""Word-level measures between two response sets: self-BLEU and "Fightin' Words".

Both are written here because no kept library does them at this size: sacrebleu's
sentence BLEU re-reads all references for every hypothesis (quadratic), so self-BLEU
is computed from per-n-gram maxima in one pass, with sacrebleu's exact definition
(exp smoothing, effective order, closest reference length; tests compare the two).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

MAX_ORDER = 4


def _ngram_counts(tokens: Sequence[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def ngram_tables(texts: Sequence[Sequence[str]]) -> list[list[Counter]]:
    """Per response, its n-gram counts for n = 1..4 (shared by every lexical measure)."""
    return [[_ngram_counts(t, n) for n in range(1, MAX_ORDER + 1)] for t in texts]


def self_bleu(texts: Sequence[Sequence[str]],
              tables: list[list[Counter]] | None = None) -> float:
    """Mean sentence BLEU (0-100) of each response against all others as references.

    Higher means the responses repeat each other more (less diverse). Equals the mean of
    ``sacrebleu.sentence_bleu(" ".join(h), [" ".join(r) for r in others],
    tokenize="none")`` over all responses.
    """
    k = len(texts)
    if k < 2:
        return float("nan")
    counts = tables if tables is not None else ngram_tables(texts)
    # per n-gram: the largest count in any response, which response has it, and the
    # second largest: the reference maximum for a hypothesis is the best *other* count.
    best: list[dict[tuple[str, ...], list[int]]] = [{} for _ in range(MAX_ORDER)]
    for j, per_n in enumerate(counts):
        for n_idx, c in enumerate(per_n):
            table = best[n_idx]
            for g, v in c.items():
                top = table.get(g)
                if top is None:
                    table[g] = [v, j, 0]
                elif v > top[0]:
                    top[2], top[0], top[1] = top[0], v, j
                elif v > top[2]:
                    top[2] = v
    lengths = np.array([len(t) for t in texts])
    scores = []
    for h in range(k):
        correct, total = [], []
        for n_idx in range(MAX_ORDER):
            table = best[n_idx]
            match = 0
            for g, v in counts[h][n_idx].items():
                top = table[g]
                other = top[2] if top[1] == h else top[0]
                match += min(v, other)
            correct.append(match)
            total.append(max(len(texts[h]) - n_idx, 0))
        diffs = np.abs(lengths - lengths[h]).astype(float)
        diffs[h] = np.inf
        closest = lengths[diffs == diffs.min()].min()
        scores.append(_bleu(correct, total, int(lengths[h]), int(closest)))
    return float(np.mean(scores))


def _bleu(correct: list[int], total: list[int], sys_len: int, ref_len: int) -> float:
    # sacrebleu's BLEU.compute_bleu with smooth_method="exp", effective_order=True
    bp = 1.0
    if sys_len < ref_len:
        bp = math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0
    if not any(correct):
        return 0.0
    precisions = [0.0] * MAX_ORDER
    smooth, eff_order = 1.0, MAX_ORDER
    for n in range(1, MAX_ORDER + 1):
        if total[n - 1] == 0:
            break
        eff_order = n
        if correct[n - 1] == 0:
            smooth *= 2
            precisions[n - 1] = 100.0 / (smooth * total[n - 1])
        else:
            precisions[n - 1] = 100.0 * correct[n - 1] / total[n - 1]
    logs = [math.log(p) if p > 0 else -9999999999 for p in precisions[:eff_order]]
    return bp * math.exp(sum(logs) / eff_order)


def fightin_words(
    base: Sequence[Sequence[str]], cand: Sequence[Sequence[str]], *,
    n: int = 1, top: int = 20, min_count: int = 3, prior_scale: float = 1.0,
) -> dict[str, list[dict[str, Any]]]:
    """N-grams that became more and less frequent, by log-odds ratio with an informative
    Dirichlet prior (Monroe, Colaresi and Quinn 2008, section 3.5).

    The prior is the pooled counts of both sets times ``prior_scale``. For each n-gram
    w: delta = log-odds of w in candidate minus in baseline, each computed as
    log((y_w + a_w) / (N + a_0 - y_w - a_w)); variance ~ 1/(y_w^c + a_w) + 1/(y_w^b + a_w);
    z = delta / sqrt(variance). Returns the ``top`` n-grams by z each way.
    """
    cb, cc = Counter(), Counter()
    for t in base:
        cb.update(_ngram_counts(t, n))
    for t in cand:
        cc.update(_ngram_counts(t, n))
    return fightin_words_from_counts(cb, cc, top=top, min_count=min_count,
                                     prior_scale=prior_scale)


def fightin_words_from_counts(
    cb: Counter, cc: Counter, *, top: int = 20, min_count: int = 3, prior_scale: float = 1.0,
) -> dict[str, list[dict[str, Any]]]:
    """:func:`fightin_words` on n-gram counts already summed over each set."""
    pooled = cb + cc
    vocab = [g for g, v in pooled.items() if v >= min_count]
    if not vocab:
        return {"more_frequent": [], "less_frequent": []}
    yb = np.array([cb.get(g, 0) for g in vocab], dtype=float)
    yc = np.array([cc.get(g, 0) for g in vocab], dtype=float)
    a = np.array([pooled[g] for g in vocab], dtype=float) * prior_scale
    a0 = float(sum(pooled.values())) * prior_scale
    nb, nc = float(sum(cb.values())), float(sum(cc.values()))
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (np.log((yc + a) / (nc + a0 - yc - a))
                 - np.log((yb + a) / (nb + a0 - yb - a)))
        z = delta / np.sqrt(1.0 / (yc + a) + 1.0 / (yb + a))
    z = np.where(np.isfinite(z), z, 0.0)  # a one-word vocabulary has no odds to compare
    order = np.argsort(z)

    def row(i: int) -> dict[str, Any]:
        return {"ngram": " ".join(vocab[i]), "z": float(z[i]), "log_odds_ratio": float(delta[i]),
                "baseline_count": int(yb[i]), "candidate_count": int(yc[i])}

    return {"more_frequent": [row(i) for i in order[::-1][:top] if z[i] > 0],
            "less_frequent": [row(i) for i in order[:top] if z[i] < 0]}
