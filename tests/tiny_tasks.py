"""A tiny multiple-choice task and a rolling-loglikelihood task, written on the fly, so
loglikelihood paths can be tested offline (the benchmark data lands with the suites)."""

from __future__ import annotations

import json
from pathlib import Path

QUESTIONS = [
    ("The capital of France is", [" Paris", " London", " Berlin", " Madrid"], 0),
    ("Water freezes at zero degrees", [" Fahrenheit", " Celsius", " Kelvin"], 1),
    ("The largest planet in the solar system is", [" Mars", " Venus", " Jupiter"], 2),
    ("A week has seven", [" days", " hours", " months"], 0),
    ("The opposite of hot is", [" warm", " cold", " red"], 1),
    ("Two plus two equals", [" three", " five", " four"], 2),
]
TEXTS = [
    "The quick brown fox jumps over the lazy dog. It was a sunny afternoon in the park.",
    "Synthetic data can lift benchmark scores while instruction following gets worse.",
]


def write_tiny_tasks(root: Path) -> Path:
    """Create ``root/tiny_mc`` and ``root/tiny_rolling`` task dirs; return ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    mc = root / "mc.jsonl"
    mc.write_text("".join(json.dumps({"question": q, "choices": c, "label": a}) + "\n"
                          for q, c, a in QUESTIONS))
    roll = root / "rolling.jsonl"
    roll.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS))
    (root / "tiny_mc.yaml").write_text(f"""task: tiny_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {mc}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{question}}}}"
doc_to_choice: choices
doc_to_target: label
metric_list:
  - metric: acc
  - metric: acc_norm
metadata:
  version: 1.0
""")
    (root / "tiny_rolling.yaml").write_text(f"""task: tiny_rolling
dataset_path: json
dataset_kwargs:
  data_files:
    test: {roll}
test_split: test
output_type: loglikelihood_rolling
doc_to_text: ""
doc_to_target: text
metric_list:
  - metric: word_perplexity
  - metric: byte_perplexity
  - metric: bits_per_byte
metadata:
  version: 1.0
""")
    return root
