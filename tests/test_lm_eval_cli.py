"""Our task YAMLs also work under plain lm-eval (`--include_path tasks`), offline."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.conftest import REPO


def test_ifeval_offline_under_plain_lm_eval(tmp_path: Path, smollm2_dir: Path):
    env = {k: v for k, v in os.environ.items() if k != "NLTK_DATA"}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", OMP_NUM_THREADS="2")
    proc = subprocess.run(
        ["lm-eval", "run", "--model", "hf", "--model_args",
         f"pretrained={smollm2_dir},dtype=float32", "--tasks", "ifeval_offline",
         "--include_path", str(REPO / "tasks"), "--batch_size", "2", "--limit", "2",
         "--device", "cpu", "--gen_kwargs", "max_gen_toks=16", "--apply_chat_template",
         "--output_path", str(tmp_path / "out")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (results,) = (tmp_path / "out").rglob("results_*.json")
    res = json.loads(results.read_text())["results"]["ifeval_offline"]
    assert "prompt_level_strict_acc,none" in res
