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


def ngram_counts(tokens: Sequence[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def ngram_tables(texts: Sequence[Sequence[str]]) -> list[list[Counter]]:
    """Per response, its n-gram counts for n = 1..4 (shared by every lexical measure)."""
    return [[ngram_counts(t, n) for n in range(1, MAX_ORDER + 1)] for t in texts]


def self_bleu(texts: Sequence[Sequence[str]]) -> float:
    """Mean sentence BLEU (0-100) of each response against all others as references.

    Higher means the responses repeat each other more (less diverse). Equals the mean of
    ``sacrebleu.sentence_bleu(" ".join(h), [" ".join(r) for r in others],
    tokenize="none")`` over all responses. n-grams are numbered exactly (each order
    from the one below and the next word), and for every n-gram the largest count in any
    response, which response has it, and the second largest are found by one sort: the
    reference maximum for a hypothesis is the best *other* count. Linear in the words
    apart from the sorts, so 100,000 responses take seconds.
    """
    k = len(texts)
    if k < 2:
        return float("nan")
    vocab: dict[str, int] = {}
    lengths = np.array([len(t) for t in texts], dtype=np.int64)
    flat = np.fromiter((vocab.setdefault(w, len(vocab)) for t in texts for w in t),
                       dtype=np.int64, count=int(lengths.sum()))
    resp = np.repeat(np.arange(k, dtype=np.int64), lengths)
    pos = np.arange(len(flat), dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    correct = np.zeros((MAX_ORDER, k))
    gram = flat  # order-n gram id of the n-gram starting at each position
    for n_idx in range(MAX_ORDER):
        n = n_idx + 1
        if n > 1:  # extend each (n-1)-gram by the word after it, renumbered densely
            nxt = np.append(flat[n_idx:], np.zeros(n_idx, dtype=np.int64))
            _, gram = np.unique(gram * (len(vocab) + 1) + nxt, return_inverse=True)
        ok = pos + n <= lengths[resp]
        if not ok.any():
            break
        g, r = gram[ok], resp[ok]
        pairs, v = np.unique(g * k + r, return_counts=True)
        pg, pr = pairs // k, pairs % k
        order = np.lexsort((-v, pg))  # by gram, largest count first
        pg, pr, v = pg[order], pr[order], v[order]
        first = np.ones(len(pg), dtype=bool)
        first[1:] = pg[1:] != pg[:-1]
        start = np.flatnonzero(first)
        size = np.diff(np.append(start, len(pg)))
        top_v, top_r = v[start], pr[start]
        second = np.where(size > 1, v[np.minimum(start + 1, len(v) - 1)], 0)
        grp = np.cumsum(first) - 1
        other = np.where(top_r[grp] == pr, second[grp], top_v[grp])
        correct[n_idx] = np.bincount(pr, weights=np.minimum(v, other), minlength=k)
    closest = _closest_other_lengths(lengths)
    scores = [_bleu([int(c) for c in correct[:, h]],
                    [max(int(lengths[h]) - i, 0) for i in range(MAX_ORDER)],
                    int(lengths[h]), int(closest[h])) for h in range(k)]
    return float(np.mean(scores))


def _closest_other_lengths(lengths: np.ndarray) -> np.ndarray:
    """Per response, the length among the *other* responses closest to its own (the
    shorter on a tie), as sacrebleu picks a reference length."""
    values, counts = np.unique(lengths, return_counts=True)
    i = np.searchsorted(values, lengths)
    below = np.where(i > 0, values[np.maximum(i - 1, 0)], np.iinfo(np.int64).min // 4)
    above = np.where(i + 1 < len(values), values[np.minimum(i + 1, len(values) - 1)],
                     np.iinfo(np.int64).max // 4)
    nearest = np.where(lengths - below <= above - lengths, below, above)
    return np.where(counts[i] > 1, lengths, nearest)


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
        cb.update(ngram_counts(t, n))
    for t in cand:
        cc.update(ngram_counts(t, n))
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
