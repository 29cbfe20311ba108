"""Turn lm-eval's result dict into evalsuite's records: samples and task metrics.

lm-eval names an aggregate ``metric,filter``; evalsuite keeps lm-eval's metric name and
drops the filter when it is ``none`` (the only filter most tasks have).
"""

from __future__ import annotations

import math
from typing import Any

_NOT_METRICS = {"name", "alias", "sample_len", "samples"}


def metric_key(metric: str, filt: str) -> str:
    return metric if filt == "none" else f"{metric},{filt}"


def _plain(value: Any) -> Any:
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "item"):  # numpy and torch scalars
        return _plain(value.item())
    return str(value)


def task_metrics(result: dict[str, Any]) -> tuple[dict[str, float], dict[str, float | None]]:
    """(metrics, stderrs) of one task from ``results["results"][task]``."""
    metrics: dict[str, float] = {}
    stderrs: dict[str, float | None] = {}
    for key, value in result.items():
        if key in _NOT_METRICS or "," not in key:
            continue
        name, filt = key.split(",", 1)
        if name.endswith("_stderr"):
            stderrs[metric_key(name[: -len("_stderr")], filt)] = (
                value if isinstance(value, int | float) else None
            )
        else:
            metrics[metric_key(name, filt)] = _plain(value)
    return metrics, stderrs


def sample_records(logged: list[dict[str, Any]], output_type: str) -> list[dict[str, Any]]:
    """One record per document from lm-eval's logged samples (one entry per doc and filter)."""
    by_doc: dict[int, dict[str, Any]] = {}
    for s in logged:
        doc_id = int(s["doc_id"])
        rec = by_doc.get(doc_id)
        if rec is None:
            rec = by_doc[doc_id] = _base_record(s, output_type)
        filt = s.get("filter", "none")
        for metric in s.get("metrics", []):
            if metric in s:
                rec["scores"][metric_key(metric, filt)] = _plain(s[metric])
        if filt != "none":
            rec.setdefault("filtered", {})[filt] = _plain(s.get("filtered_resps"))
    return [by_doc[k] for k in sorted(by_doc)]


def _base_record(s: dict[str, Any], output_type: str) -> dict[str, Any]:
    args = s.get("arguments") or []
    prompt = args[0][0] if args and args[0] else None
    rec: dict[str, Any] = {
        "sample_id": int(s["doc_id"]),
        "doc_hash": s.get("doc_hash"),
        "prompt_hash": s.get("prompt_hash"),
        "prompt": prompt,
        "response": None,
        "target": _plain(s.get("target")),
        "scores": {},
    }
    resps = s.get("resps") or []
    if output_type == "generate_until":
        rec["response"] = resps[0][0] if resps and resps[0] else None
    elif output_type in ("multiple_choice", "loglikelihood"):
        lls = [float(r[0][0]) for r in resps]
        rec["choices"] = [a[1] for a in args]
        rec["loglikelihoods"] = lls
        rec["response"] = rec["choices"][max(range(len(lls)), key=lls.__getitem__)] if lls else None
    else:  # loglikelihood_rolling: the response is the score itself
        rec["response"] = _plain(resps[0][0]) if resps and resps[0] else None
    rec["doc"] = _plain(s.get("doc"))
    return rec
