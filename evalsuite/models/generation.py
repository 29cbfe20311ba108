"""One generated answer and what its request learned besides the text.

lm-eval's ``generate_until`` returns plain strings, and the evaluator keeps each returned
object in the logged sample's ``resps``. A ``Generation`` is such a string that also
carries the response's per-token logprobs (the vLLM engine, or the request cache that
stored them) and what the long-prompt guard did to its prompt. It travels with its own
request through every wrapper and lm-eval, so nothing is matched up afterwards by prompt
text (two samples with one prompt, or a prompt the guard truncated, used to lose or swap
their logprobs that way).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class LongPrompt:
    """What the long-prompt guard did to a prompt that did not fit the context."""

    action: Literal["truncated", "skipped"]
    prompt_tokens: int
    """Tokens of the prompt as the task asked it."""
    reason: str
    kept_tokens: int | None = None
    """Tokens sent after truncation; None for a skipped prompt."""

    def as_record(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


class Generation(str):
    """A generated answer: the text itself (what lm-eval scores), plus its side data."""

    logprobs: list[float] | None
    long_prompt: LongPrompt | None

    def __new__(cls, text: str, *, logprobs: list[float] | None = None,
                long_prompt: LongPrompt | None = None) -> Generation:
        self = super().__new__(cls, text)
        self.logprobs = logprobs
        self.long_prompt = long_prompt
        return self

    @classmethod
    def of(cls, answer: str, **changes: Any) -> Generation:
        """``answer`` as a Generation (keeping what it carries), with ``changes`` applied."""
        fields = {"logprobs": getattr(answer, "logprobs", None),
                  "long_prompt": getattr(answer, "long_prompt", None), **changes}
        return cls(str(answer), **fields)

    def __reduce__(self) -> Any:  # pickles (spawned workers, deep copies) keep the side data
        return (_rebuild, (str(self), self.logprobs, self.long_prompt))


def _rebuild(text: str, logprobs: list[float] | None,
             long_prompt: LongPrompt | None) -> Generation:
    return Generation(text, logprobs=logprobs, long_prompt=long_prompt)


def record_fields(answer: Any, *, logprobs: bool) -> dict[str, Any]:
    """The sample-record fields of one answer: its plain text, and its side data (a
    ``response_logprobs`` entry on every record when the run stores logprobs)."""
    out: dict[str, Any] = {"response": None if answer is None else str(answer)}
    if logprobs:
        out["response_logprobs"] = getattr(answer, "logprobs", None)
    note = getattr(answer, "long_prompt", None)
    if note is not None:
        out["long_prompt"] = note.as_record()
    return out
