"""An lm-evaluation-harness output directory read as an evalsuite run.

``lm_eval ... --log_samples --output_path DIR`` writes ``DIR/MODEL/results_DATE.json``
and one ``samples_TASK_DATE.jsonl`` per task. The samples are lm-eval's own logged
samples, flattened for its writer (``arguments`` as ``gen_args_i/arg_j``, every response
as a string); once put back they go through the same mapping evalsuite's runner applies
to lm-eval's in-memory results (``evalsuite.ingest.lm_eval_records``), so nothing is invented. What
lm-eval does not record (a model fingerprint, seeds, the host) stays unknown, and the
manifest's ``source`` says where the run came from.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from evalsuite.errors import UserError

log = logging.getLogger(__name__)

FORMAT = "lm-eval"
_RESULTS = re.compile(r"^results_(?P<date>.+)\.json$")


def results_files(path: Path) -> list[Path]:
    return sorted(p for p in path.glob("results_*.json") if _RESULTS.match(p.name))


def find(path: Path) -> Path | None:
    """The directory holding results_*.json: ``path`` itself or its one model folder."""
    if results_files(path):
        return path
    subs = [d for d in sorted(path.iterdir()) if d.is_dir() and results_files(d)] \
        if path.is_dir() else []
    if len(subs) > 1:
        raise UserError(f"{path} holds lm-eval results of {len(subs)} models "
                        f"({', '.join(d.name for d in subs)}): name one, e.g. {subs[0]}")
    return subs[0] if subs else None


def read(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]],
                              dict[str, list[dict[str, Any]]]]:
    """(manifest, metrics, samples) as plain records, from the newest results file."""
    from evalsuite.ingest.lm_eval_records import collect

    root = find(path)
    if root is None:
        raise UserError(f"{path} holds no lm-eval results_*.json")
    files = results_files(root)
    newest = max(files, key=lambda p: _RESULTS.match(p.name)["date"])  # type: ignore[index]
    if len(files) > 1:
        log.warning("%s holds %d lm-eval runs; reading the newest, %s", root, len(files),
                    newest.name)
    date = _RESULTS.match(newest.name)["date"]  # type: ignore[index]
    results = _json(newest)
    configs = results.get("configs") or {}
    res = results.get("results") or {}
    versions = results.get("versions") or {}
    manifest_tasks: dict[str, Any] = {}
    metrics: dict[str, dict[str, Any]] = {}
    samples: dict[str, list[dict[str, Any]]] = {}
    def has_samples(task: str) -> bool:
        return (root / f"samples_{task}_{date}.jsonl").is_file()

    for name, members in _entries(results, has_samples):
        logged: dict[str, list[dict[str, Any]]] = {}
        for leaf in members:
            file = root / f"samples_{leaf}_{date}.jsonl"
            if not file.is_file():
                raise UserError(f"{root}: no {file.name}: this lm-eval run was written "
                                "without --log_samples; run lm_eval again with --log_samples")
            kind = str((configs.get(leaf) or {}).get("output_type") or "generate_until")
            logged[leaf] = [_unflatten(s, file, n, kind) for n, s in _jsonl(file)]
        # a group (MMLU and its subjects) becomes one task, ids SUBTASK/DOC_ID, exactly as
        # evalsuite's runner stores it, so the two pair
        scope = {k: v for k, v in res.items() if k == name or k in _descendants(results, name)}
        out = {"samples": logged, "results": scope, "configs": configs, "versions": versions}
        samples[name], metrics[name], stderrs, subtasks = collect(out, name)
        cfg = configs.get(members[0]) or {}
        manifest_tasks[name] = {
            "version": versions.get(name),
            "n_samples": len(samples[name]),
            "output_type": str(cfg.get("output_type") or "generate_until"),
            "num_fewshot": (results.get("n-shot") or {}).get(members[0]),
            "generation_kwargs": cfg.get("generation_kwargs"),
            "chat_template": bool(results.get("chat_template")),
            "stderr": stderrs,
            "higher_is_better": (results.get("higher_is_better") or {}).get(name),
        }
        if subtasks:
            manifest_tasks[name]["subtasks"] = subtasks
    if not samples:
        raise UserError(f"{root}: {newest.name} names no task with samples: run lm_eval with "
                        "--log_samples")
    config = results.get("config") or {}
    model_args = config.get("model_args")
    pretrained = _pretrained(model_args)
    name = str(results.get("model_name") or pretrained or root.name)
    if Path(name).is_absolute():  # a local checkpoint: its folder's name, not the path
        name = Path(name).name
    manifest = {
        "schema_version": 2, "status": "complete",
        "model": {"name": name, "path": pretrained, "source": FORMAT,
                  "fingerprint": None},
        "backend": {"name": str(config.get("model") or "unknown"), "model_args": model_args},
        "suite": FORMAT, "tasks": manifest_tasks,
        "versions": {"lm_eval": results.get("lm_eval_version"),
                     "transformers": results.get("transformers_version")},
        "source": {"format": FORMAT, "results_file": newest.name, "read_from": str(root),
                   "runs_in_directory": len(files),
                   "unknown": ["model fingerprint", "seeds", "host"]},
    }
    return manifest, metrics, samples


def _entries(results: dict[str, Any], has_samples: Any) -> list[tuple[str, list[str]]]:
    """(task, its leaf tasks) per task of the run: the highest group with an aggregate
    score on each branch (MMLU under a score-less tag) with every leaf below it; each other
    leaf task on its own. ``has_samples(task)``: its samples file exists."""
    from evalsuite.ingest.lm_eval_records import task_metrics

    res = results.get("results") or {}
    subs = results.get("group_subtasks") or {}
    inner = {t for members in subs.values() for t in members}
    out: list[tuple[str, list[str]]] = []
    taken: set[str] = set()

    def visit(group: str) -> None:
        row = res.get(group)
        if isinstance(row, dict) and task_metrics(row)[0]:
            leaves = [t for t in sorted(_descendants(results, group))
                      if t not in subs and has_samples(t)]
            if leaves:
                out.append((group, leaves))
                taken.update(leaves)
            return
        for child in subs.get(group) or []:  # a tag: look for scored groups below it
            if child in subs:
                visit(child)

    for group in subs:
        if group not in inner:
            visit(group)
    configs = results.get("configs") or {}
    out += [(t, [t]) for t in res if t not in subs and t not in taken
            and (t in configs or has_samples(t))]
    return out


def _descendants(results: dict[str, Any], group: str) -> set[str]:
    subs = results.get("group_subtasks") or {}
    found: set[str] = set()
    todo = list(subs.get(group) or [])
    while todo:
        t = todo.pop()
        if t not in found:
            found.add(t)
            todo.extend(subs.get(t) or [])
    return found


def _unflatten(s: Any, file: Path, n: int, output_type: str) -> dict[str, Any]:
    """lm-eval's logged sample as it was before its writer flattened it."""
    if not isinstance(s, dict) or "doc_id" not in s:
        raise UserError(f"{file}: line {n} is not an lm-eval sample (no doc_id)")
    args = s.get("arguments")
    if isinstance(args, dict):  # {"gen_args_0": {"arg_0": ctx, "arg_1": ...}, ...}
        s["arguments"] = [[a[f"arg_{j}"] for j in range(len(a))]
                          for a in (args[f"gen_args_{i}"] for i in range(len(args)))]
    if output_type != "generate_until":  # generated answers stay the strings they were
        s["resps"] = [[_number(v) for v in r] if isinstance(r, list) else r
                      for r in s.get("resps") or []]
    return s


