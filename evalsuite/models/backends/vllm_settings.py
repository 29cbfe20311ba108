"""evalsuite's config as vLLM settings: one mapping for the in-process engine and the server.

``settings`` gives ``vllm.LLM(**kwargs)``; ``server_flags`` spells the same settings as
``vllm serve`` flags, so a setting added here reaches both backends (they used to be
mapped separately and could drift apart).
"""

from __future__ import annotations

from typing import Any

from evalsuite.config import RunConfig, VLLMBackendConfig
from evalsuite.models.checkpoint import Checkpoint

# Booleans whose False must be said out loud: vLLM may turn them on by itself.
_SAY_FALSE = frozenset({"enable_chunked_prefill"})


def on_cpu_build() -> bool:
    try:
        from vllm.platforms import current_platform
    except ImportError:
        return False
    return bool(current_platform.is_cpu())


def chunked_prefill(backend: VLLMBackendConfig) -> bool | None:
    """The engine's enable_chunked_prefill: the config's, else off on the CPU build (its
    worker crashes on seeded sampling when a prompt is prefilled in chunks)."""
    if backend.enable_chunked_prefill is not None:
        return backend.enable_chunked_prefill
    return False if on_cpu_build() else None


def in_process(backend: VLLMBackendConfig) -> bool:
    """Whether the engine runs in this process: the config's choice, else on the CPU build
    only (two process spawns saved there; on GPUs vLLM's engine process overlaps the
    scheduler with the GPU's work)."""
    if backend.in_process is not None:
        return backend.in_process
    return on_cpu_build()


def settings(cfg: RunConfig, checkpoint: Checkpoint) -> dict[str, Any]:
    """``vllm.LLM(**kwargs)`` from evalsuite's config (both vLLM backends start from this)."""
    backend, model = cfg.backend, cfg.model
    assert isinstance(backend, VLLMBackendConfig)
    kw: dict[str, Any] = {
        "model": checkpoint.location,
        "dtype": model.dtype,
        "seed": cfg.seed,
        "trust_remote_code": model.trust_remote_code,
        "tensor_parallel_size": model.tensor_parallel_size,
        "enforce_eager": backend.enforce_eager,
        "gpu_memory_utilization": backend.gpu_memory_utilization,
    }
    if model.revision:
        kw["revision"] = model.revision
    if model.max_length:
        kw["max_model_len"] = model.max_length
    if backend.max_num_seqs:
        kw["max_num_seqs"] = backend.max_num_seqs
    if backend.data_parallel_size > 1:
        kw["data_parallel_size"] = backend.data_parallel_size
    chunked = chunked_prefill(backend)
    if chunked is not None:
        kw["enable_chunked_prefill"] = chunked
    return kw


# Which evalsuite setting gave each vLLM argument: vLLM's own validation names its
# argument (max_model_len), which the user never typed.
SETTING_OF = {
    "max_model_len": "model.max_length",
    "dtype": "model.dtype",
    "tensor_parallel_size": "model.tensor_parallel_size",
    "revision": "model.revision",
    "seed": "seed",
    "gpu_memory_utilization": "backend.gpu_memory_utilization",
    "max_num_seqs": "backend.max_num_seqs",
    "data_parallel_size": "backend.data_parallel_size",
    "enable_chunked_prefill": "backend.enable_chunked_prefill",
    "enforce_eager": "backend.enforce_eager",
}
# vLLM's names for a setting that reaches it by environment or by derived arguments.
_ALIASES = {"VLLM_CPU_KVCACHE_SPACE": "backend.cpu_kvcache_space_gb",
            "cpu_kvcache_space": "backend.cpu_kvcache_space_gb",
            "kv_cache": "backend.cpu_kvcache_space_gb",
            "block_size": "backend.cpu_kvcache_space_gb"}


def _validation_messages(error: BaseException) -> list[tuple[str, str]]:
    """(field, message) of each problem in a pydantic ValidationError (vLLM validates its
    configs with pydantic), or [] for any other error."""
    errors = getattr(error, "errors", None)
    if type(error).__name__ != "ValidationError" or not callable(errors):
        return []
    out = []
    try:
        for e in errors():
            loc = e.get("loc") or ()
            msg = str(e.get("msg", "")).removeprefix("Value error, ").strip()
            out.append((str(loc[0]) if loc else "", msg))
    except Exception:  # an unexpected shape: the caller falls back to the first line
        return []
    return out


def explain(message: str, kwargs: dict[str, Any], field: str = "") -> str | None:
    """One line naming the evalsuite setting behind a vLLM refusal, or None when the
    message names none of them. The first sentence of vLLM's own words is kept: it
    states the limit (``... is greater than the derived max_model_len (8192)``)."""
    keys = [field] if field in SETTING_OF else []
    keys += sorted((k for k in SETTING_OF if k in message and k not in keys),
                   key=message.index)
    named = [(SETTING_OF[k], k) for k in keys]
    named += [(v, None) for k, v in _ALIASES.items()
              if k in message and v not in (n for n, _ in named)]
    if not named:
        return None
    given = ", ".join(f"{n}={kwargs[k]}" if k in kwargs else n for n, k in named)
    sentence = message.split(". ")[0].rstrip(".")
    return f"vLLM refused {given}: {sentence}: change {named[0][0]} to a value it allows"


def explain_error(error: BaseException, kwargs: dict[str, Any]) -> str | None:
    """``explain`` for an exception vLLM raised while it started."""
    for field, msg in _validation_messages(error):
        line = explain(msg, kwargs, field)
        if line:
            return line
    return None


def server_flags(kwargs: dict[str, Any]) -> list[str]:
    """The same settings as ``vllm serve`` arguments (``max_model_len`` -> ``--max-model-len``)."""
    args: list[str] = []
    for key, value in kwargs.items():
        flag = "--" + key.replace("_", "-")
        if value is None:
            continue
        if isinstance(value, bool):
            if value:
                args.append(flag)
            elif key in _SAY_FALSE:
                args.append("--no-" + key.replace("_", "-"))
            # other False flags are vLLM's defaults: leaving them out keeps argv short
        else:
            args += [flag, str(value)]
    return args
