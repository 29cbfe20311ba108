"""drift.json's records: a baseline against candidates, task by task, metric by metric,
and how the generated text changed (the models evalsuite.compare writes and the report
reads)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from evalsuite.schema._examples import TaskExamples
from evalsuite.schema._models import _Record
from evalsuite.schema._remedy import RemedyRecovery


class RunMeta(_Record):
    label: str
    """The run's name in tables and figures."""
    path: str
    """The run directory."""
    model: str | None = None
    """The run's model name."""
    model_path: str | None = None
    """Where the run's weights were."""
    fingerprint: str | None = None
    """The run's model fingerprint."""
    suite: str | None = None
    """The run's suite."""
    status: str | None = None
    """complete or partial."""
    source: str | None = None
    """Who wrote the run: evalsuite, lm-eval or inspect (another harness's output read as
    a run; what it does not record, such as the model fingerprint, is null)."""


class MetricDrift(_Record):
    """One metric of one task, baseline against candidate, over the paired samples."""

    baseline: float | None = None
    """The baseline's value over the paired samples."""
    candidate: float | None = None
    """The candidate's value over the paired samples."""
    delta: float | None = None
    """candidate - baseline."""
    ci_low: float | None = None
    """Lower end of the paired bootstrap interval of the delta."""
    ci_high: float | None = None
    """Upper end of the paired bootstrap interval of the delta."""
    se: float | None = None
    """The delta's standard error over the paired bootstrap's resamples."""
    mde: float | None = None
    """Minimum detectable effect: the smallest true change (either sign, on the metric's
    scale) found significant with 80 % power at this sample size, from ``se`` at Holm's
    strictest step (alpha / tests in the family). Null where no resample varied."""
    p_value: float | None = None
    """The paired test's p-value (McNemar for pass/fail, a permutation test otherwise)."""
    p_holm: float | None = None
    """The p-value after Holm's correction over the comparison's metrics."""
    significant: bool | None = None
    """p_holm below the comparison's alpha."""
    flips: dict[str, Any] | None = None
    """Pass/fail metrics: samples lost (passed before, failed after) and gained."""
    n: int | None = None
    """Paired samples."""
    n_units: int | None = None
    """Scored units (instructions for IFEval's inst-level metrics, else samples)."""
    baseline_ci: list[float | None] | None = None
    """The baseline value's own interval (same resamples), for error bars."""
    candidate_ci: list[float | None] | None = None
    """The candidate value's own interval."""
    test: str | None = None
    """Which paired test gave p_value."""
    matches_stored: bool | None = None
    """The baseline value recomputed from the samples equals metrics.json's."""
    choices_k: float | None = None
    """Multiple-choice tasks: mean number of choices."""
    forgetting_chance_adjusted: Any = None
    """Multiple-choice tasks: forgetting corrected for flips by chance."""


class CategoryDrift(MetricDrift):
    """One IFEval instruction category of one task, at the prompt or instruction level."""

    task: str
    """The task."""
    category: str
    """The category: the part of the instruction id before the colon."""
    level: str
    """prompt or inst: which IFEval level the row counts."""


class InstructionDrift(MetricDrift):
    """One IFEval instruction id of one task."""

    task: str
    """The task."""
    id: str
    """The instruction id, e.g. ``keywords:existence``."""
    level: str | None = None
    """Which IFEval level the row counts."""


class Summary(_Record):
    """A distribution in five numbers."""

    mean: float | None
    """Mean."""
    median: float | None
    """Median."""
    std: float | None = None
    """Standard deviation."""
    p10: float | None = None
    """10th percentile."""
    p90: float | None = None
    """90th percentile."""


class LengthDrift(_Record):
    """Response lengths before and after."""

    baseline: Summary
    """The baseline's lengths."""
    candidate: Summary
    """The candidate's lengths."""
    delta_mean: float | None = None
    """Mean length change."""
    ks_statistic: float | None = None
    """Two-sample Kolmogorov-Smirnov statistic."""
    ks_p_value: float | None = None
    """Its p-value."""
    wasserstein: float | None = None
    """Earth mover's distance between the two length distributions."""
    values: dict[str, list[float | None]] | None = None
    """Every response's length, by run (for the figures)."""


