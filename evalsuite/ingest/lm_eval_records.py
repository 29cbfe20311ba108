"""Turn lm-eval's results and logged samples into evalsuite's records: samples and task
metrics (for the runner's in-memory results and for lm-eval's output directories alike).

lm-eval names an aggregate ``metric,filter``; evalsuite keeps lm-eval's metric name and
drops the filter when it is ``none`` (the only filter most tasks have).
"""

from __future__ import annotations

from typing import Any

from evalsuite.errors import UserError
from evalsuite.models.generation import record_fields
from evalsuite.storage.jsonable import to_plain
from evalsuite.tasks.ifeval_scoring import rewritten_instructions

_NOT_METRICS = {"name", "alias", "sample_len", "samples"}


def metric_key(metric: str, filt: str) -> str:
    return metric if filt == "none" else f"{metric},{filt}"


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
            metrics[metric_key(name, filt)] = to_plain(value)
    return metrics, stderrs


def sample_records(logged: list[dict[str, Any]], output_type: str,
                   logprobs: bool = False) -> list[dict[str, Any]]:
    """One record per document from lm-eval's logged samples (one entry per doc and filter).
    ``logprobs``: the run stores response logprobs, so every record gets the field."""
    by_doc: dict[int, dict[str, Any]] = {}
    for s in logged:
        doc_id = int(s["doc_id"])
        rec = by_doc.get(doc_id)
        if rec is None:
            rec = by_doc[doc_id] = _base_record(s, output_type, logprobs)
        filt = s.get("filter", "none")
        for metric in s.get("metrics", []):
            if metric in s:
                rec["scores"][metric_key(metric, filt)] = to_plain(s[metric])
        if filt != "none":
            rec.setdefault("filtered", {})[filt] = to_plain(s.get("filtered_resps"))
    records = [by_doc[k] for k in sorted(by_doc)]
    for rec in records:
        add_instruction_results(rec)
    return records


def _base_record(s: dict[str, Any], output_type: str, logprobs: bool) -> dict[str, Any]:
    args = s.get("arguments") or []
    prompt = args[0][0] if args and args[0] else None
    rec: dict[str, Any] = {
        "sample_id": int(s["doc_id"]),
        "doc_hash": s.get("doc_hash"),
        "prompt_hash": s.get("prompt_hash"),
        "prompt": prompt,
        "response": None,
        "target": to_plain(s.get("target")),
        "scores": {},
    }
    resps = s.get("resps") or []
    if output_type == "generate_until":
        # the answer object the backend returned, with its logprobs and long-prompt note
        rec.update(record_fields(resps[0][0] if resps and resps[0] else None,
                                 logprobs=logprobs))
    elif output_type in ("multiple_choice", "loglikelihood"):
        lls = [float(r[0][0]) for r in resps]
        contexts, conts = [a[0] for a in args], [a[1] for a in args]
        # "multiple input" tasks (Winogrande) vary the context, not the continuation
        multi_input = len(set(conts)) == 1 and len(set(contexts)) > 1
        rec["choices"] = contexts if multi_input else conts
        rec["loglikelihoods"] = lls
        rec["response"] = rec["choices"][max(range(len(lls)), key=lls.__getitem__)] if lls else None
    else:  # loglikelihood_rolling: the response is the score itself
        rec["response"] = to_plain(resps[0][0]) if resps and resps[0] else None
    if logprobs:
        rec.setdefault("response_logprobs", None)  # scored tasks: no response of their own
    rec["doc"] = to_plain(s.get("doc"))
    return rec


