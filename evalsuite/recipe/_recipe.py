"""The recipe: base checkpoint + Q-A pairs + template -> a trained checkpoint in the cache.

Output: ``CACHE/recipes/KEY/`` (a Hugging Face checkpoint, ``recipe.json`` and
``pairs.jsonl``) and ``CACHE/conf/model/NAME.yaml`` for ``+model=NAME``. KEY hashes the
base weights, the pairs, the template and every training setting; a directory with that
key is complete by construction (built under a temporary name, renamed when done), so a
repeat is a cache hit that trains nothing.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from evalsuite.config.search_path import (
    find_model_yaml,
    shipped_model_names,
    user_conf_dir,
    write_model_yaml,
)
from evalsuite.errors import UserError
from evalsuite.recipe._data import QAData, load_pairs
from evalsuite.recipe._settings import RECIPE_VERSION, RecipeSettings, cache_key
from evalsuite.recipe._template import Template, template
from evalsuite.storage.atomic import write_json, write_jsonl
from evalsuite.storage.cachedir import cache_dir

log = logging.getLogger("evalsuite.recipe")
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class RecipeResult:
    name: str
    """The model config name: ``python -m evalsuite +model=NAME``."""
    key: str
    checkpoint: Path
    model_yaml: Path
    cached: bool
    """True when the checkpoint existed and nothing was trained."""
    record: dict[str, Any]
    """The content of ``recipe.json``."""

    def eval_command(self, cache: str | None = None) -> str:
        extra = f" cache_dir={cache}" if cache else ""
        return f"python -m evalsuite +model={self.name}{extra}"


def _data(settings: RecipeSettings) -> QAData:
    data = load_pairs(settings.data, settings.cache_dir, settings.question_key,
                      settings.answer_key)
    n = settings.train.max_pairs
    return replace(data, pairs=data.pairs[:n]) if n else data


def run(settings: RecipeSettings) -> RecipeResult:
    """Train (or find in the cache) the checkpoint these settings describe."""
    from evalsuite.models.checkpoint import resolve
    from evalsuite.storage.fingerprint import fingerprint, hub_fingerprint

    if settings.name in shipped_model_names():
        raise UserError(f"name {settings.name!r} is a shipped model config: choose another "
                        "name=")
    cache = cache_dir(settings.cache_dir)
    tmpl = template(settings.template)
    data = _data(settings)
    base = resolve(settings.base, cache)
    base_fp = (fingerprint(Path(base.location), cache) if base.is_local
               else hub_fingerprint(base.location, settings.base.revision, cache))
    key = cache_key(base_fp, data.sha256, tmpl.text, settings.train)
    name = settings.name or f"{settings.base.name}_synth_{key[:8]}"
    out = cache / "recipes" / key

    cached, record = from_cache_or(out, lambda: _train_and_save(
        settings, base.location, base_fp, data, tmpl, key, out, cache, base.source))
    model_yaml = _register(settings, name, out, record)
    return RecipeResult(name, key, out, model_yaml, cached, record)


def from_cache_or(out: Path, train: Callable[[], bool]) -> tuple[bool, dict[str, Any]]:
    """The cache entry ``out`` if it is complete, else ``train()`` it; (cached, record).
    An entry is complete once its recipe.json exists (``publish`` writes it last)."""
    cached = (out / "recipe.json").is_file()
    if cached:
        log.info("cache hit: %s already holds this checkpoint; nothing to train", out)
    else:
        cached = train()
    return cached, json.loads((out / "recipe.json").read_text(encoding="utf-8"))


def _train_and_save(settings: RecipeSettings, location: str, base_fp: str, data: QAData,
                    tmpl: Template, key: str, out: Path, cache: Path, source: str) -> bool:
    """Train into a temporary directory, rename it to ``out``; True if another job won."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from evalsuite.recipe._train import batches, pack, train
    from evalsuite.storage.fingerprint import fingerprint
    from evalsuite.storage.provenance import host, package_versions

    t = settings.train
    threads = settings.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    tok = AutoTokenizer.from_pretrained(location, revision=settings.base.revision)
    model = AutoModelForCausalLM.from_pretrained(location, revision=settings.base.revision,
                                                 dtype=torch.float32)
    eos = tok.eos_token_id
    if t.append_eos and eos is None:
        raise UserError(f"the tokenizer of {location} has no EOS token: set append_eos=false")
    tail = "" if t.append_eos else "\n\n"
    texts = [tmpl.render(p.question, p.answer) + tail for p in data.pairs]
    examples = [ids + [eos] if t.append_eos else ids
                for ids in tok(texts, add_special_tokens=False)["input_ids"]]
    packed = pack(examples, t.steps * t.batch_size, t.seq_len, t.seed)
    pad = tok.pad_token_id if tok.pad_token_id is not None else (eos or 0)
    n_tokens = sum(len(r) for r in packed.rows)
    log.info("training %s on %d rows (%d tokens, %.2f epochs of %d pairs) for %d steps",
             settings.base.name, len(packed.rows), n_tokens, packed.epochs, len(data.pairs),
             t.steps)
    trained = train(model, batches(packed.rows, t.batch_size, pad), t, settings.progress)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", suffix=".tmp", dir=out.parent))
    try:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        write_jsonl(tmp / "pairs.jsonl", (asdict(data.pairs[i]) for i in packed.order))
        record = {
            "schema_version": SCHEMA_VERSION,
            "recipe_version": RECIPE_VERSION,
            "key": key,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "base": {"name": settings.base.name, "source": source, "location": location,
                     "fingerprint": base_fp},
            "data": {"name": data.name, "origin": data.origin, "licence": data.licence,
                     "sha256": data.sha256, "n_pairs": len(data.pairs),
                     "n_pairs_trained": len(packed.order), "epochs": round(packed.epochs, 4),
                     "truncated_pairs": packed.truncated, "question_key": settings.question_key,
                     "answer_key": settings.answer_key,
                     "example": texts[packed.order[0]] if packed.order else None,
                     "pairs_file": "pairs.jsonl (the pairs in training order)"},
            "template": {"name": tmpl.name, "text": tmpl.text,
                         "end": "eos" if t.append_eos else "blank line"},
            "training": {**asdict(t), "optimizer": "AdamW", "schedule": "linear warm-up, "
                         "then constant", "dtype": "float32", "loss": "every token but padding",
                         "tokens": n_tokens, "threads": threads, "device": "cpu"},
            "losses": [round(x, 5) for x in trained.losses],
            "loss_first": trained.losses[0], "loss_last": trained.losses[-1],
            "train_wall_s": round(trained.wall_s, 1),
            "fingerprint": fingerprint(tmp, cache),
            "versions": package_versions(),
            "host": host(),
        }
        return publish(tmp, out, record)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def publish(tmp: Path, out: Path, record: dict[str, Any]) -> bool:
    """Write ``recipe.json`` last and rename the finished ``tmp`` to ``out`` (the cache
    entry is complete by construction); True when another job finished ``out`` first."""
    write_json(tmp / "recipe.json", record)
    _share(tmp)
    try:
        tmp.rename(out)
    except OSError:
        if not (out / "recipe.json").is_file():
            raise
        log.info("another job finished %s first; keeping its checkpoint", out)
        shutil.rmtree(tmp, ignore_errors=True)
        return True
    return False


