"""``python -m evalsuite.recipe stage=unlearn start=NAME``: the paper's remedy as a third
checkpoint. Starting from a synthetic-Q-A checkpoint, forget its pattern on the pairs it
was trained on (bounded relative to the base model), replay the base model's own answers,
and keep the output distribution near the base model's (``_unlearn_loss``).

Output as the synthetic stage's: ``CACHE/recipes/KEY/`` (checkpoint + ``recipe.json`` with
``stage: unlearn`` and the lineage before it) and ``CACHE/conf/model/NAME.yaml``. KEY
hashes the starting and base weights, the forget pairs, the replay instructions and every
setting, so a repeat trains nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from evalsuite.config import ModelConfig, build
from evalsuite.errors import UserError
from evalsuite.recipe._data import QAPair, load_pairs
from evalsuite.recipe._recipe import RecipeResult, from_cache_or, publish
from evalsuite.recipe._settings import NAME, base_model
from evalsuite.recipe._template import Template, template
from evalsuite.recipe._unlearn_loss import Weights
from evalsuite.recipe._unlearn_train import UnlearnSettings, check
from evalsuite.storage.atomic import write_jsonl
from evalsuite.storage.cachedir import cache_dir
from evalsuite.storage.lineage import read_lineage, read_record

log = logging.getLogger("evalsuite.recipe")
UNLEARN_VERSION = 1
SCHEMA_VERSION = 1
_KEYS = {"steps", "batch_size", "lr", "warmup_steps", "grad_clip", "seed", "forget_weight",
         "replay_weight", "kl_weight", "forget_bound", "forget_tokens",
         "replay_max_new_tokens", "seq_len"}


@dataclass(frozen=True)
class UnlearnStage:
    start: ModelConfig
    """The checkpoint to unlearn (a synthetic stage's registered model)."""
    train: UnlearnSettings
    base: ModelConfig | None = None
    """The reference for the bounds and the KL term when START's record names none."""
    forget_data: str | None = None
    """Pairs to forget when START has no synthetic stage in its lineage."""
    forget_template: str = "qa"
    replay_max_new_tokens: int = 128
    seq_len: int = 256
    name: str | None = None
    threads: int | None = None
    cache_dir: str | None = None
    progress: bool = True


def from_hydra(cfg: DictConfig) -> UnlearnStage:
    """The composed recipe config with ``stage=unlearn`` -> checked settings (one line)."""
    d = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(d, dict)
    u = d.get("unlearn") or {}
    errors = []
    if not isinstance(u, dict):
        raise UserError("unlearn must be a mapping of settings (unlearn.steps=..., ...)")
    unknown = sorted(set(u) - _KEYS)
    if unknown:
        errors.append(f"unknown unlearn setting(s) {', '.join(unknown)}; allowed: "
                      f"{', '.join(sorted(_KEYS))}")
    start = d.get("start")
    if not isinstance(start, str) or not start:
        errors.append("stage=unlearn needs the checkpoint to start from: start=NAME (the "
                      "model name the synthetic recipe registered)")
    name = d.get("name")
    if name is not None and (not isinstance(name, str) or not NAME.match(name)):
        errors.append(f"name must be a config name (letters, digits, _ . -), got {name!r}")
    elif name is not None:
        from evalsuite.config.search_path import shipped_model_names

        if name in shipped_model_names() or name == start:
            errors.append(f"name {name!r} would replace the config of "
                          f"{'a shipped model' if name != start else 'the start checkpoint'}: "
                          "choose another name=")
    threads = d.get("threads")
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool)
                                or threads < 1):
        errors.append(f"threads must be a positive integer or null, got {threads!r}")
    # seq_len: a replay row is a chat prompt (about 40 tokens for SmolLM2) and an answer
    for key, low, high in (("replay_max_new_tokens", 1, 2048), ("seq_len", 64, 8192)):
        v = u.get(key, 128 if key == "replay_max_new_tokens" else 256)
        if not isinstance(v, int) or isinstance(v, bool) or not low <= v <= high:
            errors.append(f"unlearn.{key} must be an integer in [{low}, {high}], got {v!r}")
    train = build(UnlearnSettings, {
        k: u[k] for k in ("steps", "batch_size", "lr", "warmup_steps", "grad_clip", "seed",
                          "forget_bound", "forget_tokens") if k in u}, "unlearn")
    weights = build(Weights, {k: u[f"{k}_weight"] for k in ("forget", "replay", "kl")
                              if f"{k}_weight" in u}, "unlearn")
    train = replace(train, weights=weights)
    try:
        check(train)  # the budget is checked once START's record is read
    except UserError as e:
        errors.append(e.message)
    forget_data = d.get("forget_data")
    if forget_data is not None and (not isinstance(forget_data, str) or not forget_data):
        errors.append(f"forget_data must be a path to a .jsonl file or null, got "
                      f"{forget_data!r}")
    if errors:
        raise UserError("; ".join(errors))
    cache = d.get("cache_dir")
    start_model = base_model(start, None, cache)
    base = base_model(d["base"], d.get("base_path"), cache) if forget_data else None
    return UnlearnStage(
        start=start_model, train=train, base=base, forget_data=forget_data,
        forget_template=str(d.get("template") or "qa"),
        replay_max_new_tokens=int(u.get("replay_max_new_tokens", 128)),
        seq_len=int(u.get("seq_len", 256)), name=name, threads=threads,
        cache_dir=cache, progress=bool(d.get("progress", True)))


