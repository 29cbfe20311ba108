"""Serving backends: each turns a checkpoint into an lm-eval ``LM``.

Backends are imported lazily so that a missing optional dependency (vLLM) only
matters to the user who asks for that backend.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from evalsuite.errors import UserError

if TYPE_CHECKING:
    from lm_eval.api.model import LM

    from evalsuite.checkpoint import Checkpoint
    from evalsuite.config import BackendConfig, ModelConfig

# name -> module exposing ``build(backend, model, checkpoint) -> LM``
BACKENDS = {"hf": "evalsuite.backends.hf"}


def build_lm(backend: BackendConfig, model: ModelConfig, checkpoint: Checkpoint) -> LM:
    """Instantiate the lm-eval model object for ``backend``."""
    module = BACKENDS.get(backend.name)
    if module is None:
        raise UserError(
            f"unknown backend {backend.name!r}: choose one of {', '.join(sorted(BACKENDS))}"
        )
    return importlib.import_module(module).build(backend, model, checkpoint)
