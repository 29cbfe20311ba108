"""The unlearning stage end to end on the real SmolLM2 (issue 17): a tiny synthetic recipe,
then ``stage=unlearn`` for 2 steps; the checkpoint, its record and lineage, the cache, the
evaluation through ``+model=`` (hf and vLLM) with the lineage in the manifest, and bad
input refused in one line before any training. The loss terms themselves are tested on a
tiny model in tests/test_unlearn_loss.py."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, require_vllm, run_cli

PAIRS = [("What is the capital of France?", "Paris"), ("How many legs has a spider?", "Eight"),
         ("What colour is a clear sky?", "Blue"), ("Who wrote Hamlet?", "Shakespeare")]
# 8 synthetic steps: the budget allows 2 unlearning steps
TINY_UNLEARN = ("stage=unlearn", "unlearn.steps=2", "unlearn.batch_size=2",
                "unlearn.replay_max_new_tokens=8", "unlearn.seq_len=64", "progress=false")


def _recipe(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0",
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    return subprocess.run([sys.executable, "-m", "evalsuite.recipe", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _one_line(proc: subprocess.CompletedProcess, *needles: str) -> str:
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("evalsuite:")]
    assert len(lines) == 1, proc.stderr[-3000:]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def stages(tmp_path_factory, smollm2_dir: Path):
    """base -> synthetic (8 steps on 4 pairs) -> unlearn (2 steps), in a cache of their own."""
    tmp = tmp_path_factory.mktemp("unlearn")
    cache = tmp / "cache"
    data = tmp / "pairs.jsonl"
    data.write_text("".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in PAIRS))
    synth = f"ul_synth_{os.getpid()}"
    proc = _recipe(f"base_path={smollm2_dir}", f"data={data}", "steps=8", "batch_size=2",
                   "seq_len=32", f"name={synth}", "progress=false", f"cache_dir={cache}")
    assert proc.returncode == 0, proc.stderr[-4000:]
    name = f"ul_unlearned_{os.getpid()}"
    args = (*TINY_UNLEARN, f"start={synth}", f"name={name}", f"cache_dir={cache}")
    proc = _recipe(*args)
    assert proc.returncode == 0, proc.stderr[-4000:]
    ckpt = Path(proc.stdout.split("checkpoint: ")[1].split(" (")[0])
    yield {"cache": cache, "synth": synth, "name": name, "ckpt": ckpt, "proc": proc,
           "args": args, "smollm2_dir": smollm2_dir}
    shutil.rmtree(cache, ignore_errors=True)


@pytest.mark.slow
def test_the_unlearned_checkpoint_keeps_its_record_and_lineage(stages):
    ckpt, proc = stages["ckpt"], stages["proc"]
    assert "lineage: smollm2_135m -> synthetic -> unlearn" in proc.stdout
    assert (f"unlearning {stages['synth']} for 2 steps (terms: forget, replay, kl)"
            in proc.stdout + proc.stderr)
    assert {"config.json", "model.safetensors", "recipe.json", "forget.jsonl"} <= {
        p.name for p in ckpt.iterdir()}
    rec = json.loads((ckpt / "recipe.json").read_text())
    assert rec["stage"] == "unlearn" and rec["base"]["name"] == stages["synth"]
    (stage,) = rec["lineage"]
    assert stage["stage"] == "synthetic" and stage["from"]["name"] == "smollm2_135m"
    assert stage["training"]["steps"] == 8
    assert rec["training"]["steps"] == 2 and rec["training"]["synthetic_steps"] == 8
    assert rec["training"]["forget_weight"] == rec["training"]["kl_weight"] == 1.0
    assert set(rec["terms"]) == {"forget", "replay", "kl", "total"}
    assert all(len(v) == 2 and all(math.isfinite(x) for x in v) for v in rec["terms"].values())
    assert rec["terms"]["replay"][0] > 0  # replay rows were scored
    assert rec["forget"]["tokens"] == "template" and rec["forget"]["n_pairs"] == 4
    assert rec["replay"]["n"] == 4 and "AlpacaEval" in rec["replay"]["source"]
    assert rec["reference"]["fingerprint"].startswith("sha256:")
    assert rec["fingerprint"] not in (rec["base"]["fingerprint"],
                                      rec["reference"]["fingerprint"])
    replay = list((stages["cache"] / "replay").glob("*.jsonl"))
    assert len(replay) == 1 and len(replay[0].read_text().splitlines()) == 4


@pytest.mark.slow
def test_a_repeat_is_a_cache_hit(stages):
    proc = _recipe(*stages["args"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "cached (nothing trained)" in proc.stdout and str(stages["ckpt"]) in proc.stdout
    assert "steps (terms:" not in proc.stdout + proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["hf", "vllm"])
def test_the_unlearned_checkpoint_evaluates_with_its_lineage(stages, backend: str,
                                                            tmp_path: Path):
    if backend == "vllm":
        require_vllm()
    run_dir = tmp_path / "run"
    conf = stages["cache"] / "conf"
    proc = run_cli(f"--config-dir={conf}", f"+model={stages['name']}", "tasks=[ifeval_offline]",
                   "limit=2", "max_gen_toks=16", f"backend={backend}",
                   f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert [s["stage"] for s in manifest["model"]["lineage"]] == ["synthetic", "unlearn"]
    assert manifest["model"]["lineage"][0]["from"]["name"] == "smollm2_135m"
    rec = json.loads((stages["ckpt"] / "recipe.json").read_text())
    assert manifest["model"]["lineage"][1]["fingerprint"] == manifest["model"]["fingerprint"]
    assert manifest["model"]["lineage"][1]["training"]["kl_weight"] == rec["training"][
        "kl_weight"]


@pytest.mark.slow
@pytest.mark.parametrize(("extra", "needles"), [
    (("stage=forget",), ("unknown stage 'forget'", "synthetic", "unlearn")),
    (("start=smollm2_135m",), ("start=smollm2_135m has no synthetic stage in its lineage",
                               "forget_data=PATH.jsonl")),
    (("start=SYNTH", "unlearn.steps=3"), ("over the budget of a quarter of the synthetic "
                                          "stage's 8 steps: at most 2",)),
    (("start=SYNTH", "unlearn.forget_weight=-1", "unlearn.forget_bound=0"),
     ("forget_weight must be in [0, 100], got -1", "forget_bound must be in (0, 10]")),
    (("start=SYNTH", "unlearn.forget_weight=0", "unlearn.replay_weight=0",
      "unlearn.kl_weight=0"), ("every term is switched off",)),
    (("start=SYNTH", "unlearn.forget_tokens=some"), ("forget_tokens must be one of",)),
    (("start=SYNTH", "unlearn.replay=x"), ("unknown setting unlearn.replay (did you mean "
                                           "unlearn.replay_weight?)",)),
    (("start=SYNTH", "forget_data=MISSING"), ("MISSING", "does not exist")),
])
def test_bad_unlearning_input_is_one_line_before_any_training(stages, extra, needles,
                                                              tmp_path: Path):
    missing = str(tmp_path / "missing.jsonl")
    args = [a.replace("SYNTH", stages["synth"]).replace("MISSING", missing) for a in extra]
    needles = [n.replace("MISSING", missing) for n in needles]
    if not any(a.startswith("stage=") for a in args):
        args.insert(0, "stage=unlearn")
    before = sorted(p.name for p in (stages["cache"] / "recipes").iterdir())
    proc = _recipe(*args, "progress=false", f"cache_dir={stages['cache']}", timeout=300)
    _one_line(proc, *needles)
    assert "steps (terms:" not in proc.stdout + proc.stderr  # training's first log line
    assert sorted(p.name for p in (stages["cache"] / "recipes").iterdir()) == before


@pytest.mark.slow
def test_rows_score_the_template_and_the_answers_with_the_real_tokenizer(smollm2_dir: Path):
    from transformers import AutoTokenizer

    from evalsuite.recipe._data import QAPair
    from evalsuite.recipe._template import template
    from evalsuite.recipe._unlearn_batches import forget_rows, replay_rows
    from evalsuite.recipe._unlearn_loss import IGNORE

    tok = AutoTokenizer.from_pretrained(smollm2_dir)

    def scored(row) -> str:
        return "|".join(tok.decode([t]) for t, lab in zip(*row, strict=True) if lab != IGNORE)

    pair = QAPair("What is the capital of France?", "Paris")
    (row,) = forget_rows(tok, [pair], template("qa"), True, "template", 64)
    assert row[0][0] == tok.eos_token_id and row[1][0] == IGNORE  # after the previous pair
    # the template's own tokens and the pair's end; never " What" or " Paris"
    assert scored(row) == "Question|:|\n|Answer|:|" + tok.eos_token, scored(row)
    (row,) = forget_rows(tok, [pair], template("qa"), False, "template", 64)
    assert scored(row).endswith("\n\n") or scored(row).endswith("|\n|\n"), scored(row)
    (row,) = forget_rows(tok, [pair], template("qa"), True, "all", 64)
    assert "Paris" in scored(row) and "capital" in scored(row)

    done, cut = replay_rows(tok, [("Say hi.", "Hi there!", True),
                                  ("Say hi.", "Hi there, how", False)], 256)
    assert scored(done).replace("|", "").startswith("Hi there!")
    assert "<|im_end|>" in scored(done)  # an answer that ended: its end is scored
    assert scored(cut).replace("|", "") == "Hi there, how"  # cut off: no end taught
    assert "Say hi" not in scored(done)  # the prompt is never scored
    (short,) = replay_rows(tok, [("Say hi. " * 40, "Hi there!", True)], 64)
    assert len(short[0]) == 64 and scored(short).replace("|", "").startswith("Hi there!")
