"""Serving backends: each turns a checkpoint into an lm-eval ``LM``.

Backends are imported lazily so that a missing optional dependency (vLLM) only
matters to the user who asks for that backend. A backend module exposes
``build(cfg, checkpoint) -> LM``; an LM may have ``close()``, called when the run ends.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from evalsuite.errors import UserError

if TYPE_CHECKING:
    from lm_eval.api.model import LM

    from evalsuite.config import RunConfig
    from evalsuite.models.checkpoint import Checkpoint

BACKENDS = {
    "hf": "evalsuite.models.backends.hf",
    "vllm": "evalsuite.models.backends.vllm_engine",
    "vllm_server": "evalsuite.models.backends.vllm_server",
    "openai": "evalsuite.models.backends.openai",
}


def build_lm(cfg: RunConfig, checkpoint: Checkpoint) -> LM:
    """Instantiate the lm-eval model object for ``cfg.backend``."""
    module = BACKENDS.get(cfg.backend.name)
    if module is None:
        raise UserError(
            f"unknown backend {cfg.backend.name!r}: choose one of {', '.join(sorted(BACKENDS))}"
        )
    return importlib.import_module(module).build(cfg, checkpoint)


def check_support(cfg: RunConfig, output_types: dict[str, str | None]) -> None:
    """Refuse, before any work, tasks whose request type the backend cannot serve."""
    module = importlib.import_module(BACKENDS[cfg.backend.name])
    supported = getattr(module, "supported_output_types", None)
    if supported is None:
        return
    allowed = supported(cfg)
    bad = sorted(t for t, kind in output_types.items() if kind and kind not in allowed)
    if bad:
        kinds = ", ".join(sorted({output_types[t] or "" for t in bad}))
        raise UserError(
            f"backend {cfg.backend.name} cannot serve {kinds} tasks ({', '.join(bad)}): a chat "
            "endpoint gives no prompt logprobs; use backend.api=completions or another backend"
        )


def answer_version(name: str) -> int:
    """The backend module's ANSWER_VERSION: bumped when its answers to the same request
    change (a fix in how it samples or decodes), so stored answers are not reused."""
    return int(getattr(importlib.import_module(BACKENDS[name]), "ANSWER_VERSION", 1))


def close_lm(lm: Any) -> None:
    """Release what the backend holds (engine processes, servers); safe to call twice."""
    close = getattr(lm, "close", None)
    if callable(close):
        close()
