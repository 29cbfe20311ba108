"""Stored runs as pandas DataFrames: the only input of the drift analysis.

Reads a run directory written by ``python -m evalsuite`` (manifest.json, metrics.json,
samples/TASK.jsonl) without the package's runner or any model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalsuite.errors import UserError
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
    renamed: dict[str, str] = field(default_factory=dict)
    """Tasks paired under another name on purpose (task_map=): new name -> stored name."""

    @property
    def label(self) -> str:
        """Short name for tables: the model name, or the directory name."""
        return str(self.manifest.model.name or self.path.name)

    def task_info(self, task: str) -> TaskInfo:
        """The manifest's entry for ``task``; an empty one where the manifest has none."""
        return self.manifest.tasks.get(task) or TaskInfo(n_samples=0)


def load_run(path: str | Path, fmt: str | None = None) -> Run:
    """Read a run directory (or an lm-eval output directory written with --log_samples)
    through the typed records (evalsuite.schema); only tasks
    named in metrics.json (finished ones) are kept, and malformed data rows (a record of
    their error, no prompt or answer) are left out. ``fmt`` (format=) skips detection."""
    from evalsuite.ingest import detect, load
    from evalsuite.schema import dump, load_run_rows

    if detect(path, fmt) == "evalsuite":  # plain rows straight from the JSONL (fast)
        manifest, metrics, rows = load_run_rows(path)
        samples = {task: [r for r in recs if r.get("error") is None]
                   for task, recs in rows.items()}
        return Run(path=Path(path).expanduser(), manifest=manifest, metrics=metrics,
                   samples=samples)
    rec = load(path, fmt)  # another harness's output, read as typed records
    samples = {task: [dump(r) for r in recs if r.error is None]
               for task, recs in rec.samples.items()}
    return Run(path=rec.path, manifest=rec.manifest, metrics=rec.metrics, samples=samples)


def map_tasks(runs: list[Run], task_map: dict[str, str]) -> None:
    """Rename tasks so that a task stored under two names pairs (task_map={ifeval:
    ifeval_offline}: lm-eval's stock IFEval and evalsuite's offline copy hold the same
    documents). Pairing still checks every document hash; only the task versions may then
    differ, and the comparison says so. A name no run holds is bad input."""
    for old, new in task_map.items():
        if not any(old in run.samples for run in runs):
            held = sorted({t for run in runs for t in run.samples})
            raise UserError(f"task_map names {old}, which no compared run holds (they hold "
                            f"{', '.join(held)}): fix the name")
        for run in runs:
            if old not in run.samples:
                continue
            if new in run.samples:
                raise UserError(f"task_map maps {old} to {new}, but {run.path} holds both: "
                                "map only a run's task the other runs lack")
            run.samples[new] = run.samples.pop(old)
            if old in run.metrics:
                run.metrics[new] = run.metrics.pop(old)
            if old in run.manifest.tasks:
                run.manifest.tasks[new] = run.manifest.tasks.pop(old)
            run.renamed[new] = old


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
