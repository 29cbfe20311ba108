"""lm-eval's per-request generation kwargs, translated once for every backend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# lm-eval's own default when a task does not say (lm_eval/models/huggingface.py).
DEFAULT_MAX_GEN_TOKS = 256


@dataclass(frozen=True)
class GenParams:
    max_tokens: int
    stop: tuple[str, ...]
    temperature: float
    top_p: float
    top_k: int
    seed: int | None

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


def is_sampled(gen_kwargs: dict[str, Any] | None) -> bool:
    """Whether these generation kwargs sample (the one definition: the request cache, the
    backends and the drift analysis all ask here)."""
    return not from_lm_eval(gen_kwargs or {}).greedy


def from_lm_eval(gen_kwargs: dict[str, Any], seed: int | None = None) -> GenParams:
    """``until``/``max_gen_toks``/``do_sample``/``temperature``... -> GenParams.

    As in lm-eval's HFLM, ``do_sample: false`` means greedy whatever the temperature.
    """
    kw = dict(gen_kwargs)
    until = kw.pop("until", None) or []
    if isinstance(until, str):
        until = [until]
    max_tokens = int(kw.pop("max_gen_toks", DEFAULT_MAX_GEN_TOKS))
    do_sample = kw.pop("do_sample", None)
    temperature = float(kw.pop("temperature", 0.0) or 0.0)
    if do_sample is False:
        temperature = 0.0
    elif do_sample and temperature == 0.0:
        temperature = 1.0
    return GenParams(
        max_tokens=max_tokens,
        stop=tuple(until),
        temperature=temperature,
        top_p=float(kw.pop("top_p", 1.0) or 1.0),
        top_k=int(kw.pop("top_k", 0) or 0),
        seed=seed,
    )
