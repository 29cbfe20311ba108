"""The samples two stored runs answered alike: what a pairwise judge may compare."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evalsuite.drift.runs import Run
from evalsuite.errors import UserError
from evalsuite.judge._pairwise import question_of


def generation_tasks(run: Run) -> list[str]:
    """Finished tasks of ``run`` whose samples are generated text."""
    return [t for t in run.samples
            if run.task_info(t).output_type in (None, "generate_until")
            and any(isinstance(r.get("response"), str) for r in run.samples[t])]


def pick_tasks(base: Run, cand: Run, wanted: Sequence[str] | None) -> list[str]:
    """The tasks to judge: ``wanted``, or every generation task both runs finished."""
    shared = [t for t in generation_tasks(base) if t in generation_tasks(cand)]
    if not wanted:
        if not shared:
            raise UserError(f"{base.path} and {cand.path} share no finished generation task "
                            "to judge: evaluate both with the same suite")
        return shared
    for task in wanted:
        for run in (base, cand):
            if task not in run.samples:
                raise UserError(f"{run.path} has no finished task {task}: pick one of "
                                f"{', '.join(shared) or '(none shared)'}")
        if task not in shared:
            raise UserError(f"task {task} has no generated answers to judge: pick one of "
                            f"{', '.join(shared) or '(none shared)'}")
    return list(wanted)


def _asked(rec: dict[str, Any]) -> list[str]:
    # what the user asked, every turn: a later turn's prompt also holds the model's own
    # earlier answer, which is what is being compared
    turns = [m["content"] for m in rec.get("history") or [] if m.get("role") == "user"]
    return [*turns, question_of(rec)]


def paired_samples(base: Run, cand: Run, task: str, limit: int | None
                   ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(baseline, candidate) records of ``task`` with the same sample id, in the
    baseline's order, the first ``limit`` of them. Refuses samples whose question,
    document or prompt differ between the runs."""
    bi, ci = base.task_info(task).version, cand.task_info(task).version
    if bi != ci:
        raise UserError(f"task {task} has version {bi} in {base.path} but {ci} in "
                        f"{cand.path}: re-run one so both use the same version")
    by_id = {r["sample_id"]: r for r in cand.samples[task]}
    pairs = []
    for b in base.samples[task]:
        c = by_id.get(b["sample_id"])
        if c is None:
            continue
        for key in ("doc_hash", "prompt_hash"):
            if b.get(key) and c.get(key) and b[key] != c[key]:
                raise UserError(f"task {task} sample {b['sample_id']}: the {key} differs "
                                "between the two runs, so they answered different prompts; "
                                "judge runs of the same task with the same chat template")
        if _asked(b) != _asked(c):
            raise UserError(f"task {task} sample {b['sample_id']}: the question differs "
                            "between the two runs; judge runs of the same task version")
        pairs.append((b, c))
        if limit is not None and len(pairs) >= limit:
            break
    if not pairs:
        raise UserError(f"task {task}: no sample id is in both {base.path} and {cand.path}")
    return pairs
