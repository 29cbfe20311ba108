"""drift.json's examples: paired answers to read beside the numbers (flipped, matching a
template pattern, drawn at random), written by evalsuite.drift.examples."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from evalsuite.schema._models import _Record


class InstructionVerdict(_Record):
    id: str
    """The instruction id (IFEval's ``category:name``)."""
    strict: bool
    """Followed, strictly checked."""
    loose: bool
    """Followed, loosely checked."""


class ExampleSide(_Record):
    """One run's answer to an example's prompt."""

    response: str
    """The response (shortened past 4,000 characters)."""
    scores: dict[str, float] = Field(default_factory=dict)
    """The sample's per-sample metrics."""
    instructions: list[InstructionVerdict] = Field(default_factory=list)
    """IFEval: each instruction's verdict."""
    patterns: list[str] = Field(default_factory=list)
    """The template patterns the response matches."""


class Example(_Record):
    """One paired sample, both answers."""

    sample_id: Any
    """The sample's id in both runs."""
    prompt: str
    """The user's prompt (the document's, else the prompt as sent)."""
    baseline: ExampleSide
    """The baseline's answer."""
    candidate: ExampleSide
    """The candidate's answer."""


class ExampleSection(_Record):
    """A kind of example: flipped (lost, gained), matching a pattern, or drawn at random."""

    kind: str = Field(pattern="^(lost|gained|pattern|random)$")
    """lost: passed before, failed after (on ``metric``); gained: the reverse; pattern:
    the candidate's answer matches ``pattern``; random: drawn with the comparison's seed."""
    total: int = Field(ge=0)
    """Pairs of this kind in the task (the examples are a sample of them)."""
    examples: list[Example] = Field(default_factory=list)
    """The pairs shown."""
    metric: str | None = None
    """lost/gained: the pass/fail metric that flipped."""
    pattern: str | None = None
    """pattern: the pattern's name."""


class TaskExamples(_Record):
    """A generation task's examples (compare's ``examples=N`` per section)."""

    metric: str | None = None
    """The pass/fail metric whose flips are shown (null: the task has none)."""
    n: int = Field(ge=0)
    """Paired samples."""
    sections: list[ExampleSection] = Field(default_factory=list)
    """In reading order."""
