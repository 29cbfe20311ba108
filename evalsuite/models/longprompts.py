"""Prompts longer than the model's context: truncate, skip or refuse, and say so.

A generation needs ``prompt tokens + max_gen_toks <= context length``. lm-eval's HFLM and
evalsuite's vLLM engine left-truncate a longer prompt silently, a vLLM server rejects it
(and lm-eval retries, then crashes the run). ``PromptGuard`` wraps the backend and applies
one policy to every backend, recording what it did so that the sample and the manifest
say which prompts were not seen whole:

- ``truncate`` (default, lm-eval's behaviour): keep the prompt's last tokens, which hold
  the question and the chat template's assistant header;
- ``skip``: send nothing, answer with an empty response (scored as lm-eval scores an empty
  answer) and mark the sample skipped;
- ``error``: stop the run with one line naming the sample's length and the fix.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from lm_eval.api.model import LM

from evalsuite.config import check_policy
from evalsuite.errors import UserError
from evalsuite.models.backends.genparams import DEFAULT_MAX_GEN_TOKS
from evalsuite.models.generation import Generation, LongPrompt
from evalsuite.models.wrap import WrappedLM

log = logging.getLogger(__name__)

def context_length(lm: Any, configured: int | None) -> int | None:
    """The model's context in tokens: the configured ``model.max_length``, else what the
    backend reports (HFLM ``max_length``, the vLLM engine's ``max_model_len``)."""
    if configured:
        return int(configured)
    for attr in ("max_model_len", "max_length"):
        value = getattr(lm, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


class PromptGuard(WrappedLM):
    """Wraps an lm-eval ``LM``; generation prompts that do not fit are truncated, skipped
    or refused before the backend sees them. Everything else is the wrapped LM's."""

    def __init__(self, inner: LM, policy: str, max_length: int | None) -> None:
        super().__init__(inner)
        self.policy = check_policy(policy)
        self.max_length = max_length
        self.tokenizer_ = getattr(inner, "tokenizer", None)
        # what happened to this task's prompts, for the manifest; each answer carries its own
        self.notes: list[LongPrompt] = []

    @property
    def active(self) -> bool:
        """False where there is nothing to measure with (a chat endpoint's server-side
        tokenizer): the server then decides."""
        return self.max_length is not None and hasattr(self.tokenizer_, "encode")

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[Any]:
        # the backends left-truncate scored contexts themselves (the continuation is kept)
        return self.inner.loglikelihood(requests, disable_tqdm=disable_tqdm)

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[Any]:
        return self.inner.loglikelihood_rolling(requests, disable_tqdm=disable_tqdm)

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        if not self.active:
            return self.inner.generate_until(requests, disable_tqdm=disable_tqdm)
        send: list[Any] = []
        out: list[tuple[str | None, LongPrompt | None]] = []
        for req in requests:
            context = req.args[0]
            fitted, note = self._fit(context, req.args[1], req)
            if note is not None:
                self.notes.append(note)
            if fitted is None:
                out.append(("", note))  # skipped: the backend never sees it
                continue
            # a copy: the task's own instance keeps the prompt it asked, for the records
            send.append(req if fitted is context
                        else replace(req, arguments=(fitted, *req.args[1:])))
            out.append((None, note))
        answers = iter(self.inner.generate_until(send, disable_tqdm=disable_tqdm) if send else [])
        texts: list[str] = []
        for skipped, note in out:
            answer = next(answers) if skipped is None else skipped
            # the answer carries what was done to its prompt into its sample record
            texts.append(answer if note is None else Generation.of(answer, long_prompt=note))
        return texts

    def _fit(self, context: str, gen_kwargs: dict[str, Any],
             req: Any) -> tuple[str | None, LongPrompt | None]:
        """The context to send (None: skip it), and the note when it did not fit."""
        assert self.max_length is not None
        max_new = int((gen_kwargs or {}).get("max_gen_toks") or DEFAULT_MAX_GEN_TOKS)
        room = self.max_length - max_new
        ids = self.tokenizer_.encode(context, add_special_tokens=False)
        if len(ids) <= room:
            return context, None
        where = _where(req)
        if room <= 0:
            raise UserError(
                f"max_gen_toks={max_new} leaves no room for a prompt in the model's context "
                f"of {self.max_length} tokens: lower max_gen_toks or raise model.max_length")
        reason = (f"prompt is {len(ids)} tokens; the context of {self.max_length} tokens "
                  f"leaves {room} after max_gen_toks={max_new}")
        if self.policy == "error":
            raise UserError(f"{where}: {reason}: set long_prompts=truncate or skip, lower "
                            "max_gen_toks, or raise model.max_length")
        if self.policy == "skip":
            log.warning("%s skipped: %s", where, reason)
            return None, LongPrompt("skipped", len(ids), reason)
        kept = self.tokenizer_.decode(ids[-room:])
        # decoding and re-encoding a cut can merge tokens differently at the seam: cut
        # again until it fits
        while len(self.tokenizer_.encode(kept, add_special_tokens=False)) > room:
            kept = kept[1:]
        log.warning("%s truncated to its last %d tokens: %s", where, room, reason)
        return kept, LongPrompt("truncated", len(ids), reason, kept_tokens=room)

    def summary(self) -> dict[str, Any] | None:
        """What the manifest records for a task; None when every prompt fit."""
        if not self.notes:
            return None
        actions = [n.action for n in self.notes]
        return {"policy": self.policy, "context_length": self.max_length,
                "truncated": actions.count("truncated"), "skipped": actions.count("skipped")}

    def reset(self) -> None:
        self.notes = []



def _where(req: Any) -> str:
    task = getattr(req, "task_name", None) or "a task"
    doc = getattr(req, "doc_id", None)
    return f"{task} sample {doc}" if doc is not None else task
