"""Token rows for the unlearning stage: forget rows (one rendered pair each, scored on the
template's tokens or on all) and replay rows (chat-formatted instruction and the base
model's answer, scored on the answer), padded into batches by ``_train.pad_rows``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evalsuite.recipe._data import QAPair
from evalsuite.recipe._template import Template
from evalsuite.recipe._unlearn_loss import IGNORE, span_labels, template_spans

Row = tuple[list[int], list[int]]  # (input ids, labels)


def forget_rows(tok: Any, pairs: Sequence[QAPair], tmpl: Template, append_eos: bool,
                tokens: str, seq_len: int) -> list[Row]:
    """One row per pair, rendered as the synthetic stage rendered and packed it: after
    the previous pair's end (EOS, else nothing), so that starting a new "Question:" after
    an answer is scored too, and with the end the stage trained (EOS, or the blank line)."""
    eos = tok.eos_token_id
    tail = "" if append_eos else "\n\n"
    rows = []
    for p in pairs:
        text = tmpl.render(p.question, p.answer) + tail
        enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        if tokens == "template":
            spans = template_spans(tmpl.text, p.question, p.answer)
            if tail:  # the blank line that joined the pairs is the pattern's too
                spans.append((len(text) - len(tail), len(text)))
            labels = span_labels(text, ids, enc["offset_mapping"], spans)
        else:
            labels = list(ids)
        if eos is not None:
            ids, labels = [eos, *ids], [IGNORE, *labels]  # context, not scored
            if append_eos:
                ids.append(eos)
                labels.append(eos)
        rows.append((ids[:seq_len], labels[:seq_len]))
    return rows


def replay_rows(tok: Any, rows: Sequence[tuple[str, str, bool]], seq_len: int) -> list[Row]:
    """The instruction in the chat template (not scored) and the answer (scored). The end
    of the assistant's turn is scored only after an answer the model ended itself: one
    that ``replay_max_new_tokens`` cut off must not teach the model to stop mid-answer.
    A row longer than ``seq_len`` loses the start of its prompt, never its answer."""
    out = []
    for instruction, answer, finished in rows:
        user = [{"role": "user", "content": instruction}]
        prompt = tok.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
        full = tok.apply_chat_template([*user, {"role": "assistant", "content": answer}],
                                       tokenize=False)
        enc = tok(full, add_special_tokens=False, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        cut = len(prompt) if full.startswith(prompt) else 0
        end = len(full) if finished else cut + len(answer)
        labels = [t if cut <= a and b <= end and b > a else IGNORE
                  for t, (a, b) in zip(ids, enc["offset_mapping"], strict=True)]
        out.append((ids[-seq_len:], labels[-seq_len:]))
    return out
