"""``python -m evalsuite.judge baseline=RUN_DIR candidate=RUN_DIR +judge=NAME
[task=NAME] [limit=N] [out=DIR]``: pairwise judging of two stored runs.

Writes ``OUT/pairwise.json`` (atomically, once everything is judged): per task the
candidate's wins, ties, losses, errors and win rate with its interval, per sample both
raw verdicts, the resolved config, package versions and the judge's identity.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from evalsuite.cli._common import discard_empty_dir, fail, launch, precheck
from evalsuite.config import RunConfig, SuiteConfig, check_bool
from evalsuite.config.judge import NO_JUDGE, JudgeConfig, judge_from_hydra
from evalsuite.errors import UserError
from evalsuite.judge._runs import PairwiseSettings, judge_runs
from evalsuite.resources import CONF_DIR
from evalsuite.storage.atomic import write_json
from evalsuite.storage.cachedir import cache_dir
from evalsuite.storage.provenance import now, package_versions

log = logging.getLogger("evalsuite.judge")
RESULT = "pairwise.json"


def _int(cfg: DictConfig, key: str, low: int, allow_none: bool = False) -> int | None:
    value = cfg.get(key)
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise UserError(f"{key} must be an integer of at least {low}, got {value!r}")
    return value


def settings_from(cfg: DictConfig) -> tuple[str, str, JudgeConfig, PairwiseSettings]:
    """Validate the composed config: (baseline, candidate, judge, settings)."""
    baseline, candidate = cfg.get("baseline"), cfg.get("candidate")
    if not baseline or not candidate or not isinstance(candidate, str):
        raise UserError("name both runs: python -m evalsuite.judge baseline=RUN_DIR "
                        "candidate=RUN_DIR +judge=smollm2_135m")
    judge = judge_from_hydra(cfg.get("judge"))
    if judge is None:
        raise UserError(NO_JUDGE.format(what="pairwise comparison"))
    task: Any = cfg.get("task")
    tasks = None if task is None else (
        (str(task),) if isinstance(task, str) else tuple(str(t) for t in task))
    level = cfg.get("level")
    if not isinstance(level, float) or not 0 < level < 1:
        raise UserError(f"level must be a number between 0 and 1, got {level!r}")
    settings = PairwiseSettings(tasks=tasks, limit=_int(cfg, "limit", 1, allow_none=True),
                                n_boot=_int(cfg, "n_boot", 1) or 1, seed=_int(cfg, "seed", 0) or 0,
                                level=level)
    return str(baseline), str(candidate), judge, settings


def _judge_run_config(cfg: DictConfig, judge: JudgeConfig, out: Path) -> RunConfig:
    # the judge is built like any evaluated model, from a run config of its own
    return RunConfig(model=judge.model, backend=judge.backend, suite=SuiteConfig("pairwise", ()),
                     run_dir=out, cache_dir=cfg.get("cache_dir"), seed=int(cfg.seed),
                     store_logprobs=False, task_paths=(), resolved={},
                     request_cache=check_bool(cfg.get("request_cache", True), "request_cache"),
                     request_cache_dir=cfg.get("request_cache_dir"))


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="pairwise")
def hydra_main(cfg: DictConfig) -> None:
    out = Path(HydraConfig.get().runtime.output_dir)
    started = now()
    try:
        baseline, candidate, judge, settings = settings_from(cfg)
        result = judge_runs(baseline, candidate, judge, settings,
                            _judge_run_config(cfg, judge, out), cache_dir(cfg.get("cache_dir")))
    except UserError as e:
        discard_empty_dir(out)
        fail(e.message, e.exit_code)
        return
    except KeyboardInterrupt:
        discard_empty_dir(out)
        fail("interrupted; nothing was written", 130)
        return
    result.update(config=OmegaConf.to_container(cfg, resolve=True), versions=package_versions(),
                  started_at=started, ended_at=now())
    write_json(out / RESULT, result)
    print(f"{result['candidate']['label']} vs {result['baseline']['label']} "
          f"(judge {judge.model.name})")
    for task, r in result["tasks"].items():
        rate = "nan" if r["win_rate"] is None else (
            f"{r['win_rate']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]")
        print(f"  {task:<24} n={r['n']:<4} win {r['wins']} tie {r['ties']} loss {r['losses']} "
              f"error {r['errors']}  win rate {rate}")
    print(f"pairwise: {out / RESULT}")


def main() -> None:
    try:
        precheck(sys.argv[1:])
    except UserError as e:
        fail(e.message, e.exit_code)
    launch(hydra_main, "pairwise")


if __name__ == "__main__":
    main()
