"""Reading records from files that may be cut short, hand-edited or written by another
version: one line naming the file and the problem, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from evalsuite.errors import UserError
from evalsuite.schema._drift import DriftReport
from evalsuite.schema._models import SCHEMA_VERSION, Manifest, SampleRecord
from evalsuite.storage.jsonable import jsonl_lines

M = TypeVar("M", bound=BaseModel)


def _problem(e: ValidationError) -> str:
    first = e.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"


def check_version(data: Any, file: Path) -> int:
    """The file's schema_version; newer than this evalsuite reads is refused."""
    version = data.get("schema_version", 1) if isinstance(data, dict) else 1
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise UserError(f"{file}: schema_version {version!r} is not a positive integer")
    if version > SCHEMA_VERSION:
        raise UserError(f"{file} has schema version {version}, newer than this evalsuite reads "
                        f"({SCHEMA_VERSION}): upgrade evalsuite")
    return version


def validate(model: type[M], data: Any, file: Path, what: str, fix: str) -> M:
    """``data`` as a ``model``, or one line naming the file, the field and the fix."""
    check_version(data, file)
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise UserError(f"{file}: not a valid {what} ({_problem(e)}): {fix}") from None


def read_json(file: Path, what: str, fix: str) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{file}: unreadable {what} ({e}): {fix}") from None


RERUN = "run that evaluation again"


def read_manifest(run_dir: Path) -> Manifest:
    file = run_dir / "manifest.json"
    return validate(Manifest, read_json(file, "manifest", RERUN), file, "manifest", RERUN)


def read_samples(file: Path) -> list[SampleRecord]:
    """Every record of a samples/TASK.jsonl; a cut or broken line is one line of error."""
    records = []
    for n, line in jsonl_lines(file):
        try:
            data = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{file}: line {n} is not valid JSON ({e.msg}; the file may "
                            f"have been cut short): {RERUN}") from None
        records.append(validate(SampleRecord, data, file, f"sample record (line {n})", RERUN))
    return records


def read_drift(file: Path) -> DriftReport:
    fix = "run python -m evalsuite.compare again"
    data = read_json(file, "drift report", fix)
    if not isinstance(data, dict) or "comparisons" not in data:
        raise UserError(f"{file} is not a drift report (no 'comparisons'): {fix}")
    return validate(DriftReport, data, file, "drift report", fix)


def dump(record: BaseModel) -> dict[str, Any]:
    """A record as the JSON object written to disk (fields left unset are kept unset)."""
    return record.model_dump(mode="json", exclude_unset=True)


def view(record: BaseModel) -> dict[str, Any]:
    """A validated record as the dict its renderers read: every field the model declares
    is there (its default where the file had none), and NaN is null, as on disk."""
    return record.model_dump(mode="json")
