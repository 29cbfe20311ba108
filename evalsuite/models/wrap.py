"""A base for lm-eval ``LM`` wrappers (the request cache, the long-prompt guard): what a
wrapper does not define itself is the wrapped LM's."""

from __future__ import annotations

from typing import Any

from lm_eval.api.model import LM


class WrappedLM(LM):
    def __init__(self, inner: LM) -> None:
        super().__init__()
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        # only called for attributes not found normally: delegate to the wrapped LM
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    # LM defines these itself, so __getattr__ would never see them
    @property
    def rank(self) -> int:
        return getattr(self.inner, "rank", 0)

    @property
    def world_size(self) -> int:
        return getattr(self.inner, "world_size", 1)

    @property
    def tokenizer_name(self) -> str:
        return self.inner.tokenizer_name

    def apply_chat_template(self, chat_history: list[dict[str, str]],
                            add_generation_prompt: bool = True) -> str:
        return self.inner.apply_chat_template(chat_history, add_generation_prompt)

    def chat_template(self, chat_template: bool | str = False) -> str | None:
        return self.inner.chat_template(chat_template)

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()
