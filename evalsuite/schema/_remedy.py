"""drift.json's ``remedies``: three runs (the baseline, a treated checkpoint, the remedy
trained from it), what the remedy gave back (evalsuite.drift.recovery)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from evalsuite.schema._models import _Record


class RemedyMetric(_Record):
    """One metric over the samples all three runs share: the baseline, the treated
    checkpoint and the remedy that started from it (evalsuite.drift.recovery)."""

    task: str | None = None
    """The task's name (none for the benchmark average)."""
    metric: str
    """The metric's name."""
    n: int | None = Field(default=None, ge=0)
    """Samples all three runs scored."""
    family: str | None = None
    """benchmark or instruction_following."""
    headline: bool | None = None
    """A column of the main table (a benchmark's primary metric, or an IFEval metric)."""
    baseline: float | None = None
    """The baseline's value."""
    treated: float | None = None
    """The treated checkpoint's value."""
    remedy: float | None = None
    """The remedy's value."""
    baseline_ci: list[float | None] | None = None
    """The baseline value's interval (the same resamples as every interval here)."""
    treated_ci: list[float | None] | None = None
    """The treated value's interval."""
    remedy_ci: list[float | None] | None = None
    """The remedy value's interval."""
    treated_change: float | None = None
    """treated - baseline."""
    treated_change_ci: list[float | None] | None = None
    """Its paired interval."""
    remedy_change: float | None = None
    """remedy - treated."""
    remedy_change_ci: list[float | None] | None = None
    """Its paired interval."""
    remedy_vs_baseline: float | None = None
    """remedy - baseline."""
    remedy_vs_baseline_ci: list[float | None] | None = None
    """Its paired interval."""
    kind: Literal["lost", "gained", "unchanged"] | None = None
    """What the treatment did to the metric (by the metric's direction)."""
    share: float | None = None
    """lost: the share of the loss the remedy recovered; gained: the share of the gain it
    kept (1: all, 0: none)."""
    share_ci: list[float | None] | None = None
    """The share's percentile interval; null where the treated change's own interval
    holds 0 (the share of a change not shown to exist has no meaningful interval)."""
    estimable: bool | None = None
    """The treated change's interval excludes 0, so the share has an interval."""


class BenchmarkAverage(RemedyMetric):
    tasks: list[str] = Field(default_factory=list)
    """The benchmarks averaged (each task's headline metric, weighted equally)."""
    remedy_within_treated_ci: bool | None = None
    """The remedy's average lies inside the treated checkpoint's interval."""
    remedy_above_treated_ci_low: bool | None = None
    """The remedy's average is not below the treated checkpoint's interval (the benchmark
    gains kept; above the interval is better, not worse)."""


class RemedyPattern(_Record):
    """One template pattern's rate in the three runs."""

    task: str
    """The generation task."""
    pattern: str
    """The pattern's name (compare's patterns=)."""
    n: int = Field(ge=0)
    """Answers in all three runs."""
    baseline: float | None = None
    """Share of the baseline's answers that match."""
    treated: float | None = None
    """Share of the treated checkpoint's answers that match."""
    remedy: float | None = None
    """Share of the remedy's answers that match."""
    p_value: float | None = None
    """Exact McNemar test, treated -> remedy."""
    p_holm: float | None = None
    """After Holm's correction over the task's patterns."""
    significant: bool | None = None
    """p_holm below the comparison's alpha."""
    flips: dict[str, Any] | None = None
    """Answers that matched before and not after (lost), the reverse (gained), ..."""


class RemedyAuc(_Record):
    """How well a classifier tells each checkpoint's answers from the baseline's."""

    task: str
    """The generation task."""
    treated: float | None = None
    """Two-sample AUC of the treated checkpoint's answers against the baseline's."""
    remedy: float | None = None
    """The remedy's against the baseline's (0.5: indistinguishable)."""
    remedy_vs_treated: float | None = None
    """The remedy's answers against the treated checkpoint's."""


class RemedyRecovery(_Record):
    """What a remedy gave back, on the samples all three runs share."""

    n_samples: dict[str, int] = Field(default_factory=dict)
    """Samples in all three runs, by task."""
    metrics: list[RemedyMetric] = Field(default_factory=list)
    """Every metric of the tasks all three runs share."""
    benchmark_average: BenchmarkAverage | None = None
    """The benchmarks' headline metrics averaged; null without benchmarks."""
    patterns: list[RemedyPattern] = Field(default_factory=list)
    """Template-pattern rates of generation tasks."""
    auc: list[RemedyAuc] = Field(default_factory=list)
    """Embedding two-sample AUCs against the baseline, before and after the remedy."""
