"""A lighteval output directory read as an evalsuite run.

``lighteval accelerate MODEL_ARGS TASKS --output-dir DIR --save-details`` writes
``DIR/results/MODEL/results_TS.json`` (lighteval's scores, its task configs) and one
``DIR/details/MODEL/TS/details_TASK_TS.parquet`` per task: each document as lighteval's
prompt function made it, the model's response, and every per-sample metric. The details
are read with pyarrow (no lighteval needed here); nothing is recomputed. What lighteval
does not record (a model fingerprint, its own version, the prompt after its chat
template) stays unknown. Task ``NAME|FEWSHOT`` (or ``SUITE|NAME|FEWSHOT``) becomes task
``NAME``, its few-shot count kept in the manifest. The document hash is sha256 over the
document lighteval stored (query, choices, gold index, task-specific fields), the prompt
hash sha256 over the token ids sent, so two lighteval runs of the same documents pair
sample by sample.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any

from evalsuite.errors import UserError
from evalsuite.storage.jsonable import to_plain

log = logging.getLogger(__name__)

FORMAT = "lighteval"
_RESULTS = re.compile(r"^results_(?P<date>.+)\.json$")
# lighteval's sampling method -> the lm-eval output type evalsuite's records use
_KINDS = {"GENERATIVE": "generate_until", "LOGPROBS": "multiple_choice",
          "PERPLEXITY": "loglikelihood_rolling"}
_FIX = "run lighteval again with --output-dir and --save-details"


def _results_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("results_*.json") if _RESULTS.match(p.name)
                  and _looks_like_results(p))


def _looks_like_results(p: Path) -> bool:
    # lm-eval names its files results_*.json too; lighteval's open with config_general
    try:
        with p.open(encoding="utf-8") as f:
            head = f.read(4096)
    except (OSError, UnicodeDecodeError):
        return False
    return head.lstrip().startswith("{") and '"config_general"' in head


def find(path: Path) -> tuple[Path, Path] | None:
    """(output directory, model folder under results/) of the lighteval run at ``path``:
    the ``--output-dir`` itself, or one model's folder below its ``results/``."""
    if not path.is_dir():
        return None
    if (path / "results").is_dir():
        models = sorted({f.parent for f in (path / "results").rglob("results_*.json")
                         if _RESULTS.match(f.name) and _looks_like_results(f)})
        if len(models) > 1:
            names = [str(m.relative_to(path / "results")) for m in models]
            raise UserError(f"{path} holds lighteval results of {len(models)} models "
                            f"({', '.join(names)}): name one, e.g. {models[0]}")
        return (path, models[0].relative_to(path / "results")) if models else None
    if not _results_files(path):
        return None
    for up in path.parents:  # DIR/results/ORG/MODEL: the results/ folder above it
        if up.name == "results":
            return up.parent, path.relative_to(up)
    return None


