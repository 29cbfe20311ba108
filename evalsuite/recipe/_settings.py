"""The recipe's typed settings, built from the composed Hydra config, and its cache key."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from evalsuite.config import EmbeddedWeights, ModelConfig, build
from evalsuite.errors import UserError

# Bumped when training changes in a way the settings do not show, so that old
# checkpoints are not served for the new recipe.
RECIPE_VERSION = 1
NAME = re.compile(r"^[A-Za-z_][\w.\-]*$")


@dataclass(frozen=True)
class TrainSettings:
    """Everything that shapes the trained weights besides the base model and the data."""

    steps: int = 80
    batch_size: int = 4
    """Packed rows per optimizer step."""
    seq_len: int = 256
    """Tokens per row; whole rendered pairs are packed into a row, the rest is padding."""
    lr: float = 1e-4
    warmup_steps: int = 5
    """Linear warm-up, then a constant learning rate."""
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    seed: int = 0
    append_eos: bool = True
    """End every pair with the tokenizer's EOS (as supervised fine-tuning does);
    false joins the pairs of a row with a blank line instead."""
    max_pairs: int | None = None
    """Use only the first N pairs of the data (before shuffling)."""


@dataclass(frozen=True)
class RecipeSettings:
    base: ModelConfig
    data: str
    """``triviaqa_sciq``, ``alpaca_gpt4`` or a JSONL path."""
    template: str
    """A template name or text with ``{question}`` and ``{answer}``."""
    train: TrainSettings
    question_key: str = "question"
    answer_key: str = "answer"
    name: str | None = None
    """The model config name for ``+model=NAME``; None derives one from the cache key."""
    threads: int | None = None
    """torch CPU threads; None uses every core. Part of the record, not the key."""
    cache_dir: str | None = None
    progress: bool = True


def _load_model_yaml(path: Any) -> dict[str, Any]:
    cfg = OmegaConf.load(path)
    data = OmegaConf.to_container(cfg, resolve=True)
    if not isinstance(data, dict):
        raise UserError(f"{path} is not a model config mapping")
    data.pop("defaults", None)
    return data


def base_model(name: str, path: str | None, cache: str | None) -> ModelConfig:
    """The base model's config: a shipped or trained model name, optionally another path."""
    from evalsuite.config.search_path import find_model_yaml, model_names

    found = find_model_yaml(name, cache)
    if found is None:
        raise UserError(f"unknown base model {name!r}: choose one of "
                        f"{', '.join(model_names(cache))} or set base_path=CHECKPOINT_DIR")
    data = _load_model_yaml(found)
    emb = data.pop("embedded", None)
    model = build(ModelConfig, data, f"base model {name}")
    if emb is not None:
        model = replace(model, embedded=build(EmbeddedWeights, emb, "base.embedded"))
    if path is not None:  # any local checkpoint, trained with the named config's settings
        local = Path(str(path)).expanduser().resolve()
        if not (local / "config.json").is_file():
            raise UserError(f"base_path {path} is not a Hugging Face checkpoint directory "
                            "(no config.json): point it at one, or drop it to train the "
                            f"{name} config's own weights")
        model = replace(model, path=str(local), embedded=None)
    return model


def from_hydra(cfg: DictConfig) -> RecipeSettings:
    """Validate the composed recipe config (all problems at once) into RecipeSettings."""
    d = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(d, dict)
    top = {"base", "base_path", "data", "template", "question_key", "answer_key", "name",
           "threads", "cache_dir", "progress"}
    # the unlearning stage's keys (stage=unlearn reads them; evalsuite.recipe._unlearn)
    top |= {"stage", "start", "forget_data", "unlearn"}
    train_keys = {f.name for f in fields(TrainSettings)}
    unknown = sorted(set(d) - top - train_keys)
    if unknown:
        raise UserError(f"unknown recipe key(s) {', '.join(unknown)}; allowed: "
                        f"{', '.join(sorted(top | train_keys))}")
    train = build(TrainSettings, {k: d[k] for k in train_keys if k in d}, "recipe")
    errors = []
    for key in ("steps", "batch_size", "seq_len"):
        if getattr(train, key) < 1:
            errors.append(f"{key} must be at least 1, got {getattr(train, key)}")
    if not train.lr > 0:
        errors.append(f"lr must be positive, got {train.lr}")
    if train.warmup_steps < 0:
        errors.append(f"warmup_steps must be 0 or more, got {train.warmup_steps}")
    if train.max_pairs is not None and train.max_pairs < 1:
        errors.append(f"max_pairs must be at least 1 or null, got {train.max_pairs}")
    name = d.get("name")
    if name is not None and (not isinstance(name, str) or not NAME.match(name)):
        errors.append(f"name must be a config name (letters, digits, _ . -), got {name!r}")
    elif name is not None:
        from evalsuite.config.search_path import shipped_model_names

        if name in shipped_model_names():
            errors.append(f"name {name!r} is a shipped model config: choose another name=")
    threads = d.get("threads")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        errors.append(f"threads must be a positive integer or null, got {threads!r}")
    for key in ("data", "template", "base", "question_key", "answer_key"):
        if not isinstance(d.get(key), str) or not d.get(key):
            errors.append(f"{key} must be a non-empty string, got {d.get(key)!r}")
    if isinstance(d.get("template"), str) and d.get("template"):
        from evalsuite.recipe._template import template

        try:
            template(d["template"])
        except UserError as e:
            errors.append(e.message)
    if errors:
        raise UserError("; ".join(errors))
    cache = d.get("cache_dir")
    return RecipeSettings(
        base=base_model(d["base"], d.get("base_path"), cache), data=d["data"],
        template=d["template"], train=train, question_key=d["question_key"],
        answer_key=d["answer_key"], name=name, threads=threads, cache_dir=cache,
        progress=bool(d.get("progress", True)),
    )


def cache_key(base_fingerprint: str, data_sha256: str, template_text: str,
              train: TrainSettings) -> str:
    """Hash of what determines the weights: base weights, pairs, template, every setting."""
    blob = json.dumps({"recipe_version": RECIPE_VERSION, "base": base_fingerprint,
                       "data": data_sha256, "template": template_text, "train": asdict(train)},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
