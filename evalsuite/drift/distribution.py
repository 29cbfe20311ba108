"""How the generated text moved: length, template patterns, lexical diversity.

Inputs are the paired responses of one generation task; every measure is returned as a
plain dict for drift.json.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evalsuite.drift import stats
from evalsuite.drift.lexical import (
    fightin_words_from_counts,
    ngram_counts,
    ngram_tables,
    self_bleu,
)


@dataclass(frozen=True)
class Pattern:
    name: str
    regex: str
    """Python regex, searched in the response (re.MULTILINE: ^ and $ match per line)."""


# Formats synthetic Q-A data leaves behind. A user adds their own training template
# (compare's `patterns` config) to measure adherence to exactly that.
DEFAULT_PATTERNS = (
    Pattern("starts_with_answer", r"\A\s*(?:Answer|A)\s*:"),
    Pattern("writes_new_question", r"^\s*(?:Question|Q)\s*:"),
    Pattern("qa_turns", r"^\s*(?:Question|Q)\s*:.*(?:\n.*)*?^\s*(?:Answer|A)\s*:"),
    Pattern("answer_label_line", r"^\s*Answer\s*:"),
    Pattern("the_answer_is", r"(?i)\bthe (?:final |correct )?answer is\b"),
)


def word_tokens(text: str) -> list[str]:
    """Lower-cased words and punctuation marks: the unit of the lexical measures."""
    return re.findall(r"\w+|[^\w\s]", text.lower())


def length_shift(base: Sequence[int], cand: Sequence[int]) -> dict[str, Any]:
    """Summaries of both length distributions, two-sample KS test and Wasserstein distance."""
    from scipy.stats import ks_2samp, wasserstein_distance

    b = np.asarray(base, dtype=float)
    c = np.asarray(cand, dtype=float)

    def summary(x: np.ndarray) -> dict[str, float]:
        return {"mean": float(x.mean()), "median": float(np.median(x)), "std": float(x.std()),
                "p10": float(np.quantile(x, 0.1)), "p90": float(np.quantile(x, 0.9))}

    ks = ks_2samp(b, c)
    return {
        "baseline": summary(b), "candidate": summary(c),
        "delta_mean": float(c.mean() - b.mean()),
        "ks_statistic": float(ks.statistic), "ks_p_value": float(ks.pvalue),
        "wasserstein": float(wasserstein_distance(b, c)),
    }


def pattern_rates(
    base: Sequence[str], cand: Sequence[str], patterns: Sequence[Pattern] = DEFAULT_PATTERNS
) -> list[dict[str, Any]]:
    """Share of responses matching each pattern, before and after, with a paired test."""
    rows = []
    for p in patterns:
        rx = re.compile(p.regex, re.MULTILINE)
        hb = np.array([bool(rx.search(t or "")) for t in base])
        hc = np.array([bool(rx.search(t or "")) for t in cand])
        rows.append({
            "pattern": p.name, "regex": p.regex, "n": int(hb.size),
            "baseline": float(hb.mean()) if hb.size else float("nan"),
            "candidate": float(hc.mean()) if hc.size else float("nan"),
            "delta": float(hc.mean() - hb.mean()) if hb.size else float("nan"),
            "p_value": stats.mcnemar_exact(hb, hc), "flips": stats.flips(hb, hc),
        })
    return rows


def distinct_n(texts: Sequence[Sequence[str]], n: int) -> float:
    """Distinct n-grams over all n-grams in a response set (Li et al. 2016)."""
    counts: Counter = Counter()
    for g in ngram_tables(texts):
        counts.update(g[n - 1])
    return _distinct(counts)


def jensen_shannon(a: Counter, b: Counter) -> float:
    """Jensen-Shannon divergence (base 2, in [0, 1]) of two count distributions."""
    from scipy.spatial.distance import jensenshannon

    keys = sorted(set(a) | set(b), key=str)
    if not keys:
        return float("nan")
    pa = np.array([a.get(k, 0) for k in keys], dtype=float)
    pb = np.array([b.get(k, 0) for k in keys], dtype=float)
    if pa.sum() == 0 or pb.sum() == 0:
        return float("nan")
    return float(jensenshannon(pa, pb, base=2) ** 2)  # scipy returns the distance (sqrt)


@dataclass(frozen=True)
class LexicalSide:
    """What lexical_shift needs of one response set: its unigram and bigram totals and
    its self-BLEU. A comparison computes the baseline's once for every candidate."""

    counts: tuple[Counter, Counter]
    self_bleu: float


def lexical_side(texts: Sequence[str]) -> LexicalSide:
    tokens = [word_tokens(t or "") for t in texts]
    totals: list[Counter] = []
    for n in (1, 2):
        c: Counter = Counter()
        for t in tokens:
            c.update(ngram_counts(t, n))
        totals.append(c)
    return LexicalSide((totals[0], totals[1]), self_bleu(tokens))


def lexical_shift(base: Sequence[str], cand: Sequence[str], top: int = 20,
                  base_side: LexicalSide | None = None) -> dict[str, Any]:
    """distinct-1/2 and self-BLEU of each side, the JS divergence of the unigram and
    bigram counts, and the most shifted uni- and bigrams ("Fightin' Words" z-scores).
    ``base_side``: ``lexical_side(base)``, when the caller has it already."""
    sb = base_side if base_side is not None else lexical_side(base)
    sc = lexical_side(cand)
    out: dict[str, Any] = {}
    shifted = {}
    for n in (1, 2):
        cb, cc = sb.counts[n - 1], sc.counts[n - 1]
        out[f"distinct_{n}"] = {"baseline": _distinct(cb), "candidate": _distinct(cc)}
        out[f"jsd_{n}gram"] = jensen_shannon(cb, cc)
        shifted[f"{n}gram"] = fightin_words_from_counts(cb, cc, top=top)
    out["self_bleu"] = {"baseline": sb.self_bleu, "candidate": sc.self_bleu}
    out["shifted_ngrams"] = shifted
    return out


def _distinct(counts: Counter) -> float:
    total = sum(counts.values())
    return len(counts) / total if total else float("nan")


def token_lengths(texts: Sequence[str], count: Callable[[str], int] | None = None) -> list[int]:
    """Response lengths in the tokenizer's tokens (``count``), else in word tokens."""
    if count is None:
        return [len(word_tokens(t or "")) for t in texts]
    return [count(t or "") for t in texts]
