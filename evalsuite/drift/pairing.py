"""Join two runs sample by sample, refusing pairs that are not the same samples."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from evalsuite.drift.runs import Run
from evalsuite.errors import UserError
from evalsuite.schema import TaskInfo

log = logging.getLogger(__name__)


@dataclass
class PairedTask:
    """One task's samples from both runs, in the same order (joined on sample_id)."""

    task: str
    version: Any
    base: list[dict[str, Any]]
    cand: list[dict[str, Any]]
    output_type: str | None
    only_base: int = 0
    only_cand: int = 0
    warnings: list[str] = field(default_factory=list)


def pair_runs(base: Run, cand: Run, *, allow_prompt_mismatch: bool = False) -> list[PairedTask]:
    """Tasks both runs finished, each joined on (task, version, sample_id).

    Different task versions, or a different document (doc_hash) or prompt (prompt_hash)
    under the same id, are refused: their scores would not measure the same thing.
    Different generation settings are compared, with a warning kept in the result.
    """
    common = [t for t in base.samples if t in cand.samples]
    same_docs = _same_documents(base, cand)
    if not common:
        hint = (f"; {same_docs[0][0]} (baseline) and {same_docs[0][1]} (candidate) hold the "
                f"same documents: pair them on purpose with task_map={{{same_docs[0][0]}:"
                f"{same_docs[0][1]}}}") if same_docs else ": evaluate both with the same suite"
        raise UserError(f"{base.path} and {cand.path} share no finished task{hint}")
    out: list[PairedTask] = []
    skipped = [f"{b} (baseline) and {c} (candidate) hold the same documents but are not "
               f"paired: task_map={{{b}:{c}}} pairs them" for b, c in same_docs]
    for task in common:
        bi, ci = base.task_info(task), cand.task_info(task)
        mapped = [f"{run.renamed[task]} ({side})" for side, run in
                  (("baseline", base), ("candidate", cand)) if task in run.renamed]
        for name, vb, vc in _versions(task, bi, ci):
            if vb != vc and not mapped:
                raise UserError(
                    f"task {name} has version {vb} in {base.path} but {vc} in {cand.path}: "
                    "re-run one so both use the same version"
                )
        cand_by_id = {r["sample_id"]: r for r in cand.samples[task]}
        b_rows, c_rows = [], []
        for r in base.samples[task]:
            other = cand_by_id.get(r["sample_id"])
            if other is None:
                continue
            if mapped and not (r.get("doc_hash") and other.get("doc_hash")):
                raise UserError(f"task {task} sample {r['sample_id']} has no document hash in "
                                "one run: task_map pairs only documents shown to agree")
            for key in ("doc_hash",) + (() if allow_prompt_mismatch else ("prompt_hash",)):
                if r.get(key) and other.get(key) and r[key] != other[key]:
                    what = "document" if key == "doc_hash" else "prompt"
                    raise UserError(
                        f"task {task} sample {r['sample_id']} has a different {what} in the "
                        f"two runs ({key} differs): they are not the same samples"
                        + ("" if key == "doc_hash" else
                           "; if only the chat template differs, pass allow_prompt_mismatch=true")
                    )
            b_rows.append(r)
            c_rows.append(other)
        if not b_rows:
            msg = f"{task}: no sample id in both runs; task left out"
            log.warning("%s", msg)
            skipped.append(msg)
            continue
        paired = PairedTask(
            task=task, version=bi.version, base=b_rows, cand=c_rows,
            output_type=bi.output_type or ci.output_type,
            only_base=len(base.samples[task]) - len(b_rows),
            only_cand=len(cand.samples[task]) - len(c_rows),
        )
        if mapped:
            paired.warnings.append(
                f"{task}: paired by task_map with {', '.join(mapped)} (versions "
                f"{bi.version} and {ci.version}); every document hash agrees")
        if paired.only_base or paired.only_cand:
            paired.warnings.append(
                f"{task}: {len(b_rows)} samples in both runs; {paired.only_base} only in the "
                f"baseline and {paired.only_cand} only in the candidate are left out"
            )
        if _gen_settings(bi) != _gen_settings(ci):
            paired.warnings.append(
                f"{task}: generation settings differ (baseline {_gen_settings(bi)}, "
                f"candidate {_gen_settings(ci)}); score changes mix model and settings"
            )
        for w in paired.warnings:
            log.warning("%s", w)
        out.append(paired)
    if not out:
        raise UserError(f"{base.path} and {cand.path} share no sample: " + "; ".join(skipped))
    if skipped:
        out[0].warnings.extend(skipped)
    return out


def _same_documents(base: Run, cand: Run) -> list[tuple[str, str]]:
    """(baseline task, candidate task) pairs under different names whose documents agree
    (most of one's doc hashes are the other's): a pairing task_map= could make."""
    def hashes(run: Run, task: str) -> set[str]:
        return {r["doc_hash"] for r in run.samples[task] if r.get("doc_hash")}

    only_b = [t for t in base.samples if t not in cand.samples]
    only_c = [t for t in cand.samples if t not in base.samples]
    out = []
    for b in only_b:
        hb = hashes(base, b)
        for c in only_c:
            hc = hashes(cand, c)
            if hb and hc and len(hb & hc) >= 0.5 * min(len(hb), len(hc)):
                out.append((b, c))
    return out


def _versions(task: str, bi: TaskInfo, ci: TaskInfo) -> list[tuple[str, Any, Any]]:
    """(name, baseline version, candidate version) of the task and each group member."""
    out = [(task, bi.version, ci.version)]
    bs, cs = bi.subtasks or {}, ci.subtasks or {}
    for sub in sorted(set(bs) | set(cs)):
        out.append((sub, (bs.get(sub) or {}).get("version"), (cs.get(sub) or {}).get("version")))
    return out


def _gen_settings(info: TaskInfo) -> dict[str, Any]:
    gen = dict(info.generation_kwargs or {})
    gen.pop("until", None)  # stop strings come from the task, not the user
    return {**gen, "num_fewshot": info.num_fewshot, "chat_template": info.chat_template}