def read(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]],
                              dict[str, list[dict[str, Any]]]]:
    """(manifest, metrics, samples) as plain records, from the newest results file."""
    found = find(path)
    if found is None:
        raise UserError(f"{path} holds no lighteval results (results/MODEL/results_*.json)")
    out, model = found
    files = _results_files(out / "results" / model)
    newest = max(files, key=lambda p: _RESULTS.match(p.name)["date"])  # type: ignore[index]
    if len(files) > 1:
        log.warning("%s holds %d lighteval runs; reading the newest, %s",
                    out / "results" / model, len(files), newest.name)
    date = _RESULTS.match(newest.name)["date"]  # type: ignore[index]
    details = out / "details" / model / date
    if not details.is_dir():
        raise UserError(f"{out}: no details/{model}/{date}: this lighteval run was written "
                        f"without --save-details; {_FIX}")
    results = _json(newest)
    scores = results.get("results") or {}
    configs = results.get("config_tasks") or {}
    general = results.get("config_general") or {}
    manifest_tasks: dict[str, Any] = {}
    metrics: dict[str, dict[str, Any]] = {}
    samples: dict[str, list[dict[str, Any]]] = {}
    for task, row in scores.items():
        if task == "all":  # lighteval's average over tasks, not a task
            continue
        name, fewshot = _task_name(task)
        if name in samples:
            raise UserError(f"{newest} holds task {name} twice ({task} and another few-shot "
                            "count): read one at a time, one lighteval run per setting")
        file = details / f"details_{task}_{date}.parquet"
        if not file.is_file():
            raise UserError(f"{out}: no {file.relative_to(out)}: this lighteval run was "
                            f"written without --save-details; {_FIX}")
        rows = _parquet(file)
        samples[name] = _records(rows, file)
        metrics[name] = {k: to_plain(v) for k, v in row.items() if not k.endswith("_stderr")}
        cfg = configs.get(task) or {}
        kinds = {str(m) for r in rows for m in (r.get("doc") or {}).get("sampling_methods") or []}
        manifest_tasks[name] = {
            "version": _version(cfg.get("version")),
            "n_samples": len(samples[name]),
            "output_type": _KINDS.get(next(iter(kinds), ""), "generate_until")
            if len(kinds) <= 1 else "mixed",
            "num_fewshot": fewshot,
            "generation_kwargs": _generation(general, cfg),
            "stderr": {k[: -len("_stderr")]: v for k, v in row.items()
                       if k.endswith("_stderr") and isinstance(v, int | float)},
            "higher_is_better": _higher_is_better(cfg),
            "lighteval_task": task,
        }
    if not samples:
        raise UserError(f"{newest} names no task: {_FIX}")
    model_name = str(general.get("model_name") or model)
    model_cfg = general.get("model_config") or {}
    name = Path(model_name).name if Path(model_name).is_absolute() else model_name
    manifest = {
        "schema_version": 2, "status": "complete",
        "model": {"name": name, "path": model_cfg.get("model_name") or model_name,
                  "source": FORMAT, "fingerprint": None},
        "backend": {"name": str(model_cfg.get("backend") or "lighteval"),
                    "model_args": model_cfg or None},
        "suite": FORMAT, "tasks": manifest_tasks,
        "versions": {"lighteval_sha": general.get("lighteval_sha")},
        "source": {"format": FORMAT, "results_file": newest.name, "read_from": str(out),
                   "runs_in_directory": len(files),
                   "max_samples": general.get("max_samples"),
                   "unknown": ["model fingerprint", "lighteval version", "seeds", "host",
                               "prompt after the chat template (prompt is the query)"]},
    }
    return manifest, metrics, samples


def _task_name(task: str) -> tuple[str, int | None]:
    """``NAME|FEWSHOT`` (lighteval 0.10+) or ``SUITE|NAME|FEWSHOT`` -> (NAME, FEWSHOT)."""
    parts = task.split("|")
    fewshot = int(parts[-1]) if len(parts) > 1 and parts[-1].isdigit() else None
    if fewshot is not None:
        parts = parts[:-1]
    name = parts[-1]
    if not name or "/" in name or name in (".", ".."):
        raise UserError(f"lighteval task {task!r} cannot name an evalsuite task: rename it "
                        "in your custom tasks file")
    return name, fewshot


def _records(rows: list[dict[str, Any]], file: Path) -> list[dict[str, Any]]:
    recs = [_record(r, file, n) for n, r in enumerate(rows, 1)]
    seen: set[Any] = set()
    for rec in recs:
        if rec["sample_id"] in seen:
            raise UserError(f"{file} holds sample {rec['sample_id']} more than once (several "
                            "few-shot seeds?): evalsuite pairs one answer per document; run "
                            "lighteval with --num-fewshot-seeds 1")
        seen.add(rec["sample_id"])
    return sorted(recs, key=lambda r: (isinstance(r["sample_id"], str), r["sample_id"]))


