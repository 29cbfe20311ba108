"""Evaluate one checkpoint on one suite and write its run directory."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from evalsuite.backends import build_lm, check_support, close_lm
from evalsuite.cache import cache_dir
from evalsuite.checkpoint import Checkpoint, resolve
from evalsuite.config import RunConfig, TaskConfig
from evalsuite.data import ensure_punkt_tab
from evalsuite.errors import UserError
from evalsuite.fingerprint import fingerprint, hub_fingerprint
from evalsuite.records import sample_records, task_metrics
from evalsuite.rundir import RunWriter
from evalsuite.tasks import check_tasks, output_types, task_manager
from evalsuite.versions import host, package_versions

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict[str, dict[str, Any]]
    manifest: dict[str, Any]


def evaluate(cfg: RunConfig) -> RunResult:
    """Run every task of the suite on the model; return what was written to ``cfg.run_dir``.

    All validation that can fail on user input happens before the run directory is
    written, so bad input leaves no run behind.
    """
    cache = cache_dir(cfg.cache_dir)
    ensure_punkt_tab(cache)  # before lm-eval imports IFEval, which tries to download it
    tm = task_manager(cache, cfg.task_paths)
    names = [t.name for t in cfg.suite.tasks]
    check_tasks(tm, names)
    check_support(cfg, output_types(tm, names))
    checkpoint = resolve(cfg.model, cache)

    writer = RunWriter(cfg.run_dir, {
        "model": {"name": cfg.model.name, "path": checkpoint.location,
                  "source": checkpoint.source, "fingerprint": None, "dtype": cfg.model.dtype},
        "backend": asdict(cfg.backend),
        "suite": cfg.suite.name,
        "config": cfg.resolved,
        "versions": package_versions(),
        "host": host(),
        "seeds": _seeds(cfg.seed),
    })
    lm = None
    try:
        lm = build_lm(cfg, checkpoint)
        _check_chat_template(lm, cfg)
        writer.update_model(fingerprint=_fingerprint(checkpoint, cfg, cache))
        for task in cfg.suite.tasks:
            log.info("task %s (limit %s)", task.name, task.limit)
            samples, metrics, info = run_task(lm, tm, task, cfg)
            writer.add_task(task.name, samples, metrics, info)
        writer.finish()
    except BaseException as e:
        writer.fail(e)
        raise
    finally:
        close_lm(lm)
    return RunResult(cfg.run_dir, writer.metrics, writer.manifest)


def run_task(
    lm: Any, tm: Any, task: TaskConfig, cfg: RunConfig
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """One task through lm-eval's own evaluator: (samples, metrics, manifest entry)."""
    from lm_eval import simple_evaluate

    seeds = _seeds(cfg.seed)
    started = time.perf_counter()
    out = simple_evaluate(
        model=lm,
        tasks=[task.name],
        task_manager=tm,
        num_fewshot=task.num_fewshot,
        limit=task.limit,
        log_samples=True,
        apply_chat_template=cfg.model.chat_template,
        system_instruction=cfg.model.system_prompt,
        gen_kwargs=dict(task.gen_kwargs) or None,
        random_seed=seeds["random"],
        numpy_random_seed=seeds["numpy"],
        torch_random_seed=seeds["torch"],
        fewshot_random_seed=seeds["fewshot"],
    )
    if out is None:  # lm-eval returns None on non-zero ranks only
        raise RuntimeError("lm-eval returned no results")
    # A group expands to several tasks; one stored file per suite entry keeps ids simple.
    names = list(out["samples"])
    if len(names) != 1:
        raise UserError(
            f"task {task.name} expands to {len(names)} tasks; list them in the suite one by one"
        )
    name = names[0]
    tcfg = out["configs"][name]
    samples = sample_records(out["samples"][name], tcfg.get("output_type", "generate_until"))
    if cfg.store_logprobs:
        _attach_logprobs(lm, samples)
    metrics, stderrs = task_metrics(out["results"][name])
    n = out["n-samples"][name]
    info = {
        "version": out["versions"].get(name),
        "n_samples": len(samples),
        "n_samples_total": n.get("original"),
        "output_type": tcfg.get("output_type"),
        "num_fewshot": out.get("n-shot", {}).get(name),
        "generation_kwargs": tcfg.get("generation_kwargs"),
        "limit": task.limit,
        "stderr": stderrs,
        "wall_s": round(time.perf_counter() - started, 3),
        "higher_is_better": out.get("higher_is_better", {}).get(name),
    }
    return samples, metrics, info


class _DropCustomDatasetHint(logging.Filter):
    # lm-eval warns on every task with a custom_dataset that kwargs can be passed via
    # --metadata; for our offline tasks that is noise, and evalsuite passes them itself.
    def filter(self, record: logging.LogRecord) -> bool:
        return "Custom kwargs can be passed" not in record.getMessage()


logging.getLogger("lm_eval.api.task").addFilter(_DropCustomDatasetHint())


def _attach_logprobs(lm: Any, samples: list[dict[str, Any]]) -> None:
    # The backend remembers logprobs by the exact prompt it was sent; the sample
    # record holds that same prompt string.
    table = getattr(lm, "response_logprobs", None)
    if table is None:
        raise UserError(f"backend {type(lm).__name__} cannot store response logprobs")
    for rec in samples:
        rec["response_logprobs"] = table.get(rec["prompt"])
    table.clear()


def _seeds(seed: int) -> dict[str, int]:
    return {"random": seed, "numpy": seed, "torch": seed, "fewshot": seed}


def _fingerprint(checkpoint: Checkpoint, cfg: RunConfig, cache: Path) -> str:
    if checkpoint.is_local:
        return fingerprint(Path(checkpoint.location), cache)
    return hub_fingerprint(checkpoint.location, cfg.model.revision, cache)


def _check_chat_template(lm: Any, cfg: RunConfig) -> None:
    tok = getattr(lm, "tokenizer", None)
    if cfg.model.chat_template and tok is not None and not getattr(tok, "chat_template", None):
        raise UserError(
            f"model {cfg.model.name} has no chat template: set model.chat_template=false "
            "to send raw prompts"
        )
