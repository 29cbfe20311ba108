"""The unlearning stage's settings (ranges checked, every problem in one line) and its
loop: AdamW over paired forget and replay batches, each term's loss on the progress bar
and in the log, deterministic per seed."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evalsuite.errors import UserError
from evalsuite.recipe._train import lr_at
from evalsuite.recipe._unlearn_loss import Weights, objective

if TYPE_CHECKING:
    import torch

FORGET_TOKENS = ("template", "all")
# The paper stresses low cost: at most a quarter of the synthetic stage's steps.
BUDGET_SHARE = 0.25


@dataclass(frozen=True)
class UnlearnSettings:
    """Everything that shapes the unlearned weights besides the two checkpoints and data."""

    steps: int = 20
    """Optimizer steps; at most a quarter of the synthetic stage's (checked against its
    record)."""
    batch_size: int = 4
    """Forget pairs and replay answers per step (each)."""
    lr: float = 2e-5
    warmup_steps: int = 2
    grad_clip: float = 1.0
    seed: int = 0
    weights: Weights = field(default_factory=Weights)
    """Each term's weight; 0 switches the term off (it is not computed)."""
    forget_bound: float = 1.0
    """A pair's forgetting stops once its loss reaches this multiple of the base model's
    loss on it (1: back to where the base model was, no further)."""
    forget_tokens: str = "template"
    """``template``: forget only the template's own tokens ("Question:", "Answer:");
    ``all``: every token of the rendered pair."""


def check(s: UnlearnSettings, synthetic_steps: int | None = None) -> None:
    """Refuse settings out of range, all problems in one line, before any model loads."""
    errors = []
    for key in ("steps", "batch_size"):
        if getattr(s, key) < 1:
            errors.append(f"{key} must be at least 1, got {getattr(s, key)}")
    if not 0 < s.lr <= 1e-2:
        errors.append(f"lr must be in (0, 0.01], got {s.lr}")
    if s.warmup_steps < 0:
        errors.append(f"warmup_steps must be 0 or more, got {s.warmup_steps}")
    if s.grad_clip < 0:
        errors.append(f"grad_clip must be 0 (off) or more, got {s.grad_clip}")
    for name in ("forget", "replay", "kl"):
        w = getattr(s.weights, name)
        if not 0 <= w <= 100:
            errors.append(f"{name}_weight must be in [0, 100], got {w}")
    if not any((s.weights.forget, s.weights.replay, s.weights.kl)):
        errors.append("every term is switched off (forget_weight, replay_weight and "
                      "kl_weight are 0): switch at least one on")
    if not 0 < s.forget_bound <= 10:
        errors.append(f"forget_bound must be in (0, 10] (a multiple of the base model's "
                      f"loss on a pair), got {s.forget_bound}")
    if s.forget_tokens not in FORGET_TOKENS:
        errors.append(f"forget_tokens must be one of {', '.join(FORGET_TOKENS)}, got "
                      f"{s.forget_tokens!r}")
    if synthetic_steps is not None and s.steps > BUDGET_SHARE * synthetic_steps:
        errors.append(f"steps={s.steps} is over the budget of a quarter of the synthetic "
                      f"stage's {synthetic_steps} steps: at most "
                      f"{int(BUDGET_SHARE * synthetic_steps)}")
    if errors:
        raise UserError("; ".join(errors))


@dataclass(frozen=True)
class UnlearnLog:
    terms: dict[str, list[float]]
    """Each switched-on term's value at every step (before that step's update), and the
    weighted ``total``."""
    wall_s: float


def unlearn(model: Any, base: Any, forget: list[dict[str, torch.Tensor]],
            bounds: list[torch.Tensor], replay: list[dict[str, torch.Tensor]],
            s: UnlearnSettings, progress: bool = True) -> UnlearnLog:
    """One AdamW step per (forget, replay) batch pair, ``s.steps`` in all. ``base`` is the
    frozen base model (the KL term's reference); ``bounds`` holds each forget batch's
    per-sequence bounds."""
    import torch
    from tqdm import tqdm

    n = s.steps
    if (s.weights.forget and len(forget) < n) or (
            (s.weights.replay or s.weights.kl) and len(replay) < n):
        raise ValueError(f"{n} steps need {n} batches of each switched-on kind")
    torch.manual_seed(s.seed)
    base.eval()
    for p in base.parameters():
        p.requires_grad_(False)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=0.0)
    terms: dict[str, list[float]] = {}
    bar = tqdm(total=n, desc="unlearning", unit="step", disable=not progress, file=sys.stderr,
               dynamic_ncols=True)
    start = time.monotonic()
    for step in range(n):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, s.lr, s.warmup_steps)
        out = objective(model, base, s.weights,
                        forget[step] if s.weights.forget else None,
                        bounds[step] if s.weights.forget else None,
                        replay[step] if (s.weights.replay or s.weights.kl) else None)
        out["total"].backward()
        if s.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        for k, v in out.items():
            terms.setdefault(k, []).append(float(v.detach()))
        bar.set_postfix({k: f"{v[-1]:.3f}" for k, v in terms.items()})
        bar.update()
    bar.close()
    model.eval()
    return UnlearnLog(terms, time.monotonic() - start)
