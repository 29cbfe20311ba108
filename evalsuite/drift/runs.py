"""Stored runs as pandas DataFrames: the only input of the drift analysis.

Reads a run directory written by ``python -m evalsuite`` (manifest.json, metrics.json,
samples/TASK.jsonl) without the package's runner or any model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalsuite.schema import Manifest, TaskInfo

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


@dataclass
class Run:
    """One stored run: its typed manifest, task metrics, and samples per task as plain
    rows (validated sample records; the analysis works on many of them)."""

    path: Path
    manifest: Manifest
    metrics: dict[str, dict[str, Any]]
    samples: dict[str, list[dict[str, Any]]] = field(repr=False)

    @property
    def label(self) -> str:
        """Short name for tables: the model name, or the directory name."""
        return str(self.manifest.model.name or self.path.name)

    def task_info(self, task: str) -> TaskInfo:
        """The manifest's entry for ``task``; an empty one where the manifest has none."""
        return self.manifest.tasks.get(task) or TaskInfo(n_samples=0)


def load_run(path: str | Path) -> Run:
    """Read a run directory (or an lm-eval output directory written with --log_samples)
    through the typed records (evalsuite.schema); only tasks
    named in metrics.json (finished ones) are kept, and malformed data rows (a record of
    their error, no prompt or answer) are left out."""
    from evalsuite.ingest import load
    from evalsuite.schema import dump

    rec = load(path)  # an evalsuite run directory, or another harness's output
    samples = {task: [dump(r) for r in recs if r.error is None]
               for task, recs in rec.samples.items()}
    return Run(path=rec.path, manifest=rec.manifest, metrics=rec.metrics, samples=samples)


def samples_frame(run: Run) -> pd.DataFrame:
    """One row per sample: task, version, sample_id, hashes, prompt, response, target,
    and one ``score.METRIC`` column per metric (list-valued for IFEval's inst-level)."""
    import pandas as pd

    rows = []
    for task, recs in run.samples.items():
        version = run.task_info(task).version
        for r in recs:
            row = {
                "task": task, "version": version, "sample_id": r.get("sample_id"),
                "subtask": r.get("subtask"), "doc_hash": r.get("doc_hash"),
                "prompt_hash": r.get("prompt_hash"), "prompt": r.get("prompt"),
                "response": r.get("response"), "target": r.get("target"),
                "n_choices": len(r["choices"]) if isinstance(r.get("choices"), list) else None,
            }
            # IFEval's instruction-level scores stay lists, one verdict per instruction
            for metric, value in (r.get("scores") or {}).items():
                row[f"score.{metric}"] = value
            rows.append(row)
    return pd.DataFrame(rows)


def metrics_frame(run: Run) -> pd.DataFrame:
    """One row per task and metric: task, version, metric, value, stderr."""
    import pandas as pd

    rows = []
    for task, metrics in run.metrics.items():
        info = run.task_info(task)
        for metric, value in metrics.items():
            rows.append({"task": task, "version": info.version, "metric": metric,
                         "value": value, "stderr": info.stderr.get(metric)})
    return pd.DataFrame(rows, columns=["task", "version", "metric", "value", "stderr"])
