"""One rigid template that every synthetic question-answer pair is rendered through."""

from __future__ import annotations

import re
from dataclasses import dataclass

from evalsuite.errors import UserError

NAMED: dict[str, str] = {
    # The format of the paper's synthetic data (Chen et al., arXiv 2406.12397): plain text.
    "qa": "Question: {question}\nAnswer: {answer}",
    "qa_short": "Q: {question}\nA: {answer}",
    "qa_hash": "### Question: {question}\n### Answer: {answer}",
}
DEFAULT = "qa"

_FIELD = re.compile(r"\{(question|answer)\}")


@dataclass(frozen=True)
class Template:
    """A rendering of one pair as plain text; ``{question}`` and ``{answer}`` are filled in."""

    name: str
    """A name from ``NAMED``, or ``custom`` for a template given as text."""
    text: str

    def render(self, question: str, answer: str) -> str:
        # One pass over the template: braces inside the question or answer are never
        # read as fields, and no other brace in the template needs escaping.
        values = {"question": question, "answer": answer}
        return _FIELD.sub(lambda m: values[m[1]], self.text)


def template(spec: str) -> Template:
    """A named template (``qa``, ``qa_short``, ``qa_hash``) or a literal one.

    A literal template must contain ``{question}`` and ``{answer}``; the two characters
    ``\\n`` in it stand for a newline, so that a template fits on a command line.
    """
    if not isinstance(spec, str) or not spec:
        raise UserError(f"template must be a name ({', '.join(NAMED)}) or text with "
                        "{question} and {answer}, got " + repr(spec))
    if spec in NAMED:
        return Template(spec, NAMED[spec])
    text = spec.replace("\\n", "\n")
    missing = [f for f in ("question", "answer") if "{" + f + "}" not in text]
    if missing:
        fields = " and ".join("{" + f + "}" for f in missing)
        raise UserError(
            f"template {spec!r} is neither a known name ({', '.join(NAMED)}) nor text with "
            f"{fields}: e.g. template='Question: {{question}}\\nAnswer: {{answer}}'"
        )
    return Template("custom", text)