def _record(row: dict[str, Any], file: Path, n: int) -> dict[str, Any]:
    from evalsuite.ingest.lm_eval_records import add_instruction_results

    doc, resp = row.get("doc"), row.get("model_response")
    if not isinstance(doc, dict) or not isinstance(resp, dict) or doc.get("id") is None:
        raise UserError(f"{file}: row {n} is not a lighteval detail (no doc id or model "
                        f"response): {_FIX}")
    raw_id = str(doc["id"])
    choices = [str(c) for c in doc.get("choices") or []]
    gold = to_plain(doc.get("gold_index"))
    specific = to_plain(doc.get("specific")) or {}
    kept = {"query": doc.get("query"), "choices": choices, "gold_index": gold,
            "specific": specific}
    texts = resp.get("text") or []
    lls = [float(x) for x in resp.get("logprobs") or []]
    kind = _KINDS.get(str((doc.get("sampling_methods") or [""])[0]), "generate_until")
    rec: dict[str, Any] = {
        "schema_version": 2,
        "sample_id": int(raw_id) if raw_id.isdigit() else raw_id,
        "doc_hash": _sha(kept),
        "prompt_hash": _sha(to_plain(resp.get("input_tokens")))
        if resp.get("input_tokens") is not None else None,
        "prompt": doc.get("query"),
        "response": texts[0] if texts else None,
        "target": choices[gold] if kind == "generate_until" and isinstance(gold, int)
        and 0 <= gold < len(choices) else gold,
        "scores": {str(k): to_plain(v) for k, v in (row.get("metric") or {}).items()},
        # IFEval's instruction list under lm-eval's names, so instructions are spelled out
        "doc": {**kept, **{k: v for k, v in (("instruction_id_list",
                                              specific.get("instructions_id_list")),
                                             ("kwargs", specific.get("kwargs")))
                           if v is not None}},
    }
    if kind == "multiple_choice" and lls and len(lls) == len(choices):
        rec["choices"], rec["loglikelihoods"] = choices, lls
        rec["response"] = choices[max(range(len(lls)), key=lls.__getitem__)]
    add_instruction_results(rec)
    return rec


def _generation(general: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any] | None:
    params = ((general.get("model_config") or {}).get("generation_parameters") or {})
    out = {k: v for k, v in params.items() if v is not None}
    if cfg.get("generation_size") is not None:
        out.setdefault("generation_size", cfg["generation_size"])
    if cfg.get("stop_sequence"):
        out["stop_sequence"] = cfg["stop_sequence"]
    return out or None


def _higher_is_better(cfg: dict[str, Any]) -> dict[str, bool] | None:
    out: dict[str, bool] = {}
    for m in cfg.get("metrics") or []:
        hib = m.get("higher_is_better") if isinstance(m, dict) else None
        names = m.get("metric_name") if isinstance(m, dict) else None
        if isinstance(hib, dict):
            out.update({str(k): bool(v) for k, v in hib.items()})
        elif isinstance(hib, bool) and isinstance(names, str):
            out[names] = hib
        elif isinstance(hib, bool) and isinstance(names, list):
            out.update(dict.fromkeys(map(str, names), hib))
    return out or None


def _version(v: Any) -> str | None:
    return None if v is None else str(v)


def _parquet(file: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(file).to_pylist()
    except Exception as e:  # pyarrow raises several kinds on a damaged file
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise UserError(f"{file} cannot be read as lighteval details ({first}; the file "
                        f"may have been cut short): {_FIX}") from None


def _json(file: Path) -> dict[str, Any]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{file} cannot be read as lighteval results ({e}): {_FIX}") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise UserError(f"{file} is not a lighteval results file (no results object): {_FIX}")
    return data


def _sha(x: Any) -> str:
    return hashlib.sha256(json.dumps(x, sort_keys=True, default=str).encode()).hexdigest()