def _number(v: Any) -> Any:
    # a log-likelihood response is written as ["-3.2", "False"]: the float comes back
    if isinstance(v, list):
        return [_number(x) for x in v]
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    return v


def _pretrained(model_args: Any) -> str | None:
    if isinstance(model_args, dict):
        return model_args.get("pretrained")
    if isinstance(model_args, str):
        m = re.search(r"(?:^|,)pretrained=([^,]+)", model_args)
        return m.group(1) if m else None
    return None


def _json(file: Path) -> dict[str, Any]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{file} cannot be read as lm-eval results ({e}): write it again "
                        "with lm_eval") from None
    if not isinstance(data, dict):
        raise UserError(f"{file} is not an lm-eval results file (not a JSON object)")
    return data


def _jsonl(file: Path) -> list[tuple[int, Any]]:
    out = []
    # "\n" only: lm-eval writes non-ASCII as is, and splitlines() would also split at
    # U+0085 or U+2028 inside a response
    for n, line in enumerate(file.read_text(encoding="utf-8").split("\n"), 1):
        if not line.strip():
            continue
        try:
            out.append((n, json.loads(line)))
        except json.JSONDecodeError as e:
            raise UserError(f"{file}: line {n} is not valid JSON ({e.msg}; the file may have "
                            "been cut short): run lm_eval again") from None
    return out
