"""Chats as lm-eval generation requests, for tasks that lm-eval cannot express
(multi-turn answers, judges).

Every request is an lm-eval ``Instance`` sent to the same ``LM.generate_until`` that
lm-eval's own tasks call, so it goes through the request cache and works on every
backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lm_eval.api.instance import Instance

Message = dict[str, str]

PLAIN_STOP = "\nUser:"
"""Where a plain-text transcript's answer ends: the next user turn the model invents."""


def greedy(max_gen_toks: int, until: Sequence[str] = ()) -> dict[str, Any]:
    """lm-eval generation kwargs for a greedy answer of at most ``max_gen_toks`` tokens."""
    return {"until": list(until), "do_sample": False, "temperature": 0.0,
            "max_gen_toks": int(max_gen_toks)}


def uses_template(lm: Any, chat_template: bool = True) -> bool:
    """Whether prompts for ``lm`` go through its chat template: asked for, and the LM has
    one (lm-eval's base ``LM`` raises NotImplementedError)."""
    apply = getattr(lm, "apply_chat_template", None)
    if not chat_template or not callable(apply):
        return False
    try:
        apply([{"role": "user", "content": "x"}])
    except NotImplementedError:
        return False
    return True


def render(lm: Any, messages: Sequence[Message], templated: bool) -> Any:
    """The prompt for ``messages``: what the LM's chat template makes of them (a string,
    or for a chat endpoint lm-eval's ``JsonChatStr`` holding the messages), or
    (``templated`` false) a plain transcript ending in ``Assistant:``."""
    if templated:
        return lm.apply_chat_template([dict(m) for m in messages])
    parts = []
    for m in messages:
        if m["role"] == "system":
            parts.append(m["content"])
        else:
            parts.append(f"{'User' if m['role'] == 'user' else 'Assistant'}: {m['content']}")
    return "\n\n".join(parts) + "\n\nAssistant:"


def stops(templated: bool) -> list[str]:
    """Stop strings: none with a chat template (the model's end-of-turn token stops it),
    the next ``User:`` line of a plain transcript."""
    return [] if templated else [PLAIN_STOP]


def prompt_text(prompt: Any) -> str:
    """A rendered prompt as the text stored in a sample (a chat endpoint's messages as
    their JSON)."""
    return prompt if isinstance(prompt, str) else str(getattr(prompt, "prompt", prompt))


def generate(lm: Any, prompts: Sequence[Any], gen_kwargs: dict[str, Any],
             task: str) -> list[str]:
    """Greedy (or as ``gen_kwargs`` say) answers to ``prompts``, in order."""
    if not prompts:
        return []
    requests = [Instance(request_type="generate_until", doc={"prompt": prompt_text(p)},
                         arguments=(p, dict(gen_kwargs)), idx=0, metadata=(task, i, 1))
                for i, p in enumerate(prompts)]
    answers = lm.generate_until(requests)
    if len(answers) != len(prompts):
        raise RuntimeError(f"{type(lm).__name__} returned {len(answers)} answers for "
                           f"{len(prompts)} prompts")
    return [str(a) for a in answers]
