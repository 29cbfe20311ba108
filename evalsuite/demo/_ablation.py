"""The remedy's ablation: ``python -m evalsuite.demo -m ablation=forget,replay,...`` runs
one demo per term set (each reusing the synthetic checkpoint and the finished
evaluations), and at the end of the sweep this writes one table, a row per term set,
from the jobs' drift.json files: what each term contributes.

The table is written by a Hydra callback (conf/demo.yaml ``hydra.callbacks``) that
collects each job's record as it ends; a job that failed leaves its row out and the
table says so.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from evalsuite.report.textable import Cell, Column, Table, tex_escape
from evalsuite.storage.atomic import write_text

log = logging.getLogger("evalsuite.demo")
TERMS = ("forget", "replay", "kl")
REMEDY = "synthetic_qa+unlearn"


def _pct(x: Any, digits: int = 0) -> str:
    return format(100 * x, f".{digits}f") if isinstance(x, int | float) else "--"


def _share(row: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    if row is None or not isinstance(row.get("share"), int | float):
        return "--", {}
    lo, hi = row.get("share_ci") or (None, None)
    if not row.get("estimable"):
        return "(no change shown)", {"share": row["share"]}
    text = f"{100 * row['share']:.0f} %"
    if isinstance(lo, int | float) and isinstance(hi, int | float):
        text += f" [{100 * lo:.0f}, {100 * hi:.0f}]"
    return text, {"share": row["share"], "share_low": lo, "share_high": hi}


def row_of(name: str, drift: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """One term set's numbers, from its drift.json and controls.json record."""
    rec = drift["remedies"][REMEDY]
    weights = (record.get("demo") or {}).get("unlearn") or {}
    metrics = {(m["task"], m["metric"]): m for m in rec["metrics"]}
    inst = next((m for (t, k), m in metrics.items() if k == "inst_level_strict_acc"), None)
    prompt = next((m for (t, k), m in metrics.items() if k == "prompt_level_strict_acc"), None)
    pattern = next((p for p in rec["patterns"] if p["pattern"] == "writes_new_question"), None)
    auc = next(iter(rec.get("auc") or []), None)
    avg = rec.get("benchmark_average") or {}
    return {"ablation": name,
            **{t: float(weights.get(f"{t}_weight", 0.0)) for t in TERMS},
            "inst": inst, "prompt": prompt, "pattern": pattern, "average": avg, "auc": auc,
            "outcome": (record.get("remedy") or {}).get("outcome")}


def table(rows: list[dict[str, Any]], missing: list[str],
          level: int = 95) -> tuple[Table, pd.DataFrame]:
    cols = [Column(head="Terms", align="l"), Column(head="IFEval I-S", sub="recovered"),
            Column(head="IFEval P-S", sub="recovered"), Column(head="new Question:", sub="%"),
            Column(head="Benchmarks", sub="average"), Column(head="Benchmarks", sub="gain kept"),
            Column(head="AUC vs base"), Column(head="Control", align="l")]
    t = Table(name="ablation", columns=cols, caption=(
        "The remedy's terms, one unlearning run each from the same synthetic-Q-A checkpoint: "
        "the share of the instruction-level and prompt-level strict IFEval loss recovered "
        f"({level} % paired bootstrap interval), answers that write a new Question:, the benchmark "
        "average and the share of its gain kept, the embedding AUC against the base model, "
        "and the remedy control's verdict."))
    frame = []
    for r in rows:
        terms = " + ".join(x for x in TERMS if r[x] > 0) or "none"
        inst, inst_d = _share(r["inst"])
        prompt, prompt_d = _share(r["prompt"])
        kept, kept_d = _share(r["average"] if r["average"].get("kind") == "gained" else None)
        pat = r["pattern"] or {}
        auc = (r["auc"] or {}).get("remedy")
        t.rows.append([Cell(text=terms), Cell(text=inst), Cell(text=prompt),
                       Cell(text=_pct(pat.get("remedy"), 1)),
                       Cell(text=_pct(r["average"].get("remedy"), 1)), Cell(text=kept),
                       Cell(text=f"{auc:.3f}" if isinstance(auc, int | float) else "--"),
                       Cell(text=str(r["outcome"] or "--"))])
        frame.append({"ablation": r["ablation"], **{f"{x}_weight": r[x] for x in TERMS},
                      **{f"inst_strict_{k}": v for k, v in inst_d.items()},
                      **{f"prompt_strict_{k}": v for k, v in prompt_d.items()},
                      "new_question_rate": pat.get("remedy"),
                      "benchmark_average": r["average"].get("remedy"),
                      **{f"benchmark_gain_kept_{k}": v for k, v in kept_d.items()},
                      "auc_vs_base": auc, "control": r["outcome"]})
    if rows:
        first = rows[0]
        pat = first["pattern"] or {}
        t.notes.append(
            f"Before the remedy (synthetic_qa): new Question: in {_pct(pat.get('treated'), 1)} "
            f"% of answers ({_pct(pat.get('baseline'), 1)} % for the base model); benchmark "
            f"average {_pct(first['average'].get('treated'), 1)} (base "
            f"{_pct(first['average'].get('baseline'), 1)}); AUC against the base model "
            f"{_auc((first['auc'] or {}).get('treated'))}.")
    if missing:
        t.notes.append(f"Not in the table (the job did not finish): {', '.join(missing)}.")
    t.notes_tex = [tex_escape(n) for n in t.notes]
    return t, pd.DataFrame(frame)


def _auc(x: Any) -> str:
    return f"{x:.3f}" if isinstance(x, int | float) else "--"


def write(records: list[dict[str, Any]], expected: list[str]) -> Path | None:
    """ablation.md/.tex/.csv beside the jobs' report folders; None without any job."""
    from evalsuite.report import load_drift

    rows, where, level = [], None, 95
    for rec in records:
        out = Path(rec["out"])
        where = out.parent
        drift = load_drift(out)
        level = round(100 * drift["settings"]["level"])
        rows.append(row_of(rec["demo"]["ablation"], drift, rec))
    if where is None:
        return None
    done = {r["ablation"] for r in rows}
    tab, frame = table(rows, [n for n in expected if n not in done], level)
    write_text(where / "ablation.md", tab.to_markdown() + "\n")
    write_text(where / "ablation.tex", tab.to_latex())
    write_text(where / "ablation.csv", frame.to_csv(index=False))
    return where / "ablation.md"


class AblationTable(Callback):
    """Collects each sweep job's demo record; writes the table when the sweep ends."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.expected: list[str] = []
        self.failed = 0

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        name = config.get("ablation")
        if name is not None:
            self.expected.append(str(name))
        try:
            value = job_return.return_value  # raises the job's exception if it failed
        except BaseException:  # noqa: BLE001 - the job already reported it
            self.failed += 1
            return
        if isinstance(value, dict) and (value.get("demo") or {}).get("ablation"):
            self.records.append(value)
        else:  # a job's one-line refusal (evalsuite.cli.demo)
            self.failed += 1

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if not self.expected:
            return
        path = write(self.records, self.expected)
        if path is None:
            print("\nablation: no job finished, no table written")
        else:
            print(f"\nablation: {path} (what each term of the remedy contributes; .tex and "
                  ".csv beside it)")
            print(path.read_text(encoding="utf-8"))
        if self.failed:
            print(f"evalsuite: {self.failed} of {len(self.expected)} ablation jobs did not "
                  "finish (their lines above); the others' reports and the table are kept",
                  file=sys.stderr, flush=True)
            raise SystemExit(1)
