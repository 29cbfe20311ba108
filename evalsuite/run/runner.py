"""Evaluate one checkpoint on one suite and write its run directory."""

from __future__ import annotations

import errno
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from evalsuite.config import RunConfig, TaskConfig
from evalsuite.errors import RunFault, UserError
from evalsuite.ingest.lm_eval_records import (
    collect,
    instruction_categories,
    skipped_instructions,
)
from evalsuite.models.backends import build_lm, check_support, close_lm
from evalsuite.models.checkpoint import resolve
from evalsuite.models.factory import cached_lm, model_fingerprint
from evalsuite.models.longprompts import PromptGuard, context_length
from evalsuite.models.reqcache import CachedLM
from evalsuite.run import native
from evalsuite.run.rundir import RunWriter
from evalsuite.storage.cachedir import cache_dir
from evalsuite.storage.lineage import read_lineage
from evalsuite.storage.provenance import host, package_versions
from evalsuite.tasks.data import ensure_punkt_tab, malformed_rows
from evalsuite.tasks.registry import check_fewshot, check_tasks, output_types, task_manager
from evalsuite.tasks.rows import error_records, file_info

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
    native.check(cfg)  # e.g. a judged task without a judge: before any work
    cache = cache_dir(cfg.cache_dir)
    ensure_punkt_tab(cache)  # before lm-eval imports IFEval, which tries to download it
    data_files = {t.name: t.data_file for t in cfg.suite.tasks if t.data_file}
    malformed = {}
    for name, path in data_files.items():
        if not Path(path).expanduser().is_file():
            raise UserError(f"suite.tasks.{name}.data_file {path} does not exist: fix the path")
        malformed[name] = malformed_rows(name, path)  # a file with no good row: refused now
    # native tasks (MT-Bench) are evalsuite's own, unknown to lm-eval's registry
    names = [t.name for t in cfg.suite.tasks if not native.is_native(t.name)]
    tm = task_manager(cache, cfg.task_paths, data_files, names)
    check_tasks(tm, names)
    for t in cfg.suite.tasks:
        check_fewshot(tm, t.name, t.num_fewshot)
    check_support(cfg, output_types(tm, names))
    checkpoint = resolve(cfg.model, cache)

    writer = RunWriter(cfg.run_dir, {
        "model": {"name": cfg.model.name, "path": checkpoint.location,
                  "source": checkpoint.source, "fingerprint": None, "dtype": cfg.model.dtype,
                  "lineage": read_lineage(checkpoint.location) if checkpoint.is_local
                  else None},
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
        fp = model_fingerprint(checkpoint, cfg, cache)
        writer.update_model(fingerprint=fp)
        if cfg.request_cache:
            lm = cached_lm(lm, cfg, cache, fp, checkpoint)
        # outermost, so the request cache keys the prompt that was actually sent
        lm = PromptGuard(lm, cfg.long_prompts, context_length(lm, cfg.model.max_length))
        for task in cfg.suite.tasks:
            log.info("task %s (limit %s)", task.name, task.limit)
            if isinstance(lm.inner, CachedLM):
                lm.inner.reset_stats()
            lm.reset()
            samples, metrics, info = (native.run(lm, task, cfg) if native.is_native(task.name)
                                      else run_task(lm, tm, task, cfg))
            if isinstance(lm.inner, CachedLM):
                info["requests"] = dict(lm.inner.stats)
            if task.data_file:
                info["data_file"] = file_info(task.data_file)
                bad = malformed[task.name]
                if bad:  # recorded, not fatal: the task ran on the good rows
                    info["malformed_rows"] = len(bad)
                    samples = samples + error_records(bad)
                    log.warning("%s: %d malformed rows in %s skipped (first: line %d: %s)",
                                task.name, len(bad), task.data_file, bad[0]["line"],
                                bad[0]["error"])
            restarts = getattr(lm, "server_restarts", 0)
            if restarts:  # so far in this run: the task that saw the death has the first
                info["server_restarts"] = restarts
            long_prompts = lm.summary()
            if long_prompts:  # each sample's own note came with its answer (Generation)
                info["long_prompts"] = long_prompts
            writer.add_task(task.name, samples, metrics, info)
        writer.finish()
    except BaseException as e:
        if (isinstance(e, UserError) and not isinstance(e, RunFault)
                and not writer.manifest["tasks"]):
            # bad input found once the model was loaded (no chat template): nothing ran,
            # so take back what the writer wrote (the CLI then removes an empty run dir)
            writer.discard()
            raise
        try:
            writer.fail(e)
        except OSError:  # the disk that failed the write may fail this one too
            log.warning("could not mark %s partial", cfg.run_dir)
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            where = e.filename or cfg.run_dir
            raise UserError(
                f"no space left on the device of {where} ({e.strerror}): free space and run "
                "the same command again; answers already stored in the request cache are "
                "kept") from e
        raise
    finally:
        close_lm(lm)
        inner = lm.inner if isinstance(lm, PromptGuard) else lm
        if isinstance(inner, CachedLM):
            inner.store.close()
        writer.close()  # last: the server is down and every file written
    return RunResult(cfg.run_dir, writer.metrics, writer.manifest)


def run_task(
    lm: Any, tm: Any, task: TaskConfig, cfg: RunConfig
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """One task through lm-eval's own evaluator: (samples, metrics, manifest entry)."""
    from lm_eval import simple_evaluate

    seeds = _seeds(cfg.seed)
    chat = cfg.chat_template_for(task)
    started = time.perf_counter()
    out = simple_evaluate(
        model=lm,
        tasks=[task.name],
        task_manager=tm,
        num_fewshot=task.num_fewshot,
        limit=task.limit,
        log_samples=True,
        apply_chat_template=chat,
        system_instruction=cfg.model.system_prompt if chat else None,
        gen_kwargs=dict(task.gen_kwargs) or None,
        random_seed=seeds["random"],
        numpy_random_seed=seeds["numpy"],
        torch_random_seed=seeds["torch"],
        fewshot_random_seed=seeds["fewshot"],
    )
    if out is None:  # lm-eval returns None on non-zero ranks only
        raise RuntimeError("lm-eval returned no results")
    samples, metrics, stderrs, subtasks = collect(out, task.name, cfg.store_logprobs)
    first = min(out["samples"])  # a group's subtasks share one template
    tcfg = out["configs"][first]
    n_total = sum(n.get("original", 0) for n in out["n-samples"].values())
    info = {
        "version": out["versions"].get(task.name),
        "n_samples": len(samples),
        "n_samples_total": n_total,
        "output_type": tcfg.get("output_type"),
        "num_fewshot": out.get("n-shot", {}).get(first),
        "generation_kwargs": tcfg.get("generation_kwargs"),
        "chat_template": chat,
        "limit": task.limit,
        "stderr": stderrs,
        "wall_s": round(time.perf_counter() - started, 3),
        "higher_is_better": out.get("higher_is_better", {}).get(task.name),
    }
    if subtasks:
        info["subtasks"] = subtasks
    categories = instruction_categories(samples)
    if categories:
        info["instruction_categories"] = categories
    skipped = skipped_instructions(samples)
    if skipped:
        info["skipped_instructions"] = skipped
        log.warning("%s: %d instructions not scored (%d samples, %d of them unscored): %s",
                    task.name, skipped["n"], skipped["n_samples"],
                    skipped["n_samples_unscored"], skipped["by_id"])
    return samples, metrics, info


class _DropCustomDatasetHint(logging.Filter):
    # lm-eval warns on every task with a custom_dataset that kwargs can be passed via
    # --metadata; for our offline tasks that is noise, and evalsuite passes them itself.
    def filter(self, record: logging.LogRecord) -> bool:
        return "Custom kwargs can be passed" not in record.getMessage()


logging.getLogger("lm_eval.api.task").addFilter(_DropCustomDatasetHint())


def _seeds(seed: int) -> dict[str, int]:
    return {"random": seed, "numpy": seed, "torch": seed, "fewshot": seed}


def _check_chat_template(lm: Any, cfg: RunConfig) -> None:
    tok = getattr(lm, "tokenizer", None)
    wanted = any(cfg.chat_template_for(t) for t in cfg.suite.tasks)
    if wanted and tok is not None and not getattr(tok, "chat_template", None):
        raise UserError(
            f"model {cfg.model.name} has no chat template: set model.chat_template=false "
            "to send raw prompts"
        )
