"""The unlearning stage's objective: three terms, each with its own weight (0 switches it
off and it is not computed at all).

Built from the paper's description (Chen et al., arXiv 2406.12397: a lower-bounded
forgetting loss on the synthetic data, with replay and a bias-mitigation loss), not from
its code, which is not available:

- **forget**: ``mean_i relu(bound_i - nll_i)`` over the synthetic pairs, where ``nll_i``
  is pair i's mean token loss under the model being trained and ``bound_i`` is
  ``forget_bound`` times the base model's loss on the same tokens. Minimising it raises a
  pair's loss (gradient ascent) only while the loss is below its bound; past the bound the
  term is 0 and gives no gradient, so forgetting cannot run away into destroying the
  model. The bound is relative to the base model because the base model's loss is the
  level before the synthetic data taught the pattern: ``forget_bound=1`` undoes what the
  training added and no more. ``forget_tokens=template`` scores only the template's own
  tokens ("Question:", "Answer:"), the pattern the model overfitted, and leaves the
  answers' content (what raised the benchmarks) alone.
- **replay**: ordinary next-token loss on replay data (the base model's own answers),
  on the answer tokens only: the behaviour to keep.
- **kl**: ``KL(p_base || p_model)`` per answer token of the replay data, averaged over
  tokens: keeps the output distribution near the base model's where it should not have
  moved. Exactly 0 for the base model itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

IGNORE = -100  # label of a token that is not scored (padding, prompt, content)
_FIELD = re.compile(r"\{(question|answer)\}")


@dataclass(frozen=True)
class Weights:
    forget: float = 1.0
    replay: float = 1.0
    kl: float = 1.0


def template_spans(template_text: str, question: str, answer: str) -> list[tuple[int, int]]:
    """Character spans of the rendered pair that come from the template itself (not from
    the question or the answer), in the text ``Template.render`` produces."""
    spans, pos, last = [], 0, 0
    values = {"question": question, "answer": answer}
    for m in _FIELD.finditer(template_text):
        literal = m.start() - last
        if literal:
            spans.append((pos, pos + literal))
        pos += literal + len(values[m[1]])
        last = m.end()
    if len(template_text) > last:
        spans.append((pos, pos + len(template_text) - last))
    return spans


def span_labels(text: str, ids: Sequence[int], offsets: Sequence[tuple[int, int]],
                spans: Sequence[tuple[int, int]]) -> list[int]:
    """Labels that score only the tokens whose text lies inside ``spans`` (IGNORE
    elsewhere). A token's leading whitespace may come from a span and its word from the
    content (BPE merges the template's space into the next word: " Paris"): such a token
    belongs to the content, so it is judged by its text after that whitespace."""
    out = []
    for tok, (a, b) in zip(ids, offsets, strict=True):
        piece = text[a:b]
        start = a + len(piece) - len(piece.lstrip()) if piece.strip() else a
        inside = b > a and any(s <= start and b <= e for s, e in spans)
        out.append(tok if inside else IGNORE)
    return out


def sequence_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean token loss per sequence ([B]) over its scored labels (shifted as in causal LM
    training); a sequence without a scored token has loss 0."""
    import torch.nn.functional as F

    logits, labels = logits[:, :-1].float(), labels[:, 1:]
    per_token = F.cross_entropy(logits.transpose(1, 2), labels, ignore_index=IGNORE,
                                reduction="none")
    counts = (labels != IGNORE).sum(dim=1)
    return per_token.sum(dim=1) / counts.clamp(min=1)


def forget_bounds(base: Any, batch: dict[str, torch.Tensor], ratio: float) -> torch.Tensor:
    """Each forget sequence's bound: ``ratio`` times the base model's loss on its tokens."""
    import torch

    with torch.no_grad():
        logits = base(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        return ratio * sequence_nll(logits, batch["labels"])


def forget_term(nll: torch.Tensor, bound: torch.Tensor) -> torch.Tensor:
    """``mean(relu(bound - nll))``: raises each loss up to its bound, no gradient past it."""
    import torch

    return torch.relu(bound.detach() - nll).mean()


def replay_term(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean token loss over every scored token of the batch (as causal LM training)."""
    import torch
    import torch.nn.functional as F

    if not bool((labels[:, 1:] != IGNORE).any()):  # nothing to score: no term, not NaN
        return torch.zeros((), device=logits.device)
    return F.cross_entropy(logits[:, :-1].float().transpose(1, 2), labels[:, 1:],
                           ignore_index=IGNORE)


def kl_term(logits: torch.Tensor, base_logits: torch.Tensor,
            labels: torch.Tensor) -> torch.Tensor:
    """``KL(p_base || p_model)`` at every scored position, averaged over positions."""
    import torch
    import torch.nn.functional as F

    mask = labels[:, 1:] != IGNORE
    logp = F.log_softmax(logits[:, :-1].float(), dim=-1)[mask]
    base_logp = F.log_softmax(base_logits[:, :-1].float(), dim=-1)[mask].detach()
    if logp.numel() == 0:
        return torch.zeros((), device=logits.device)
    kl = (base_logp.exp() * (base_logp - logp)).sum(dim=-1)
    return kl.mean()


def objective(model: Any, base: Any, weights: Weights, forget: dict[str, torch.Tensor] | None,
              forget_bound: torch.Tensor | None,
              replay: dict[str, torch.Tensor] | None) -> dict[str, torch.Tensor]:
    """Each switched-on term and their weighted ``total``. ``forget`` and ``replay`` are
    batches (input_ids, attention_mask, labels); ``forget_bound`` holds each forget
    sequence's bound. A term with weight 0 is neither computed nor returned."""
    import torch

    terms: dict[str, torch.Tensor] = {}
    if weights.forget and forget is not None:
        out = model(input_ids=forget["input_ids"], attention_mask=forget["attention_mask"])
        terms["forget"] = forget_term(sequence_nll(out.logits, forget["labels"]), forget_bound)
    if (weights.replay or weights.kl) and replay is not None:
        out = model(input_ids=replay["input_ids"], attention_mask=replay["attention_mask"])
        if weights.replay:
            terms["replay"] = replay_term(out.logits, replay["labels"])
        if weights.kl:
            with torch.no_grad():
                ref = base(input_ids=replay["input_ids"],
                           attention_mask=replay["attention_mask"]).logits
            terms["kl"] = kl_term(out.logits, ref, replay["labels"])
    by_name = {"forget": weights.forget, "replay": weights.replay, "kl": weights.kl}
    terms["total"] = sum((by_name[k] * v for k, v in terms.items()),
                         start=torch.zeros(()))
    return terms
