"""Continued training of a causal LM on rendered Q-A pairs: packing and the loop (CPU)."""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evalsuite.recipe._settings import TrainSettings

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Packed:
    """The training rows, in the order the steps consume them."""

    rows: list[list[int]]
    """Token ids per row, at most ``seq_len`` each (padding is added at batch time)."""
    order: list[int]
    """Index of every pair placed in a row, in placement order (repeats across epochs)."""
    epochs: float
    """Passes over the pairs the rows hold (placed pairs / all pairs)."""
    truncated: int
    """Pairs longer than ``seq_len`` tokens, cut to fit."""


def pack(examples: Sequence[Sequence[int]], n_rows: int, seq_len: int, seed: int) -> Packed:
    """Fill ``n_rows`` rows of ``seq_len`` tokens with whole examples, greedily.

    The examples are shuffled with ``seed`` (reshuffled each epoch when the rows need
    more than one pass); an example that does not fit in what is left of a row starts
    the next row, so every row begins at the start of a pair.
    """
    if not examples:
        raise ValueError("no examples to pack")
    rng = random.Random(seed)
    rows: list[list[int]] = []
    order: list[int] = []
    truncated = sum(len(e) > seq_len for e in examples)
    row: list[int] = []
    queue: list[int] = []
    while True:
        if not queue:
            queue = list(range(len(examples)))
            rng.shuffle(queue)
            queue.reverse()  # pop() from the end keeps the shuffled order
        i = queue[-1]
        ex = list(examples[i][:seq_len])
        if len(row) + len(ex) > seq_len:
            rows.append(row)
            row = []
            if len(rows) == n_rows:
                break
            continue
        queue.pop()
        row += ex
        order.append(i)
    return Packed(rows, order, len(order) / len(examples), truncated)


def batches(rows: list[list[int]], batch_size: int, pad_id: int) -> list[dict[str, torch.Tensor]]:
    """Right-padded batches scored on every token; padding is masked out of attention
    and loss."""
    return pad_rows([(r, r) for r in rows], batch_size, pad_id)


def pad_rows(rows: Sequence[tuple[list[int], list[int]]], batch_size: int,
             pad_id: int) -> list[dict[str, torch.Tensor]]:
    """(input ids, labels) rows as right-padded batches; padding is masked out of
    attention and never scored (label -100)."""
    import torch

    out = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        width = max(len(ids) for ids, _ in chunk)
        ids_t = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        labels_t = torch.full((len(chunk), width), -100, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for j, (ids, labels) in enumerate(chunk):
            ids_t[j, :len(ids)] = torch.tensor(ids, dtype=torch.long)
            labels_t[j, :len(labels)] = torch.tensor(labels, dtype=torch.long)
            mask[j, :len(ids)] = 1
        out.append({"input_ids": ids_t, "attention_mask": mask, "labels": labels_t})
    return out


def lr_at(step: int, lr: float, warmup_steps: int) -> float:
    """Linear warm-up over ``warmup_steps`` (step counted from 0), then constant."""
    return lr * min(1.0, (step + 1) / warmup_steps) if warmup_steps else lr


@dataclass(frozen=True)
class TrainLog:
    losses: list[float]
    """Mean token loss of every step, before that step's update."""
    wall_s: float


def train(model: Any, data: list[dict[str, torch.Tensor]], settings: TrainSettings,
          progress: bool = True) -> TrainLog:
    """AdamW over the batches in order, one optimizer step each."""
    import torch
    from tqdm import tqdm

    torch.manual_seed(settings.seed)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr,
                            weight_decay=settings.weight_decay)
    losses = []
    bar = tqdm(total=len(data), desc="training", unit="step", disable=not progress,
               file=sys.stderr, dynamic_ncols=True)
    start = time.monotonic()
    for step, batch in enumerate(data):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, settings.lr, settings.warmup_steps)
        loss = model(**batch).loss
        loss.backward()
        if settings.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        bar.set_postfix(loss=f"{losses[-1]:.3f}", lr=f"{opt.param_groups[0]['lr']:.1e}")
        bar.update()
    bar.close()
    model.eval()
    return TrainLog(losses, time.monotonic() - start)
