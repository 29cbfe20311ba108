"""The composed Hydra config, validated and turned into a RunConfig."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from evalsuite.config._types import (
    BACKEND_TYPES,
    DATA_FILE_TASKS,
    EmbeddedWeights,
    ModelConfig,
    RunConfig,
    SuiteConfig,
    TaskConfig,
)
from evalsuite.config._validate import (
    build,
    check_bool,
    check_int,
    check_policy,
    check_positive,
    section,
)
from evalsuite.config.judge import judge_from_hydra
from evalsuite.errors import UserError


def from_hydra(cfg: DictConfig, run_dir: Path) -> RunConfig:
    """Validate the composed config and turn it into a RunConfig."""
    model_d = section(
        cfg, "model", "no model named: add +model=NAME (e.g. +model=smollm2_135m)"
    )
    emb = model_d.pop("embedded", None)
    model = build(ModelConfig, model_d, "model")
    if emb is not None:
        model = replace(model, embedded=build(EmbeddedWeights, emb, "model.embedded"))
    if model.path is None and model.embedded is None:
        raise UserError(
            f"model {model.name} has neither path nor embedded weights: set model.path"
        )

    backend_d = section(cfg, "backend", "no backend: add backend=hf")
    kind = BACKEND_TYPES.get(str(backend_d.get("name")))
    if kind is None:
        raise UserError(
            f"unknown backend {backend_d.get('name')!r}: choose one of {', '.join(BACKEND_TYPES)}"
        )
    if isinstance(backend_d.get("extra_args"), list):
        backend_d["extra_args"] = tuple(backend_d["extra_args"])
    backend = build(kind, backend_d, "backend")

    suite_d = section(cfg, "suite", "no suite: add suite=quick")
    # the top-level knobs, named as the user typed them (not as the task they reach)
    limit = None if cfg.get("limit") is None else check_positive(cfg.get("limit"), "limit")
    max_gen_toks = (None if cfg.get("max_gen_toks") is None
                    else check_positive(cfg.get("max_gen_toks"), "max_gen_toks"))
    gen_all = suite_d.pop("gen_kwargs", None) or {}
    tasks_d = suite_d.pop("tasks", None) or {}
    name = suite_d.pop("name", "custom")
    only = cfg.get("tasks")
    if only is not None:  # `tasks=[a,b]` replaces the suite's list, keeping its settings
        only = [only] if isinstance(only, str) else list(only)
        tasks_d = {t: tasks_d.get(t, {}) for t in only}
    if suite_d:
        raise UserError(f"unknown key(s) {', '.join(sorted(suite_d))} in suite config")
    if not tasks_d and only is not None:
        raise UserError("tasks=[] names no task: name at least one, e.g. "
                        "tasks=[ifeval_offline], or drop tasks= to run the whole suite")
    if not tasks_d:
        raise UserError(f"suite {name} has no tasks: add suite.tasks.TASK={{}}")
    tasks = []
    for tname, tcfg in tasks_d.items():
        tcfg = dict(tcfg or {})
        tcfg["gen_kwargs"] = {**gen_all, **(tcfg.get("gen_kwargs") or {})}
        if max_gen_toks is not None:  # the top-level knobs win over the suite's
            tcfg["gen_kwargs"]["max_gen_toks"] = max_gen_toks
        if limit is not None:
            tcfg["limit"] = limit
        task = build(TaskConfig, {"name": tname, **tcfg}, f"suite.tasks.{tname}")
        if task.data_file is not None and tname not in DATA_FILE_TASKS:
            raise UserError(f"suite.tasks.{tname}.data_file: {tname} reads no data_file; "
                            f"tasks that do: {', '.join(DATA_FILE_TASKS)}")
        tasks.append(task)

    return RunConfig(
        model=model,
        backend=backend,
        suite=SuiteConfig(name=name, tasks=tuple(tasks)),
        run_dir=run_dir,
        cache_dir=cfg.get("cache_dir"),
        seed=check_int(cfg.get("seed"), "seed"),
        store_logprobs=bool(cfg.get("store_logprobs", False)),
        request_cache=check_bool(cfg.get("request_cache", True), "request_cache"),
        request_chunk_size=(None if cfg.get("request_chunk_size") is None else
                            check_positive(cfg.get("request_chunk_size"), "request_chunk_size")),
        request_cache_dir=cfg.get("request_cache_dir"),
        long_prompts=check_policy(str(cfg.get("long_prompts", "truncate"))),
        judge=judge_from_hydra(cfg.get("judge")),
        task_paths=tuple(str(p) for p in (cfg.get("task_paths") or ())),
        resolved=OmegaConf.to_container(cfg, resolve=True),  # type: ignore[arg-type]
    )