@dataclass(frozen=True)
class _Forget:
    pairs: list[QAPair]
    template: Template
    append_eos: bool
    source: str
    sha256: str
    synthetic_steps: int | None
    base: ModelConfig


def _forget(stage: UnlearnStage, start_dir: Path, record: dict[str, Any] | None,
            cache: Path) -> _Forget:
    """The pairs to forget and how the synthetic stage rendered them, from START's
    record, or the user's forget_data."""
    if stage.forget_data:
        if not Path(stage.forget_data).expanduser().is_file():
            raise UserError(f"forget_data={stage.forget_data} does not exist: give a .jsonl "
                            'file with one {"question": ..., "answer": ...} per line')
        data = load_pairs(str(Path(stage.forget_data).expanduser()), cache)
        assert stage.base is not None
        return _Forget(list(data.pairs), template(stage.forget_template), True,
                       data.origin, data.sha256, None, stage.base)
    pairs_file = start_dir / "pairs.jsonl"
    if (not record or record.get("stage", "synthetic") != "synthetic"
            or not pairs_file.is_file()):
        raise UserError(
            f"start={stage.start.name} has no synthetic stage in its lineage (no recipe.json "
            "with its training pairs beside the weights): name the data to forget with "
            "forget_data=PATH.jsonl (and template=, base= for its format and base model)")
    try:
        tmpl = template(str(record["template"]["text"]))
        steps = int(record["training"]["steps"])
        base_name = str(record["base"]["name"])
        # "\n" only: splitlines() would also split at U+0085 or U+2028 inside a string
        rows = [json.loads(line) for line in pairs_file.read_text("utf-8").split("\n")
                if line.strip()]
        seen: dict[tuple[str, str], None] = {}
        for r in rows:
            seen.setdefault((str(r["question"]), str(r["answer"])), None)
    except (KeyError, TypeError, ValueError, OSError, UserError, RecursionError) as e:
        raise UserError(f"{start_dir}/recipe.json or pairs.jsonl cannot be read as a synthetic "
                        f"stage's record ({type(e).__name__}: {e}): train the synthetic stage "
                        "again, or give forget_data=PATH.jsonl") from None
    pairs = [QAPair(q, a) for q, a in seen]
    if not pairs:
        raise UserError(f"{pairs_file} holds no pairs: give forget_data=PATH.jsonl")
    base = base_model(base_name, None, stage.cache_dir)
    location = record["base"].get("location")
    if location and Path(str(location)).is_dir():
        base = replace(base, path=str(location), embedded=None)
    elif record["base"].get("source") == "local":
        raise UserError(f"the synthetic stage's base model ({base_name} at {location}) is no "
                        "longer there: the bounds and the KL term need those weights; put "
                        "them back, or give forget_data=PATH.jsonl with base_path=DIR")
    digest = hashlib.sha256(pairs_file.read_bytes()).hexdigest()
    return _Forget(pairs, tmpl, record["template"].get("end", "eos") == "eos",
                   f"pairs.jsonl of {stage.start.name} (its synthetic stage)", digest, steps,
                   base)