def add_instruction_results(rec: dict[str, Any]) -> None:
    """IFEval-style samples: one entry per instruction with its id, category and verdicts.

    lm-eval scores each instruction of a prompt (``inst_level_*_acc`` is a list in
    ``instruction_id_list`` order); spelling it out lets the analysis group by
    instruction id and category (``keywords``, ``length_constraints``, ...).
    """
    doc = rec.get("doc") or {}
    ids = doc.get("instruction_id_list")
    strict = rec["scores"].get("inst_level_strict_acc")
    loose = rec["scores"].get("inst_level_loose_acc")
    if not isinstance(ids, list) or not isinstance(strict, list) or len(strict) != len(ids):
        return
    if not isinstance(loose, list) or len(loose) != len(ids):
        loose = [None] * len(ids)
    rec["instructions"] = [
        {"id": iid, "category": iid.split(":", 1)[0], "strict": bool(st),
         "loose": None if lo is None else bool(lo)}
        for iid, st, lo in zip(ids, strict, loose, strict=True)
    ]
    for i, why in rewritten_instructions(doc).items():
        rec["instructions"][i]["rewritten"] = why


def instruction_categories(samples: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Instruction-level pass rates per category over samples with ``instructions``.

    The counts add up to the number of instructions, and the n-weighted mean of the
    per-category rates equals lm-eval's ``inst_level_*_acc``.
    """
    acc: dict[str, list[int]] = {}
    for rec in samples:
        for inst in rec.get("instructions", ()):
            row = acc.setdefault(inst["category"], [0, 0, 0, 0])
            row[0] += 1
            row[1] += int(inst["strict"])
            if inst["loose"] is not None:  # a missing loose verdict is not a failure
                row[2] += 1
                row[3] += int(inst["loose"])
    return {
        cat: {"n": n, "inst_level_strict_acc": st / n,
              "inst_level_loose_acc": lo / n_lo if n_lo else None}
        for cat, (n, st, n_lo, lo) in sorted(acc.items())
    }


def skipped_instructions(samples: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Instructions a task left unscored, from each doc's ``skipped_instruction_ids``.

    IFBench lists there the instructions whose checker needs a resource that is not
    available offline; a sample whose every instruction is skipped has no scores.
    None when no sample skipped anything.
    """
    by_id: dict[str, int] = {}
    prompts = unscored = 0
    for rec in samples:
        ids = (rec.get("doc") or {}).get("skipped_instruction_ids") or []
        if not ids:
            continue
        prompts += 1
        unscored += not rec.get("scores")
        for iid in ids:
            by_id[iid] = by_id.get(iid, 0) + 1
    if not by_id:
        return None
    return {"n": sum(by_id.values()), "by_id": dict(sorted(by_id.items())),
            "n_samples": prompts, "n_samples_unscored": unscored}


def collect(
    out: dict[str, Any], name: str, logprobs: bool = False
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(samples, metrics, stderrs, subtasks) of one suite entry: a task or a group.

    A group (e.g. mmlu_offline, 57 subjects) is stored as one samples file whose
    sample ids are ``SUBTASK/DOC_ID``; its metrics are lm-eval's group aggregate, and
    every subtask's and subgroup's own metrics go to the manifest.
    """
    if name in out["samples"] or len(out["samples"]) == 1:  # a task, or a tag of one
        only = name if name in out["samples"] else next(iter(out["samples"]))
        tcfg = out["configs"][only]
        samples = sample_records(out["samples"][only], tcfg.get("output_type", "generate_until"),
                                 logprobs)
        metrics, stderrs = task_metrics(out["results"][only])
        return samples, metrics, stderrs, {}
    group = out["results"].get(name)
    if group is None or not task_metrics(group)[0]:
        # A tag: several tasks without an aggregate, so no single score to store.
        raise UserError(
            f"task {name} expands to {len(out['samples'])} tasks without a group score; "
            "list them in the suite one by one"
        )
    samples = []
    for sub in sorted(out["samples"]):
        kind = out["configs"][sub].get("output_type", "generate_until")
        for rec in sample_records(out["samples"][sub], kind, logprobs):
            rec["sample_id"] = f"{sub}/{rec['sample_id']}"
            rec["subtask"] = sub
            samples.append(rec)
    metrics, stderrs = task_metrics(group)
    subtasks = {
        sub: {"version": out["versions"].get(sub),
              "n_samples": len({s["doc_id"] for s in out["samples"].get(sub, [])}) or None,
              "metrics": task_metrics(res)[0]}
        for sub, res in sorted(out["results"].items()) if sub != name
    }
    return samples, metrics, stderrs, subtasks