class PatternDrift(_Record):
    """How often a template pattern (a regex) appears in the responses, before and after."""

    pattern: str
    """The pattern's name."""
    regex: str | None = None
    """The regular expression."""
    n: int | None = Field(default=None, ge=0)
    """Paired responses."""
    baseline: float | None
    """Share of baseline responses that match."""
    candidate: float | None
    """Share of candidate responses that match."""
    delta: float | None = None
    """candidate - baseline."""
    p_value: float | None = None
    """McNemar's exact test over the paired responses."""
    p_holm: float | None = None
    """After Holm's correction."""
    flips: dict[str, int] | None = None
    """Responses that started or stopped matching."""


class BeforeAfter(_Record):
    """One number for each run."""

    baseline: float | None
    """The baseline's."""
    candidate: float | None
    """The candidate's."""


class LexicalDrift(_Record):
    """Lexical diversity and n-gram shift of the responses."""

    distinct_1: BeforeAfter
    """Distinct unigrams over all unigrams."""
    distinct_2: BeforeAfter
    """Distinct bigrams over all bigrams."""
    self_bleu: BeforeAfter
    """Mean BLEU of each response against the others (higher: more alike)."""
    jsd_1gram: float | None = None
    """Jensen-Shannon divergence of the unigram distributions."""
    jsd_2gram: float | None = None
    """The same for bigrams."""
    shifted_ngrams: dict[str, Any] | None = None
    """The n-grams whose frequency moved most, by n."""


class TwoSample(_Record):
    """A classifier told to separate the two runs' response embeddings."""

    auc: float | None
    """Cross-validated AUC; 0.5 = indistinguishable; null with fewer than 5 per run."""
    folds: int | None = None
    """Cross-validation folds."""
    n: int | None = None
    """Responses per run."""


class Projection(_Record):
    """The responses' embeddings in two dimensions, for the figure."""

    method: str | None = None
    """pca."""
    explained_variance_ratio: list[float | None] | None = None
    """Variance share of each axis."""
    baseline: list[list[float]]
    """The baseline's points."""
    candidate: list[list[float]]
    """The candidate's points."""


class EmbeddingDrift(_Record):
    """The shift of the responses' sentence embeddings."""

    model: str | None = None
    """The embedding model."""
    n: int | None = None
    """Paired responses embedded."""
    frechet_distance: float | None = None
    """Frechet distance between the two embedding distributions."""
    mean_cosine_to_paired: float | None = None
    """Mean cosine similarity of each response to its pair."""
    classifier_two_sample: TwoSample
    """The classifier two-sample test."""
    projection: Projection | None = None
    """2-D projection for the figure."""


class DistributionDrift(_Record):
    """How a generation task's responses changed as text, beyond the scores."""

    n: int | None = Field(default=None, ge=0)
    """Paired responses."""
    length: LengthDrift
    """Response lengths."""
    patterns: list[PatternDrift] = Field(default_factory=list)
    """Template patterns."""
    lexical: LexicalDrift
    """Lexical diversity and n-gram shift."""
    embeddings: EmbeddingDrift | None = None
    """Sentence-embedding shift (compare's embeddings=true)."""
    cross_likelihood: dict[str, Any] | None = None
    """Each run's responses scored under the other's model (cross_likelihood=true)."""


class TaskDrift(_Record):
    version: Any = None
    """The task version both runs share."""
    metrics: dict[str, MetricDrift] = Field(default_factory=dict)
    """By metric name."""


class ComparisonDrift(_Record):
    tasks: dict[str, TaskDrift] = Field(default_factory=dict)
    """By task name."""
    categories: list[CategoryDrift] = Field(default_factory=list)
    """IFEval instruction categories: pass rates before and after, flips, tests."""
    instruction_ids: list[InstructionDrift] = Field(default_factory=list)
    """The same per instruction id."""
    distribution: dict[str, DistributionDrift] = Field(default_factory=dict)
    """Generation tasks: length, template patterns, lexical diversity, embedding shift
    and (when asked) cross-likelihood, by task."""
    warnings: list[str] = Field(default_factory=list)
    """What the reader must know (unpaired samples, prompt mismatches, ...)."""
    examples: dict[str, TaskExamples] = Field(default_factory=dict)
    """Generation tasks: pairs to read (flipped, matching a pattern, at random), by task."""


