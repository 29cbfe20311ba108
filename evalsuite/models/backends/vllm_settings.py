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
