"""The judge's config: a model and a backend of its own (``+judge=NAME``,
``conf/judge/NAME.yaml``), turned into plain dataclasses at the config boundary."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from omegaconf import DictConfig, OmegaConf

from evalsuite.config._types import BACKEND_TYPES, EmbeddedWeights, JudgeConfig, ModelConfig
from evalsuite.config._validate import build
from evalsuite.errors import UserError

NO_JUDGE = ("{what} is graded by a judge model, and none is named: add +judge=smollm2_135m "
            "(or another conf/judge/NAME.yaml)")


def judge_from_hydra(node: DictConfig | None) -> JudgeConfig | None:
    """The ``judge`` section, validated; None when no judge is named."""
    if node is None:
        return None
    data: dict[str, Any] = OmegaConf.to_container(node, resolve=True)  # type: ignore[assignment]
    model_d, backend_d = data.pop("model", None), data.pop("backend", None)
    if not isinstance(model_d, dict) or not isinstance(backend_d, dict):
        raise UserError("judge needs a model and a backend: name them in conf/judge/NAME.yaml "
                        "(see conf/judge/smollm2_135m.yaml)")
    emb = model_d.pop("embedded", None)
    model = build(ModelConfig, model_d, "judge.model")
    if emb is not None:
        model = replace(model, embedded=build(EmbeddedWeights, emb, "judge.model.embedded"))
    kind = BACKEND_TYPES.get(str(backend_d.get("name")))
    if kind is None:
        raise UserError(f"unknown judge backend {backend_d.get('name')!r}: choose one of "
                        f"{', '.join(BACKEND_TYPES)}")
    if isinstance(backend_d.get("extra_args"), list):
        backend_d["extra_args"] = tuple(backend_d["extra_args"])
    backend = build(kind, backend_d, "judge.backend")
    judge = build(JudgeConfig, {"model": model, "backend": backend, **data}, "judge")
    if isinstance(judge.max_gen_toks, bool) or not isinstance(judge.max_gen_toks, int) \
            or judge.max_gen_toks < 1:
        raise UserError(f"judge.max_gen_toks must be a positive integer, got "
                        f"{judge.max_gen_toks!r}")
    if not judge.is_endpoint and model.path is None and model.embedded is None:
        raise UserError(f"judge model {model.name} has neither path nor embedded weights: "
                        "set judge.model.path")
    return judge
