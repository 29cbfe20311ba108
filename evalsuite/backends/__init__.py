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

    from evalsuite.checkpoint import Checkpoint
    from evalsuite.config import RunConfig

BACKENDS = {
    "hf": "evalsuite.backends.hf",
    "vllm": "evalsuite.backends.vllm_engine",
}


def build_lm(cfg: RunConfig, checkpoint: Checkpoint) -> LM:
    """Instantiate the lm-eval model object for ``cfg.backend``."""
    module = BACKENDS.get(cfg.backend.name)
    if module is None:
        raise UserError(
            f"unknown backend {cfg.backend.name!r}: choose one of {', '.join(sorted(BACKENDS))}"
        )
    return importlib.import_module(module).build(cfg, checkpoint)


def close_lm(lm: Any) -> None:
    """Release what the backend holds (engine processes, servers); safe to call twice."""
    close = getattr(lm, "close", None)
    if callable(close):
        close()
