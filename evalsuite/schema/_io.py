"""Reading records from files that may be cut short, hand-edited or written by another
version: one line naming the file and the problem, never a traceback."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from evalsuite.errors import UserError
from evalsuite.schema._drift import DriftReport
from evalsuite.schema._models import SCHEMA_VERSION, Manifest, SampleRecord
from evalsuite.storage.jsonable import jsonl_lines

try:
    import orjson as _orjson
except ImportError:  # a dependency; the standard parser is the fallback, not an error
    _orjson = None

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


def _loads(line: str) -> Any:
    """One JSON line: orjson where installed (several times faster on large runs), else
    the standard parser, which also takes what orjson refuses (NaN, from older writers)."""
    if _orjson is not None:
        try:
            return _orjson.loads(line)
        except _orjson.JSONDecodeError:
            pass
    return json.loads(line)



_freeze = False


def freeze_after_reading(on: bool = True) -> None:
    """Move the records read from now on out of the collector's reach (``gc.freeze``).

    For short-lived commands only (``python -m evalsuite.compare``): the analysis that
    follows allocates a great deal, and each full collection would scan every record
    again (100,000 x 10 took 18.9 s without, 15.4 s with). A library caller, e.g. a
    notebook loading runs in a loop, keeps it off: frozen objects are never freed."""
    global _freeze
    _freeze = on


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a large file's records are built: each pass
    would scan every record read so far (JSON records hold no cycles), which made reading
    100,000 records 2-3 times slower."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if _freeze:
                gc.freeze()
            gc.enable()


def _parse(file: Path, n: int, line: str) -> Any:
    try:
        return _loads(line)
    except json.JSONDecodeError as e:
        raise UserError(f"{file}: line {n} is not valid JSON ({e.msg}; the file may "
                        f"have been cut short): {RERUN}") from None


def read_samples(file: Path) -> list[SampleRecord]:
    """Every record of a samples/TASK.jsonl; a cut or broken line is one line of error."""
    with _collector_paused():
        return [validate(SampleRecord, _parse(file, n, line), file,
                         f"sample record (line {n})", RERUN)
                for n, line in jsonl_lines(file)]


def read_sample_rows(file: Path) -> list[dict[str, Any]]:
    """The records of a samples/TASK.jsonl as the plain dicts ``dump`` gives, validated
    like ``read_samples``, for the analysis of large runs.

    A record that passes strict validation is kept as parsed: strict mode coerces nothing
    (no string for a number, no 1 for True), so the parsed dict already is the record's
    JSON form and building and dumping a model for it is skipped (three times faster). A
    record strict mode refuses is validated as ``read_samples`` does, coercions included,
    or refused in one line."""
    rows: list[dict[str, Any]] = []
    strict = SampleRecord.__pydantic_validator__
    with _collector_paused():
        # bytes split by hand: three times faster than a text file's line iterator, and
        # orjson parses bytes without a decode step
        for n, raw in enumerate(_lines(file.read_bytes()), 1):
            if not raw.strip():
                continue
            try:
                data = _orjson.loads(raw) if _orjson is not None else None
            except _orjson.JSONDecodeError:
                data = None
            parsed = data is not None
            if not parsed:  # what orjson refuses (NaN, bad bytes) goes the long way
                data = _parse(file, n, raw.decode("utf-8", errors="replace"))
            if type(data) is dict and "schema_version" in data:
                check_version(data, file)
            try:
                if parsed:  # (a NaN is written as null by the model, so it takes the model)
                    strict.validate_python(data, strict=True)
                    rows.append(data)
                    continue
            except ValidationError:
                pass
            rows.append(dump(validate(SampleRecord, data, file, f"sample record (line {n})",
                                      RERUN)))
    return rows


def _lines(data: bytes) -> list[bytes]:
    """Lines split as ``read_samples``' text reader splits them: at LF, CRLF or a lone CR
    (JSON escapes both inside strings, so a raw one only ever ends a line)."""
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return data.split(b"\n")


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