class DriftSettings(_Record):
    """How the comparison was computed (evalsuite.drift.CompareSettings)."""

    alpha: float = Field(gt=0, lt=1)
    """Significance level of the marked changes (on Holm-adjusted p-values)."""
    level: float = Field(gt=0, lt=1)
    """Confidence level of the intervals."""
    n_boot: int | None = Field(default=None, ge=1)
    """Bootstrap resamples of every interval."""
    seed: int | None = None
    """Seed of the bootstrap."""
    length_unit: str = "tokens"
    """What response lengths count: tokens of the baseline's tokenizer, or words."""
    embeddings_precision: Literal["auto", "fp32", "bf16"] | None = None
    """The embedding encoder's precision (the one auto chose, where embeddings ran)."""
    embedding_cache: bool | None = None
    """Whether embeddings were read from and kept in the cache folder."""
    n_jobs: int | None = Field(default=None, ge=-1)
    """Worker processes asked for (-1: every core); the results do not depend on it."""


class GateCheck(_Record):
    """One gated metric of one comparison (evalsuite.drift.gate)."""

    comparison: str
    """The candidate's label."""
    task: str
    """The task's name."""
    metric: str
    """The metric's name."""
    rule: str
    """The gate pattern that set the tolerance (the strictest of those that match)."""
    tolerance: float = Field(ge=0)
    """The largest drop tolerated, on the metric's scale."""
    drop: float | None = None
    """How much worse the candidate is (positive: worse; sign follows the metric's
    direction)."""
    p_holm: float | None = None
    """The change's Holm-adjusted p-value."""
    significant: bool
    """p_holm below the comparison's alpha."""
    passed: bool
    """False when the drop is significant (Holm) and larger than the tolerance."""


class GateSummary(_Record):
    """``gate=``: the tolerances asked for and every check made."""

    rules: dict[str, float]
    """Pattern (METRIC or TASK/METRIC, globs allowed) -> tolerated drop."""
    passed: bool
    """No gated metric failed."""
    failures: int = Field(ge=0)
    """Gated metrics that failed."""
    checks: list[GateCheck] = Field(default_factory=list)
    """Every gated metric of every comparison."""


class RemedyDrift(RemedyRecovery):
    """``remedy=``: a candidate trained from another candidate to undo its drift."""

    treated: str
    """The label of the candidate the remedy started from."""
    comparison: ComparisonDrift
    """The remedy against that candidate, paired, with every measure of a comparison."""


class DriftReport(_Record):
    """drift.json: a baseline against one or more candidates."""

    schema_version: int = Field(ge=1)
    """The drift.json format's version (see SCHEMA_VERSION)."""
    created_at: str | None = None
    """ISO 8601, UTC."""
    baseline: RunMeta
    """The run every candidate is compared with."""
    candidates: list[RunMeta]
    """The compared runs, in the order given."""
    settings: DriftSettings
    """Bootstrap resamples, seed, confidence level, alpha, patterns, ..."""
    versions: dict[str, str | None] = Field(default_factory=dict)
    """Versions of the packages the comparison ran with."""
    comparisons: dict[str, ComparisonDrift]
    """By candidate label."""
    remedies: dict[str, RemedyDrift] = Field(default_factory=dict)
    """By remedy label (``remedy=``): what each remedy gave back."""
    config: dict[str, Any] | None = None
    """The resolved config of the comparison."""
    sweep: dict[str, Any] | None = None
    """A sweep comparison: its directory, runs and the swept key's values."""
    gate: GateSummary | None = None
    """The drift gate's checks, when the comparison was run with ``gate=``."""

    def metrics_df(self) -> Any:
        """One row per candidate, task and metric: the paired values, delta, interval,
        p-values and flips (a pandas DataFrame)."""
        import pandas as pd

        rows = []
        for cand, comp in self.comparisons.items():
            for task, t in comp.tasks.items():
                for metric, m in t.metrics.items():
                    flips = m.flips or {}
                    rows.append({"candidate": cand, "task": task, "version": t.version,
                                 "metric": metric, "baseline": m.baseline,
                                 "candidate_value": m.candidate, "delta": m.delta,
                                 "ci_low": m.ci_low, "ci_high": m.ci_high,
                                 "p_value": m.p_value, "p_holm": m.p_holm,
                                 "significant": m.significant, "n": m.n,
                                 "lost": flips.get("lost"), "gained": flips.get("gained")})
        return pd.DataFrame(rows)