def run(stage: UnlearnStage) -> RecipeResult:
    """Unlearn (or find in the cache) the checkpoint these settings describe."""
    from evalsuite.models.checkpoint import resolve
    from evalsuite.recipe._replay import instructions
    from evalsuite.storage.fingerprint import fingerprint

    cache = cache_dir(stage.cache_dir)
    if not stage.forget_data and not (stage.start.path and stage.start.embedded is None):
        _forget(stage, Path("."), None, cache)  # no trained weights, no record: refused now
    start = resolve(stage.start, cache)
    if not start.is_local:
        raise UserError(f"start={stage.start.name} is not a local checkpoint: unlearning "
                        "starts from weights on this machine")
    start_dir = Path(start.location)
    record = read_record(start_dir)
    forget = _forget(stage, start_dir, record, cache)
    check(stage.train, forget.synthetic_steps)  # the budget: a quarter of its steps
    base = resolve(forget.base, cache)
    if not base.is_local:
        raise UserError(f"the base model {forget.base.name} is not on this machine")
    start_fp, base_fp = fingerprint(start_dir, cache), fingerprint(Path(base.location), cache)
    recorded = ((record or {}).get("base") or {}).get("fingerprint") if not stage.forget_data \
        else None
    if recorded and recorded != base_fp:
        raise UserError(f"the base model {forget.base.name} ({base.location}) is not the one "
                        f"the synthetic stage started from (fingerprint {base_fp[:19]}, its "
                        f"record says {recorded[:19]}): restore those weights, or give "
                        "forget_data=PATH.jsonl with base_path=DIR")
    t = stage.train
    n = t.steps * t.batch_size
    order = list(range(len(forget.pairs)))
    random.Random(t.seed).shuffle(order)
    chosen = [forget.pairs[order[i % len(order)]] for i in range(n)]
    needs_replay = bool(t.weights.replay or t.weights.kl)
    if needs_replay:
        from transformers import AutoTokenizer

        from evalsuite.recipe._replay import check_chat_template

        check_chat_template(AutoTokenizer.from_pretrained(start_dir))
    prompts = (instructions(n, t.seed, {p.question for p in forget.pairs}, cache)
               if needs_replay else [])
    key = hashlib.sha256(json.dumps({
        "version": UNLEARN_VERSION, "start": start_fp, "base": base_fp,
        "forget": [forget.sha256, forget.template.text, forget.append_eos],
        "replay": [prompts, stage.replay_max_new_tokens], "seq_len": stage.seq_len,
        "train": asdict(t)}, sort_keys=True).encode()).hexdigest()[:16]
    name = stage.name or f"{stage.start.name}_unlearn_{key[:8]}"
    out = cache / "recipes" / key
    cached, rec = from_cache_or(out, lambda: _train_and_save(
        stage, start_dir, start_fp, base.location, base_fp, forget, chosen, prompts, key, out,
        cache))
    return RecipeResult(name, key, out, _register(stage, name, out, rec), cached, rec)


