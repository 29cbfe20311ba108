"""Other harnesses' outputs read as evalsuite runs (so compare, the report and the judge
take them), and ``python -m evalsuite.ingest`` to write them as run directories."""

from __future__ import annotations

from pathlib import Path

from evalsuite.errors import UserError

FORMATS = ("evalsuite", "lm-eval")


def detect(path: str | Path) -> str:
    """The format of the run at ``path``: an evalsuite run directory (manifest.json) or an
    lm-eval output directory (results_*.json, itself or one model folder below it)."""
    from evalsuite.ingest import lm_eval_dir

    path = Path(path).expanduser()
    if (path / "manifest.json").is_file():
        return "evalsuite"
    if path.is_dir() and lm_eval_dir.find(path) is not None:
        return "lm-eval"
    raise UserError(f"{path} is not a run directory (no manifest.json, and no lm-eval "
                    "results_*.json): pass the directory `python -m evalsuite` printed, or "
                    "lm_eval's --output_path")


__all__ = ["FORMATS", "detect"]


def load(path: str | Path):  # -> evalsuite.schema.RunRecord
    """The run at ``path``, whatever its format, as typed records (manifest, metrics and
    sample records validated like an evalsuite run's)."""
    from evalsuite.schema import RunRecord, load_run

    path = Path(path).expanduser()
    if detect(path) == "evalsuite":
        return load_run(path)
    from evalsuite.ingest import lm_eval_dir
    from evalsuite.schema._io import validate
    from evalsuite.schema._models import Manifest, Metrics, SampleRecord

    manifest, metrics, samples = lm_eval_dir.read(path)
    fix = "write it again with lm_eval --log_samples"
    root = lm_eval_dir.find(path) or path
    typed = {task: [validate(SampleRecord, r, root / f"samples_{task}", "lm-eval sample", fix)
                    for r in rows] for task, rows in samples.items()}
    return RunRecord(path=root,
                     manifest=validate(Manifest, manifest, root, "lm-eval run", fix),
                     metrics=validate(Metrics, metrics, root, "lm-eval results", fix).root,
                     samples=typed)
