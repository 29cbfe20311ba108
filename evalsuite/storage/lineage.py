"""The training stages behind a checkpoint, from the ``recipe.json`` evalsuite's recipes
leave beside the weights: base -> synthetic -> unlearned, each stage with its settings.

Every manifest that evaluates such a checkpoint carries this list, so a report can say
what a model went through without the cache that trained it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evalsuite.storage.jsonable import read_object

RECORD = "recipe.json"


def stage_of(record: dict[str, Any]) -> dict[str, Any]:
    """One lineage entry: what this stage started from, its data and settings, and the
    fingerprint of what it made. Records written before the unlearning stage existed
    (no ``stage``) are synthetic-Q-A stages."""
    base = record.get("base") if isinstance(record.get("base"), dict) else {}
    entry = {
        "stage": record.get("stage", "synthetic"),
        "key": record.get("key"),
        "from": {"name": base.get("name"), "fingerprint": base.get("fingerprint")},
        "fingerprint": record.get("fingerprint"),
        "training": record.get("training"),
    }
    for key in ("data", "template", "forget", "replay", "terms"):
        if key in record:
            entry[key] = _summary(record[key])
    return entry


def _summary(value: Any) -> Any:
    # the record's own words minus long examples: a manifest is read by people too
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in ("example", "examples")}
    return value


def read_record(checkpoint: str | Path | None) -> dict[str, Any] | None:
    """The ``recipe.json`` beside a checkpoint's weights, or None (none, or unreadable)."""
    if checkpoint is None:
        return None
    return read_object(Path(checkpoint) / RECORD) or None


def read_lineage(checkpoint: str | Path | None) -> list[dict[str, Any]] | None:
    """The stages that made ``checkpoint``, oldest first (the base model is each first
    stage's ``from``), or None for weights no evalsuite recipe wrote. An unreadable record
    is no lineage rather than an error: the weights still evaluate."""
    record = read_record(checkpoint)
    if record is None:
        return None
    earlier = record.get("lineage")
    if isinstance(earlier, list) and all(isinstance(e, dict) for e in earlier):
        return [*earlier, stage_of(record)]
    return [stage_of(record)]
