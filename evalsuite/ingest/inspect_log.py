"""inspect_ai eval logs read as an evalsuite run, with inspect's own log reader.

A run is one log file (``.eval`` or ``.json``) or a log directory: every task in it, the
newest log of each (said in the log when there are several). Each sample's scores are
inspect's own, turned into numbers by inspect's ``value_to_float`` (C/I/P/N become
1/0/0.5/0); a scorer that returns a dict gives one metric per key (``SCORER.KEY``). The
task-level value of a metric is the one inspect computed (its ``accuracy`` or ``mean``),
and ``stderr`` is kept as the metric's standard error. Samples that ended in an error
are kept as records of their error and left out of the comparison. What a log does not
carry (a model fingerprint, lm-eval's document hashes) stays unknown; the document and
prompt hashes here are sha256 over the sample's input, target and choices, and over the
messages sent, so two logs of the same dataset pair sample by sample.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from evalsuite.errors import UserError

log = logging.getLogger(__name__)

FORMAT = "inspect"
_SUFFIXES = (".eval", ".json")
_INSTALL = "pip install inspect_ai (or evalsuite[inspect])"


def _api() -> Any:
    try:
        import inspect_ai.log as api
    except ImportError:
        raise UserError(f"reading inspect logs needs inspect_ai: {_INSTALL}") from None
    return api


def log_files(path: Path) -> list[Path]:
    """The inspect logs at ``path`` (a log file, or the log files of a directory)."""
    if path.is_file():
        return [path] if path.suffix in _SUFFIXES and _looks_like_log(path) else []
    if not path.is_dir():
        return []
    return sorted(p for p in path.iterdir() if p.is_file() and p.suffix in _SUFFIXES
                  and _looks_like_log(p))


def _looks_like_log(p: Path) -> bool:
    if p.suffix == ".eval":  # a zip file inspect writes
        try:
            with p.open("rb") as f:
                return f.read(2) == b"PK"
        except OSError:
            return False
    try:  # a .json log opens with {"version": N, "status": ..., "eval": {...
        with p.open(encoding="utf-8") as f:
            head = f.read(4096)
    except (OSError, UnicodeDecodeError):
        return False
    return head.lstrip().startswith("{") and '"eval"' in head and '"status"' in head


def read(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]],
                              dict[str, list[dict[str, Any]]]]:
    """(manifest, metrics, samples) as plain records, one task per log."""
    api = _api()
    files = log_files(path)
    if not files:
        raise UserError(f"{path} holds no inspect eval log (.eval or .json): pass the "
                        "--log-dir of inspect eval, or one log file")
    logs = []
    for f in files:
        try:
            logs.append((f, api.read_eval_log(str(f))))
        except Exception as e:  # inspect raises many kinds on a damaged file
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise UserError(f"{f} cannot be read as an inspect log ({first}): run inspect "
                            "eval again") from None
    newest: dict[str, tuple[Path, Any]] = {}
    for f, lg in sorted(logs, key=lambda x: str(x[1].eval.created)):
        if lg.eval.task in newest:
            log.warning("%s holds several logs of task %s; reading the newest, %s", path,
                        lg.eval.task, f.name)
        newest[lg.eval.task] = (f, lg)
    models = {lg.eval.model for _, lg in newest.values()}
    if len(models) > 1:
        raise UserError(f"{path} holds inspect logs of {len(models)} models "
                        f"({', '.join(sorted(models))}): put each model's logs in a directory "
                        "of its own")
    manifest_tasks: dict[str, Any] = {}
    metrics: dict[str, dict[str, Any]] = {}
    samples: dict[str, list[dict[str, Any]]] = {}
    for task, (f, lg) in newest.items():
        if lg.status != "success":
            raise UserError(f"{f}: the inspect eval of {task} ended with status "
                            f"{lg.status}; finish it (inspect eval-retry {f.name}) or run it "
                            "again")
        if not lg.samples:
            raise UserError(f"{f} holds no samples (written with --no-log-samples?): run "
                            "inspect eval again with samples logged")
        epochs = int(getattr(lg.eval.config, "epochs", None) or 1)
        samples[task] = _by_sample([_sample(s) for s in lg.samples])
        metrics[task], stderr = _metrics(lg)
        gen = lg.eval.model_generate_config.model_dump(exclude_none=True)
        manifest_tasks[task] = {
            "version": lg.eval.task_version, "n_samples": len(samples[task]),
            "output_type": "generate_until", "generation_kwargs": gen or None,
            "stderr": stderr, "log_file": f.name, "epochs": epochs,
        }
    first = next(iter(newest.values()))[1].eval
    name = str(first.model)
    manifest = {
        "schema_version": 2, "status": "complete",
        "model": {"name": name, "path": (first.model_args or {}).get("model_path"),
                  "source": FORMAT, "fingerprint": None},
        "backend": {"name": name.split("/", 1)[0], "model_args": first.model_args},
        "suite": FORMAT, "tasks": manifest_tasks,
        "versions": {k: str(v) for k, v in (first.packages or {}).items()},
        "source": {"format": FORMAT, "read_from": str(path), "logs": len(files),
                   "unknown": ["model fingerprint", "seeds", "host"]},
    }
    return manifest, metrics, samples


def _by_sample(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per sample: with several epochs, each score is the list of its epochs'
    values (a cluster, as IFEval's instructions are), so repeats of one sample are never
    counted as independent samples, and runs with different epoch counts still pair."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault(r["sample_id"], []).append(r)
    out = []
    for group in groups.values():
        ok = [r for r in group if r["error"] is None]
        if len(group) == 1 or not ok:
            out.append(group[0])
            continue
        merged = dict(ok[0])
        merged["scores"] = {
            key: [v for r in ok for v in _as_list(r["scores"].get(key)) if v is not None]
            for key in dict.fromkeys(k for r in ok for k in r["scores"])}
        out.append(merged)
    return out


def _as_list(x: Any) -> list[Any]:
    return x if isinstance(x, list) else [x]


def _sample(s: Any) -> dict[str, Any]:
    from inspect_ai.scorer import value_to_float

    to_float = value_to_float()
    sent = []  # the input: what came before the model's first answer
    for m in s.messages or []:
        if m.role == "assistant":
            break
        sent.append(m)
    scores: dict[str, Any] = {}
    for scorer, score in (s.scores or {}).items():
        value = score.value
        if isinstance(value, dict):
            for key, v in value.items():
                scores[f"{scorer}.{key}"] = to_float(v)
        elif isinstance(value, list):
            scores[scorer] = [to_float(v) for v in value]
        else:
            scores[scorer] = to_float(value)
    doc = {"input": _plain(s.input), "target": _plain(s.target), "choices": s.choices}
    return {
        "schema_version": 2,
        "sample_id": str(s.id),
        "doc_hash": _sha(doc),
        "prompt_hash": _sha([[m.role, m.text] for m in sent]),
        "prompt": "\n\n".join(m.text for m in sent),
        "response": s.output.completion if s.output is not None else None,
        "target": _plain(s.target), "scores": scores, "doc": doc,
        "choices": list(s.choices) if s.choices else None,
        "error": None if s.error is None else
        ((str(s.error.message).strip().splitlines() or ["error"])[0]),
    }


def _metrics(lg: Any) -> tuple[dict[str, Any], dict[str, float]]:
    """inspect's task-level values: the scorer's accuracy or mean (the mean of the
    per-sample values), and its stderr."""
    values: dict[str, Any] = {}
    stderr: dict[str, float] = {}
    for score in (lg.results.scores if lg.results else []):
        found = {k: m.value for k, m in score.metrics.items()}
        main = next((found[k] for k in ("accuracy", "mean") if k in found), None)
        if main is None:
            continue
        # a dict-valued scorer's metrics are named after the key: SCORER.KEY, as the
        # samples' scores are
        name = score.name if score.name == score.scorer else f"{score.scorer}.{score.name}"
        values[name] = float(main)
        if "stderr" in found:
            stderr[name] = float(found["stderr"])
    return values, stderr


def _plain(x: Any) -> Any:
    # a message's id is a fresh uuid in every run: the same input must hash the same
    if isinstance(x, list):
        return [m.model_dump(exclude_none=True, exclude={"id"}) if hasattr(m, "model_dump")
                else m for m in x]
    return x


def _sha(x: Any) -> str:
    return hashlib.sha256(json.dumps(x, sort_keys=True, default=str).encode()).hexdigest()
