"""The public readers: ``evalsuite.load_run`` and ``evalsuite.load_drift``, typed objects
with pandas views, for scripts around evalsuite's records."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from evalsuite.errors import UserError
from evalsuite.schema._drift import DriftReport
from evalsuite.schema._io import (
    RERUN,
    read_drift,
    read_json,
    read_manifest,
    read_sample_rows,
    read_samples,
    validate,
)
from evalsuite.schema._models import Manifest, Metrics, SampleRecord

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)
R = TypeVar("R")


@dataclass
class RunRecord:
    """One stored run directory, read and validated."""

    path: Path
    manifest: Manifest
    metrics: dict[str, dict[str, Any]]
    """metrics.json: {TASK: {METRIC: value}}, finished tasks only."""
    samples: dict[str, list[SampleRecord]] = field(repr=False)
    """samples/TASK.jsonl per finished task, malformed data rows included."""

    def samples_df(self, errors: bool = False) -> pd.DataFrame:
        """One row per sample: task, version, sample_id, subtask, hashes, prompt, response,
        target, n_choices and one ``score.METRIC`` column per metric (IFEval's
        inst-level ones stay lists). ``errors=True`` keeps malformed data rows."""
        import pandas as pd

        rows = []
        for task, recs in self.samples.items():
            version = self.manifest.tasks[task].version if task in self.manifest.tasks else None
            for r in recs:
                if r.error is not None and not errors:
                    continue
                row = {"task": task, "version": version, "sample_id": r.sample_id,
                       "subtask": r.subtask, "doc_hash": r.doc_hash,
                       "prompt_hash": r.prompt_hash, "prompt": r.prompt,
                       "response": r.response, "target": r.target,
                       "n_choices": len(r.choices) if r.choices is not None else None}
                if errors:
                    row["error"] = r.error
                for metric, value in r.scores.items():
                    row[f"score.{metric}"] = value
                rows.append(row)
        return pd.DataFrame(rows)

    def metrics_df(self) -> pd.DataFrame:
        """One row per task and metric: task, version, metric, value, stderr."""
        import pandas as pd

        rows = []
        for task, metrics in self.metrics.items():
            info = self.manifest.tasks.get(task)
            for metric, value in metrics.items():
                rows.append({"task": task, "version": info.version if info else None,
                             "metric": metric, "value": value,
                             "stderr": info.stderr.get(metric) if info else None})
        return pd.DataFrame(rows, columns=["task", "version", "metric", "value", "stderr"])


def load_run(path: str | Path) -> RunRecord:
    """Read a run directory written by ``python -m evalsuite``; only tasks named in
    metrics.json (the finished ones) are read."""
    path = Path(path).expanduser()
    manifest, metrics, samples = _read(path, read_samples)
    return RunRecord(path=path, manifest=manifest, metrics=metrics, samples=samples)


def load_run_rows(path: str | Path) -> tuple[Manifest, dict[str, dict[str, Any]],
                                             dict[str, list[dict[str, Any]]]]:
    """``load_run``'s manifest, metrics and samples, the samples as the plain dicts the
    drift analysis reads (validated the same way, without a model object per record)."""
    return _read(Path(path).expanduser(), read_sample_rows)


def _read(path: Path, reader: Callable[[Path], list[R]]) -> tuple[
        Manifest, dict[str, dict[str, Any]], dict[str, list[R]]]:
    if not (path / "manifest.json").is_file():
        raise UserError(f"{path} is not a run directory (no manifest.json): pass the "
                        "directory `python -m evalsuite` printed")
    manifest = read_manifest(path)
    metrics_file = path / "metrics.json"
    metrics = (validate(Metrics, read_json(metrics_file, "metrics file", RERUN), metrics_file,
                        "metrics file", RERUN).root
               if metrics_file.is_file() else {})
    if manifest.status != "complete":
        log.warning("%s is a partial run; reading its %d finished task(s)", path, len(metrics))
    samples = {}
    for task in metrics:
        file = path / "samples" / f"{task}.jsonl"
        if not file.is_file():
            raise UserError(f"{path}: metrics.json names {task} but {file.name} is missing")
        samples[task] = reader(file)
    return manifest, metrics, samples


def load_drift(path: str | Path) -> DriftReport:
    """drift.json from a compare directory (or the file itself), validated."""
    path = Path(path).expanduser()
    file = path / "drift.json" if path.is_dir() else path
    if not file.is_file():
        raise UserError(f"no drift.json at {path}: run python -m evalsuite.compare "
                        "baseline=RUN_DIR candidate=RUN_DIR first")
    return read_drift(file)
