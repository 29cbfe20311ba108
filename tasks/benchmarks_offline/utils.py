"""Data loaders (evalsuite.tasks.benchdata) and lm-eval's own helper functions for the
offline copies of stock benchmark tasks.

Helpers are re-exported, never rewritten: the prompts and scores must equal stock
lm-eval's, and tests/test_benchmarks.py checks that every offline YAML differs from its
stock original only in where the data comes from.
"""

from typing import Any

from lm_eval.tasks.hellaswag.utils import process_docs
from lm_eval.tasks.winogrande.preprocess_winogrande import (
    doc_to_choice,
    doc_to_target,
    doc_to_text,
)

from evalsuite.tasks import benchdata

__all__ = [
    "doc_to_choice",
    "doc_to_target",
    "doc_to_text",
    "load_arc_challenge",
    "load_arc_easy",
    "load_boolq",
    "load_gsm8k",
    "load_hellaswag",
    "load_piqa",
    "load_winogrande",
    "process_docs",
]

# lm-eval calls a custom_dataset with the task metadata; evalsuite's TaskManager puts
# the cache directory there as `evalsuite_cache` (None under plain lm-eval: the default
# cache).


def load_arc_challenge(**kw: Any):
    return benchdata.arc("ARC-Challenge", kw.get("evalsuite_cache"))


def load_arc_easy(**kw: Any):
    return benchdata.arc("ARC-Easy", kw.get("evalsuite_cache"))


def load_boolq(**kw: Any):
    return benchdata.boolq(kw.get("evalsuite_cache"))


def load_gsm8k(**kw: Any):
    return benchdata.gsm8k(kw.get("evalsuite_cache"))


def load_hellaswag(**kw: Any):
    return benchdata.hf_saved("hellaswag/none", kw.get("evalsuite_cache"))


def load_piqa(**kw: Any):
    return benchdata.hf_saved("piqa/plain_text", kw.get("evalsuite_cache"))


def load_winogrande(**kw: Any):
    return benchdata.hf_saved("winogrande/winogrande_xl", kw.get("evalsuite_cache"))
