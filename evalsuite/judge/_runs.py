"""Judge two stored runs' answers to the same prompts against each other."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalsuite.config import RunConfig
from evalsuite.config.judge import JudgeConfig
from evalsuite.drift.runs import Run, load_run
from evalsuite.judge._model import open_judge
from evalsuite.judge._pairs import paired_samples, pick_tasks
from evalsuite.judge._pairwise import combine, pair_prompt, parse_verdict, win_rates
from evalsuite.tasks.mtbench import judge_prompts

log = logging.getLogger(__name__)
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class PairwiseSettings:
    tasks: tuple[str, ...] | None = None
    """Tasks to judge; None: every generation task both runs finished."""
    limit: int | None = None
    """Judge only the first N shared samples of each task."""
    n_boot: int = 2000
    seed: int = 0
    """Seed of the bootstrap (judging is greedy)."""
    level: float = 0.95


def _run_info(run: Run) -> dict[str, Any]:
    model = run.manifest.model
    return {"path": str(run.path), "label": run.label, "model": model.name,
            "fingerprint": model.fingerprint}


def _judge_task(judge: Any, task: str, pairs: Sequence[tuple[dict[str, Any], dict[str, Any]]],
                prompts: dict[str, Any]) -> list[dict[str, Any]]:
    chats, names = [], []
    for b, c in pairs:
        name, baseline_first = pair_prompt(b, c, prompts)
        _, candidate_first = pair_prompt(c, b, prompts)
        chats += [baseline_first, candidate_first]
        names.append(name)
    outputs = judge.ask(chats, task)
    rows = []
    for i, ((b, _), name) in enumerate(zip(pairs, names, strict=True)):
        out1, out2 = outputs[2 * i], outputs[2 * i + 1]
        v1, v2 = parse_verdict(out1), parse_verdict(out2)
        outcome = combine(v1, v2)
        rows.append({
            "sample_id": b["sample_id"], "prompt": name, "outcome": outcome,
            # a tie made by the swap: the two orders disagreed (FastChat's "inconsistent")
            "inconsistent": outcome == "tie" and not v1 == v2 == "C",
            "baseline_first": {"verdict": v1, "output": out1},
            "candidate_first": {"verdict": v2, "output": out2},
        })
    return rows


def judge_runs(baseline: str | Path, candidate: str | Path, judge_cfg: JudgeConfig,
               settings: PairwiseSettings, run: RunConfig, cache: Path) -> dict[str, Any]:
    """Every shared prompt judged twice, positions swapped; the result file's content.

    All input is checked (runs, tasks, prompts) before the judge loads.
    """
    base, cand = load_run(baseline), load_run(candidate)
    tasks = pick_tasks(base, cand, settings.tasks)
    pairs = {t: paired_samples(base, cand, t, settings.limit) for t in tasks}
    prompts = judge_prompts(cache)
    judge = open_judge(judge_cfg, run, cache)
    results: dict[str, Any] = {}
    samples: dict[str, list[dict[str, Any]]] = {}
    try:
        for task, ps in pairs.items():
            log.info("judging %s: %d prompts, each in both orders", task, len(ps))
            samples[task] = _judge_task(judge, task, ps, prompts)
            outcomes = [r["outcome"] for r in samples[task]]
            results[task] = {**win_rates(outcomes, n_boot=settings.n_boot, seed=settings.seed,
                                         level=settings.level),
                             "inconsistent": sum(r["inconsistent"] for r in samples[task])}
            if results[task]["errors"]:
                log.warning("%s: %d prompts without a verdict in one or both orders",
                            task, results[task]["errors"])
    finally:
        judge.close()
    return {"schema_version": SCHEMA_VERSION, "baseline": _run_info(base),
            "candidate": _run_info(cand), "judge": judge.identity,
            "method": "pair-v2 judge prompts, each prompt judged with the baseline as A and "
                      "with the candidate as A; a verdict that follows the position is a tie; "
                      "win_rate = (wins + ties/2) / prompts with both verdicts",
            "tasks": results, "samples": samples}
