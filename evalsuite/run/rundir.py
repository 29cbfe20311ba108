"""The run directory: manifest.json, metrics.json and samples/TASK.jsonl.

Ordering makes a crash safe: a task's samples are written (atomically) before
metrics.json names the task, and the manifest says ``complete`` only after the last
task. So metrics.json never claims more than samples/ holds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from evalsuite.errors import UserError
from evalsuite.schema import SCHEMA_VERSION, Manifest, Metrics, SampleRecord, dump
from evalsuite.storage.atomic import write_json, write_jsonl
from evalsuite.storage.provenance import now

MANIFEST = "manifest.json"
METRICS = "metrics.json"
SAMPLES = "samples"


LOCK = ".evalsuite.lock"


def _claim(run_dir: Path) -> FileLock:
    """This process is the directory's one writer until ``close``: two commands into one
    hydra.run.dir would otherwise both compute everything, and the last writer win."""
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(run_dir / LOCK))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise UserError(f"another evalsuite process is writing {run_dir}: wait for it to "
                        "finish, or pick another hydra.run.dir") from None
    return lock


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


class RunWriter:
    """Writes one run directory; every write leaves it consistent."""

    def __init__(self, run_dir: Path, manifest: dict[str, Any]) -> None:
        self.dir = run_dir
        self._lock = _claim(run_dir)
        try:
            self._start(manifest)
        except BaseException:
            self.close()
            raise

    def _start(self, manifest: dict[str, Any]) -> None:
        run_dir = self.dir
        old = run_dir / MANIFEST
        if old.is_file():
            try:
                status = read_json(old).get("status")
            except (json.JSONDecodeError, OSError):
                status = None
            if status == "complete":
                raise UserError(
                    f"{run_dir} already holds a complete run: pick another hydra.run.dir "
                    "or remove that directory"
                )
        self.manifest = {
            "schema_version": SCHEMA_VERSION,
            "status": "partial",
            **manifest,
            "tasks": {},
            "started_at": now(),
            "ended_at": None,
            "error": None,
        }
        self.metrics: dict[str, dict[str, Any]] = {}
        (run_dir / SAMPLES).mkdir(parents=True, exist_ok=True)
        # A rerun into a partial directory starts clean: stale metrics must not survive.
        write_json(run_dir / METRICS, self.metrics)
        self._save()

    def _save(self) -> None:
        # through the model, so a writer's mistake fails here and not in a reader
        Manifest.model_validate(self.manifest)
        write_json(self.dir / MANIFEST, self.manifest)

    def update_model(self, **fields: Any) -> None:
        self.manifest["model"].update(fields)
        self._save()

    def add_task(
        self,
        name: str,
        samples: list[dict[str, Any]],
        metrics: dict[str, Any],
        info: dict[str, Any],
    ) -> None:
        """Record one finished task: samples first, then metrics, then the manifest."""
        records = [dump(SampleRecord.model_validate({**s, "schema_version": SCHEMA_VERSION}))
                   for s in samples]
        write_jsonl(self.dir / SAMPLES / f"{name}.jsonl", records)
        self.metrics[name] = metrics
        Metrics.model_validate(self.metrics)
        write_json(self.dir / METRICS, self.metrics)
        self.manifest["tasks"][name] = info
        self._save()

    def finish(self) -> None:
        self.manifest["status"] = "complete"
        self.manifest["ended_at"] = now()
        self._save()

    def discard(self) -> None:
        """Remove what this writer wrote, for a run that never started a task."""
        for name in (MANIFEST, METRICS):
            (self.dir / name).unlink(missing_ok=True)
        samples = self.dir / SAMPLES
        if samples.is_dir() and not any(samples.iterdir()):
            samples.rmdir()

    def close(self) -> None:
        """Let another process write this directory (the same command continuing it)."""
        if self._lock is not None:
            self._lock.release()
            Path(self._lock.lock_file).unlink(missing_ok=True)
            self._lock = None

    def fail(self, error: BaseException) -> None:
        self.manifest["status"] = "partial"
        self.manifest["ended_at"] = now()
        self.manifest["error"] = f"{type(error).__name__}: {error}".strip()
        self._save()
