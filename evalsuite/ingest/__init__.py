"""Other harnesses' outputs read as evalsuite runs (so compare, the report and the judge
take them), and ``python -m evalsuite.ingest`` to write them as run directories."""

from __future__ import annotations

from pathlib import Path

from evalsuite.errors import UserError

FORMATS = ("evalsuite", "lm-eval", "inspect", "lighteval")
_WHAT = {"evalsuite": "an evalsuite run directory (manifest.json)",
         "lm-eval": "an lm-eval output directory (results_*.json)",
         "inspect": "an inspect eval log or log directory (.eval, .json)",
         "lighteval": "a lighteval output directory (results/MODEL/results_*.json)"}


def check_format(fmt: object) -> str | None:
    """``format=``: None or "auto" (detect), else one of FORMATS; one line otherwise."""
    if fmt is None or fmt == "auto":
        return None
    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r}: use one of auto, {', '.join(FORMATS)}")
    return str(fmt)


def detect(path: str | Path, fmt: str | None = None) -> str:
    """The format of the run at ``path``: an evalsuite run directory (manifest.json), an
    lm-eval output directory (results_*.json, itself or one model folder below it), an
    inspect log, or a lighteval output directory. ``fmt`` (format=) skips detection, and
    says so when ``path`` is not of that format."""
    from evalsuite.ingest import inspect_log, lighteval_dir, lm_eval_dir

    path = Path(path).expanduser()
    fmt = check_format(fmt)
    found = {"evalsuite": lambda: (path / "manifest.json").is_file(),
             "lm-eval": lambda: path.is_dir() and lm_eval_dir.find(path) is not None,
             "inspect": lambda: bool(inspect_log.log_files(path)),
             "lighteval": lambda: lighteval_dir.find(path) is not None}
    if fmt is not None:
        if not found[fmt]():
            raise UserError(f"{path} is not {_WHAT[fmt]}, as format={fmt} says: name "
                            "another directory, or drop format= to detect it")
        return fmt
    if found["evalsuite"]():
        return "evalsuite"
    # before lm-eval: a lighteval model folder also holds results_*.json
    if found["lighteval"]():
        return "lighteval"
    if found["lm-eval"]():
        return "lm-eval"
    if found["inspect"]():
        return "inspect"
    raise UserError(f"{path} is not a run directory (no manifest.json, no lm-eval "
                    "results_*.json, no inspect log, no lighteval results/): pass the "
                    "directory `python -m evalsuite` printed, lm_eval's --output_path, "
                    "inspect's --log-dir or lighteval's --output-dir")


__all__ = ["FORMATS", "check_format", "detect", "load"]


def load(path: str | Path, fmt: str | None = None):  # -> evalsuite.schema.RunRecord
    """The run at ``path``, whatever its format (or the one ``fmt`` names), as typed
    records (manifest, metrics and sample records validated like an evalsuite run's)."""
    from evalsuite.schema import RunRecord, load_run

    path = Path(path).expanduser()
    fmt = detect(path, fmt)
    if fmt == "evalsuite":
        return load_run(path)
    from evalsuite.ingest import inspect_log, lighteval_dir, lm_eval_dir
    from evalsuite.schema._io import validate
    from evalsuite.schema._models import Manifest, Metrics, SampleRecord

    reader = {"inspect": inspect_log.read, "lighteval": lighteval_dir.read}.get(
        fmt, lm_eval_dir.read)
    try:
        manifest, metrics, samples = reader(path)
    except (KeyError, AttributeError, TypeError, IndexError, ValueError) as e:
        # an edited or foreign file whose fields are not what the harness writes
        raise UserError(f"{path} is not a {fmt} output evalsuite can read ({type(e).__name__}: "
                        f"{e}): write it again with {fmt}") from None
    if fmt == "inspect":
        root, fix, what = path, "run inspect eval again", "inspect"
    elif fmt == "lighteval":
        root, fix, what = path, "run lighteval again with --save-details", "lighteval"
    else:
        root = lm_eval_dir.find(path) or path
        fix, what = "write it again with lm_eval --log_samples", "lm-eval"
    typed = {task: [validate(SampleRecord, r, root / f"samples_{task}", f"{what} sample", fix)
                    for r in rows] for task, rows in samples.items()}
    return RunRecord(path=root,
                     manifest=validate(Manifest, manifest, root, f"{what} run", fix),
                     metrics=validate(Metrics, metrics, root, f"{what} results", fix).root,
                     samples=typed)