def _share(directory: Path) -> None:
    # mkdtemp (and the safetensors writer) make owner-only files; the cache may be shared,
    # so honour the umask as every other cache entry does.
    umask = os.umask(0)
    os.umask(umask)
    for p in [directory, *directory.rglob("*")]:
        p.chmod((0o777 if p.is_dir() else 0o666) & ~umask)


def _register(settings: RecipeSettings, name: str, out: Path, record: dict[str, Any]) -> Path:
    """Write the model config that ``+model=NAME`` composes."""
    existing = find_model_yaml(name, settings.cache_dir)
    if existing is not None and str(out) not in existing.read_text(encoding="utf-8"):
        log.warning("replacing the model config %s (it named another checkpoint)", existing)
    model = {k: v for k, v in asdict(settings.base).items() if k != "embedded"}
    model.update(name=name, path=str(out), revision=None)
    header = (f"Trained by python -m evalsuite.recipe (key {record['key']}): "
              f"{record['base']['name']} + {record['data']['name']}, template "
              f"{record['template']['name']}, {record['training']['steps']} steps at lr "
              f"{record['training']['lr']}, seed {record['training']['seed']}.\n"
              f"Record: {out / 'recipe.json'}\n"
              f"  python -m evalsuite +model={name}")
    path = write_model_yaml(name, model, header, settings.cache_dir)
    assert path.parent.parent == user_conf_dir(settings.cache_dir)
    return path
