"""Drift analysis: pair two stored runs sample by sample and measure what moved.

From Python::

    from evalsuite.drift import load_run, samples_frame, compare
    base, cand = load_run("runs/a/..."), load_run("runs/b/...")
    df = samples_frame(base)              # one row per sample
    drift = compare(base, [cand])         # what drift.json holds
"""

from evalsuite.drift.analysis import CompareSettings, compare, compare_pair
from evalsuite.drift.distribution import (
    DEFAULT_PATTERNS,
    Pattern,
    distinct_n,
    jensen_shannon,
    length_shift,
    lexical_shift,
    pattern_rates,
)
from evalsuite.drift.pairing import PairedTask, pair_runs
from evalsuite.drift.runs import Run, load_run, metrics_frame, samples_frame
from evalsuite.drift.scores import task_changes
from evalsuite.drift.stats import (
    chance_adjusted_forgetting,
    flips,
    holm,
    mcnemar_exact,
    paired_bootstrap_ci,
    paired_bootstrap_cis,
    wilcoxon_p,
)

__all__ = [
    "DEFAULT_PATTERNS",
    "CompareSettings",
    "PairedTask",
    "Pattern",
    "Run",
    "chance_adjusted_forgetting",
    "compare",
    "compare_pair",
    "distinct_n",
    "flips",
    "holm",
    "jensen_shannon",
    "length_shift",
    "lexical_shift",
    "load_run",
    "mcnemar_exact",
    "metrics_frame",
    "pair_runs",
    "paired_bootstrap_ci",
    "paired_bootstrap_cis",
    "pattern_rates",
    "samples_frame",
    "task_changes",
    "wilcoxon_p",
]
