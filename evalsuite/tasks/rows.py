"""A user's own data file for a task (``suite.tasks.TASK.data_file=PATH``), read row by row.

A JSONL file where one row is broken (not JSON, a field missing or of the wrong type, an
instruction id the checker does not know) must not end the run: the task runs on the
good rows, with the same scoring as on a clean file, and every bad row becomes a sample
record holding its line number and what is wrong with it. The check is a pure function of
the file: lm-eval's loader keeps the good rows, and the runner, which cannot see inside
lm-eval's evaluator, checks the same file again for the bad ones (before the model loads,
so a file with no good row is refused early).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evalsuite.errors import UserError
from evalsuite.storage.jsonable import jsonl_lines

Validator = Callable[[Any], str | None]
"""A row -> None if it is usable, else what is wrong with it (one short phrase)."""

def check_rows(path: str | Path, validate: Validator
               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(good rows, each with ``evalsuite_line``; bad rows: line, error, text) of a JSONL
    file. A file with no good row at all is a user error."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise UserError(f"data_file {path} does not exist: fix the path")
    good: list[dict[str, Any]] = []
    bad: list[dict[str, Any]] = []
    for n, line in jsonl_lines(file):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            bad.append({"line": n, "error": f"not valid JSON ({e.msg} at column {e.colno})",
                        "text": line.rstrip("\n")[:500]})
            continue
        problem = validate(row)
        if problem is not None:
            bad.append({"line": n, "error": problem, "text": line.rstrip("\n")[:500]})
            continue
        good.append({**row, "evalsuite_line": n})
    if not good:
        first = f" (line {bad[0]['line']}: {bad[0]['error']})" if bad else ""
        raise UserError(f"data_file {path} has no usable row{first}: fix the file")
    return good, bad


def read_rows(path: str | Path, validate: Validator) -> list[dict[str, Any]]:
    """The good rows of a JSONL file (what a task's loader gives lm-eval)."""
    return check_rows(path, validate)[0]


def error_records(bad: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sample records for bad rows: no prompt was sent and nothing was scored."""
    return [{"sample_id": f"line-{b['line']}", "error": f"line {b['line']}: {b['error']}",
             "prompt": None, "response": None, "scores": {}, "doc": {"text": b["text"]}}
            for b in bad]


def file_info(path: str | Path) -> dict[str, Any]:
    """What the manifest records about a data file: where, and its sha256."""
    file = Path(path).expanduser().resolve()
    return {"path": str(file), "sha256": hashlib.sha256(file.read_bytes()).hexdigest()}


def text_field(row: Any, key: str) -> str | None:
    if not isinstance(row, dict):
        return f"a row must be a JSON object, got {type(row).__name__}"
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        return f"'{key}' must be a non-empty string" + ("" if key in row else ", and is missing")
    return None
