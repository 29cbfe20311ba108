"""transformers in process, through lm-eval's own HFLM: the backend that runs anywhere."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from evalsuite.config import HFBackendConfig, RunConfig
from evalsuite.errors import UserError, first_line
from evalsuite.models.checkpoint import Checkpoint

if TYPE_CHECKING:
    from lm_eval.models.huggingface import HFLM

log = logging.getLogger(__name__)


def build(cfg: RunConfig, checkpoint: Checkpoint) -> HFLM:
    import torch  # here, not at the top: checks before any work need neither (3 s)
    from lm_eval.models.huggingface import HFLM

    backend, model = cfg.backend, cfg.model
    assert isinstance(backend, HFBackendConfig)
    if cfg.store_logprobs:
        raise UserError("backend=hf cannot store response logprobs: use backend=vllm "
                        "or set store_logprobs=false")

    if backend.threads:
        torch.set_num_threads(backend.threads)
    if backend.device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(
            f"backend.device={backend.device} but torch sees no GPU: use backend.device=cpu"
        )
    kwargs = dict(
        pretrained=checkpoint.location,
        backend="causal",
        # fp32 on CPU: bf16 changed greedy outputs with batch composition (environment.md).
        dtype=model.dtype,
        batch_size=backend.batch_size,
        device=backend.device,
        trust_remote_code=model.trust_remote_code,
    )
    if model.revision:
        kwargs["revision"] = model.revision
    if model.max_length:
        kwargs["max_length"] = model.max_length
    try:
        return HFLM(**kwargs)
    except OSError as e:
        raise UserError(
            f"could not load model {model.name} from {checkpoint.location}: {first_line(e)}"
        ) from e