def _train_and_save(stage: UnlearnStage, start_dir: Path, start_fp: str, base_dir: str,
                    base_fp: str, forget: _Forget, chosen: list[QAPair], prompts: list[str],
                    key: str, out: Path, cache: Path) -> bool:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from evalsuite.recipe._replay import base_answers
    from evalsuite.recipe._train import pad_rows as pad
    from evalsuite.recipe._unlearn_batches import forget_rows, replay_rows
    from evalsuite.recipe._unlearn_loss import forget_bounds
    from evalsuite.recipe._unlearn_train import unlearn
    from evalsuite.storage.fingerprint import fingerprint
    from evalsuite.storage.provenance import host, package_versions

    t = stage.train
    threads = stage.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    tok = AutoTokenizer.from_pretrained(start_dir)
    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32).eval()
    model = AutoModelForCausalLM.from_pretrained(start_dir, dtype=torch.float32)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
    forget_b, bounds, replay_b, replay = [], [], [], None
    if t.weights.forget:
        rows = forget_rows(tok, chosen, forget.template, forget.append_eos,
                           t.forget_tokens, stage.seq_len)
        forget_b = pad(rows, t.batch_size, pad_id)
        bounds = [forget_bounds(base, b, t.forget_bound) for b in forget_b]
    if prompts:
        replay = base_answers(base, tok, prompts, base_fp, stage.replay_max_new_tokens,
                              cache, stage.progress)
        replay_b = pad(replay_rows(tok, replay.rows, stage.seq_len), t.batch_size, pad_id)
    log.info("unlearning %s for %d steps (terms: %s)", stage.start.name, t.steps,
             ", ".join(k for k, v in asdict(t.weights).items() if v))
    trained = unlearn(model, base, forget_b, bounds, replay_b, t, stage.progress)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", suffix=".tmp", dir=out.parent))
    try:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        write_jsonl(tmp / "forget.jsonl", (asdict(p) for p in chosen))
        record = {
            "schema_version": SCHEMA_VERSION, "stage": "unlearn",
            "unlearn_version": UNLEARN_VERSION, "key": key,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "base": {"name": stage.start.name, "location": str(start_dir),
                     "fingerprint": start_fp},
            "reference": {"name": forget.base.name, "fingerprint": base_fp,
                          "role": "the base model: the forgetting bound and the KL term"},
            "lineage": read_lineage(start_dir) or [],
            "method": "after Chen et al. (arXiv 2406.12397)'s description, not its code",
            "forget": {"source": forget.source, "sha256": forget.sha256,
                       "n_pairs": len(chosen), "template": forget.template.text,
                       "tokens": t.forget_tokens, "bound": t.forget_bound,
                       "pairs_file": "forget.jsonl (in training order)"},
            "replay": ({"source": replay.source, "sha256": replay.sha256,
                        "n": len(replay.rows), "max_new_tokens": stage.replay_max_new_tokens,
                        "cached": replay.cached} if replay else None),
            "training": {**{k: v for k, v in asdict(t).items() if k != "weights"},
                         **{f"{k}_weight": v for k, v in asdict(t.weights).items()},
                         "seq_len": stage.seq_len, "optimizer": "AdamW",
                         "synthetic_steps": forget.synthetic_steps, "threads": threads,
                         "dtype": "float32", "device": "cpu"},
            "terms": {k: [round(x, 5) for x in v] for k, v in trained.terms.items()},
            "train_wall_s": round(trained.wall_s, 1),
            "fingerprint": fingerprint(tmp, cache),
            "versions": package_versions(), "host": host(),
        }
        return publish(tmp, out, record)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _register(stage: UnlearnStage, name: str, out: Path, record: dict[str, Any]) -> Path:
    from evalsuite.config.search_path import write_model_yaml

    model = {k: v for k, v in asdict(stage.start).items() if k != "embedded"}
    model.update(name=name, path=str(out), revision=None)
    t = record["training"]
    header = (f"Unlearned by python -m evalsuite.recipe stage=unlearn (key {record['key']}): "
              f"{record['base']['name']}, {t['steps']} steps, weights forget "
              f"{t['forget_weight']} replay {t['replay_weight']} kl {t['kl_weight']}, "
              f"seed {t['seed']}.\nRecord: {out / 'recipe.json'}\n"
              f"  python -m evalsuite +model={name}")
    return write_model_yaml(name, model, header, stage.cache_dir)
