"""A place where the real lighteval CLI runs, and the offline inputs it needs.

lighteval cannot be installed into evalsuite's environment: lighteval 0.13.0 (the newest
on PyPI) requires antlr4-python3-runtime 4.13, and Hydra's override parser is generated
for 4.9 (it then fails with "Could not deserialize ATN with version 3 (expected 4)"). So
it gets an environment of its own, as a team would keep it: a venv that sees evalsuite's
packages through a .pth file (torch, datasets and the rest are not installed twice) and
holds lighteval with the versions it was written against, which shadow evalsuite's:

- transformers < 5 and huggingface_hub < 1: lighteval's registry imports every task
  module, and its MT-Bench module calls ``HfApi.list_models(model_name=...)``, an
  argument huggingface_hub 1.0 removed (needed by transformers 5);
- xxhash < 4: lighteval hashes ``str`` objects, which xxhash 4 refuses.

Offline, three more things stand in for what lighteval fetches: an empty
``tinyBenchmarks.pkl`` (its tiny-benchmarks module downloads it from GitHub when the
registry loads; only those tasks read it), the model's tokenizer config naming the
tokenizer class transformers 4 knows (the embedded checkpoint was written by
transformers 5), and local copies of the IFEval and ARC-Easy rows for lighteval's own
task definitions (custom tasks that change only ``hf_repo``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

LIGHTEVAL = "lighteval==0.13.0"
PINS = ("transformers<5", "huggingface_hub<1", "xxhash<4")

TASKS_FILE = '''"""lighteval's own IFEval and ARC-Easy tasks, rows read from local folders."""
import os
from dataclasses import replace

from lighteval.tasks.tasks.arc import arc_easy
from lighteval.tasks.tasks.ifeval.main import ifeval

DATA = os.environ["EVALSUITE_TEST_DATA"]
TASKS_TABLE = [
    replace(ifeval, name="ifeval_local", hf_repo=f"{DATA}/ifeval", hf_subset="default",
            generation_size=int(os.environ["EVALSUITE_TEST_GEN"])),
    replace(arc_easy, name="arc_easy_local", hf_repo=f"{DATA}/arc_easy", hf_subset="default"),
]
'''


def venv(root: Path) -> Path:
    """The lighteval executable of a venv made under ``root`` (skipped where pip cannot
    reach PyPI, a failure in CI)."""
    env_dir = root / "lighteval-venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
    site = next((env_dir / "lib").glob("python3*/site-packages"))
    # evalsuite's packages seen from the new venv, after its own: its pip installs only
    # what is missing or pinned otherwise
    (site / "_evalsuite_base.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    proc = subprocess.run(
        [str(env_dir / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
         LIGHTEVAL, *PINS], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        msg = f"lighteval cannot be installed: {proc.stderr.strip()[-500:]}"
        if os.environ.get("EVALSUITE_CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    (site / "lighteval" / "tasks" / "tasks" / "tinyBenchmarks.pkl").write_bytes(b"")
    return env_dir / "bin" / "lighteval"


def model_view(model: Path, out: Path) -> Path:
    """The checkpoint's files linked into ``out``, its tokenizer config readable by
    transformers 4 (the weights are the same files)."""
    out.mkdir(parents=True)
    for f in model.iterdir():
        if f.name != "tokenizer_config.json":
            (out / f.name).symlink_to(f)
    cfg = json.loads((model / "tokenizer_config.json").read_text())
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    (out / "tokenizer_config.json").write_text(json.dumps(cfg))
    return out


def offline_data(cache: Path, out: Path) -> Path:
    """IFEval's 541 prompts and ARC-Easy's test questions as lighteval loads them, and
    NLTK's punkt_tab (IFEval's sentence checks) under ``out/nltk_data``."""
    from evalsuite.tasks import benchdata
    from evalsuite.tasks.data import ensure_punkt_tab, ifeval_dataset

    for d in ("ifeval", "arc_easy"):
        (out / d).mkdir(parents=True)
    (out / "nltk_data").symlink_to(ensure_punkt_tab(cache))
    ifeval_dataset(str(cache), None)["train"].to_json(str(out / "ifeval" / "train.jsonl"))
    benchdata.arc("ARC-Easy", str(cache))["test"].to_json(str(out / "arc_easy" / "test.jsonl"))
    return out


def run(exe: Path, cwd: Path, data: Path, gen_size: int, max_samples: int) -> Path:
    """``lighteval accelerate`` on the checkpoint folder ``cwd/SmolLM2-135M-Instruct``
    (named relative to ``cwd``, so lighteval's results/MODEL path and its cache hold no
    absolute path): IFEval answers up to ``gen_size`` tokens, ARC-Easy by log-likelihood,
    greedy, ``--save-details``. Returns the ``--output-dir``."""
    out = cwd / f"out_{gen_size}"
    (cwd / "tasks_offline.py").write_text(TASKS_FILE)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", OMP_NUM_THREADS="2",
               EVALSUITE_TEST_DATA=str(data), EVALSUITE_TEST_GEN=str(gen_size),
               NLTK_DATA=str(data / "nltk_data"),
               HF_HOME=str(cwd / "hf_home"))
    # no max_new_tokens in generation_parameters: lighteval 0.13.0 then truncates every
    # prompt to that many tokens; the task's generation_size sets the answer length
    proc = subprocess.run(
        [str(exe), "accelerate",
         f"model_name=SmolLM2-135M-Instruct,dtype=float32,batch_size=2,"
         f"cache_dir={cwd / 'lighteval_cache'},generation_parameters={{temperature:0.0}}",
         "ifeval_local|0,arc_easy_local|0", "--custom-tasks", "tasks_offline.py",
         "--max-samples", str(max_samples), "--output-dir", str(out), "--save-details"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return out
