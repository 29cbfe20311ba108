"""The paper-style tables of a comparison: main scores, instruction categories,
distribution shift, flips. Each is written as .tex, .md and .csv."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from evalsuite.report import frames
from evalsuite.report.textable import Cell, Column, Table, tex_escape
from evalsuite.storage.atomic import write_text
from evalsuite.tasks.metrics import higher_is_better

SIG, RAW = "*", "\u2020"  # significant after Holm; before correction only
SIG_TEX, RAW_TEX = "*", r"\dagger"


_finite = frames.finite


def _below(p: Any, alpha: float) -> bool:
    """A p-value under alpha (a null one never is)."""
    return _finite(p) and p < alpha


def _pct(x: Any) -> float | None:
    return 100 * x if _finite(x) else None


def scale_of(values: pd.Series) -> float:
    """Accuracies (everything in [0, 1]) are shown in percent, other scores as they are."""
    v = [x for x in values if _finite(x)]
    return 100.0 if v and all(0.0 <= x <= 1.0 for x in v) else 1.0


def fmt(x: Any, digits: int = 1, sign: bool = False) -> str:
    if not _finite(x):
        return "--"
    return format(x, f"{'+' if sign else ''}.{digits}f")


def significance(row: pd.Series | dict[str, Any], alpha: float) -> tuple[str, str]:
    """(text, LaTeX) symbol: * significant after Holm, dagger before correction only."""
    p_holm, p = row.get("p_holm"), row.get("p_value")
    if _finite(p_holm) and p_holm < alpha:
        return SIG, SIG_TEX
    if _finite(p) and p < alpha:
        return RAW, RAW_TEX
    return "", ""


def sig_notes(drift: dict[str, Any]) -> tuple[list[str], list[str]]:
    a = drift["settings"]["alpha"]
    lvl = round(100 * drift["settings"]["level"])
    text = [f"{SIG} p < {a} after Holm correction over the task metrics of that comparison; "
            f"{RAW} p < {a} before correction only. Tests: exact McNemar (pass/fail), "
            f"paired sign-flip permutation (clustered verdicts), Wilcoxon (continuous). "
            f"Intervals: {lvl} % paired bootstrap over samples "
            f"({drift['settings']['n_boot']} resamples, seed {drift['settings']['seed']})."]
    tex = [r"$^{*}$" + tex_escape(text[0][1:]).replace(RAW, r"$^\dagger$")]
    return text, tex


def _value_cell(value: float, scale: float, delta: float | None, sym: tuple[str, str],
                bold: bool, ci: tuple[Any, Any] | None = None, digits: int = 1) -> Cell:
    v = fmt(value * scale if _finite(value) else None, digits)
    if ci is not None:
        lo, hi = (fmt(x * scale if _finite(x) else None, digits, sign=True) for x in ci)
        text = f"{v} [{lo}, {hi}]{sym[0]}"
        sup = f"^{{{sym[1]}}}" if sym[1] else ""
        tex = rf"{_b(v, bold)}$_{{[{lo},\,{hi}]}}{sup}$"
    elif delta is not None:
        d = fmt(delta * scale if _finite(delta) else None, digits, sign=True)
        text = f"{v} ({d}){sym[0]}"
        sup = f"^{{{sym[1]}}}" if sym[1] else ""
        tex = rf"{_b(v, bold)}$_{{{d}}}{sup}$"
    else:
        text, tex = v, _b(v, bold)
    return Cell(text=text, tex=tex, bold=bold, bold_chars=len(v))


def _b(v: str, bold: bool) -> str:
    return rf"\textbf{{{v}}}" if bold else v


def main_table(drift: dict[str, Any], ci: bool = False) -> tuple[Table, pd.DataFrame]:
    """Rows: checkpoints (baseline first); columns: benchmarks, then instruction following."""
    df = frames.scores(drift)
    heads = frames.headline_metrics(drift)
    alpha = drift["settings"]["alpha"]
    cols = [Column(head="Model", align="l")]
    for family, task, metric in heads:
        is_if = family == frames.INSTRUCTION
        cols.append(Column(head=frames.task_name(task),
                           sub=frames.metric_name(metric) if is_if else "",
                           group=family))
    table = Table(name="main_ci" if ci else "main", columns=cols, wide=len(heads) > 6,
                  caption=_main_caption(drift, heads, ci))
    sel = df.set_index(["checkpoint", "task", "metric"])
    best: dict[tuple[str, str], float] = {}
    distinct: set[tuple[str, str]] = set()
    scales: dict[tuple[str, str], float] = {}
    for _, task, metric in heads:
        vals = df[(df.task == task) & (df.metric == metric)]["value"]
        scales[(task, metric)] = scale_of(vals)
        finite = [v for v in vals if _finite(v)]
        if finite:
            best[(task, metric)] = (max if higher_is_better(metric) else min)(finite)
        if len({round(v * scales[(task, metric)], 1) for v in finite}) > 1:
            distinct.add((task, metric))  # all equal: nothing is best, nothing bold
    for label in frames.checkpoints(drift):
        row: list[Cell] = [Cell(text=label)]
        for _, task, metric in heads:
            key = (label, task, metric)
            if key not in sel.index:
                row.append(Cell(text="--"))
                continue
            r = sel.loc[key]
            value = r["value"]
            s = scales[(task, metric)]
            is_best = (_finite(value) and (task, metric) in distinct
                       and round(value * s, 1) == round(best[(task, metric)] * s, 1))
            if r["role"] == "baseline":
                row.append(_value_cell(value, s, None, ("", ""), is_best))
            else:
                sym = significance(r, alpha)
                row.append(_value_cell(value, s, r["delta"], sym, is_best,
                                       ci=(r["ci_low"], r["ci_high"]) if ci else None))
        table.rows.append(row)
    table.midrule_after.add(0)
    text, tex = sig_notes(drift)
    metric_note = "; ".join(f"{frames.task_name(t)}: {m}" for f, t, m in heads
                            if f == frames.BENCHMARKS)
    lead = ("Scores in % where they are accuracies. Candidate subscripts: "
            + ("the change's confidence interval" if ci else "change vs the baseline")
            + "; best value per column in bold.")
    table.notes = [lead, *text] + ([f"Benchmark metrics: {metric_note}."] if metric_note else [])
    table.notes_tex = [tex_escape(lead), *tex] + (
        [tex_escape(f"Benchmark metrics: {metric_note}.")] if metric_note else [])
    csv = df.assign(task_name=df.task.map(frames.task_name))
    return table, csv


def _main_caption(drift: dict[str, Any], heads: list[tuple[str, str, str]], ci: bool) -> str:
    what = "with the confidence interval of each change" if ci else "with the change vs baseline"
    if_names = sorted({frames.task_name(t) for f, t, _ in heads if f == frames.INSTRUCTION})
    legend = ""
    if if_names:
        legend = (f" {', '.join(if_names)}: P/I = prompt/instruction level, "
                  "S/L = strict/loose.")
    return (f"Benchmark and instruction-following scores, baseline "
            f"{drift['baseline']['label']} first, {what}.{legend}")


def category_tables(drift: dict[str, Any]) -> list[tuple[Table, pd.DataFrame]]:
    """Per instruction task: rows are instruction categories, strict and loose pass rates."""
    df = frames.categories(drift)
    if df.empty:
        return []
    alpha = drift["settings"]["alpha"]
    out = []
    labels = frames.checkpoints(drift)
    for task in sorted(df.task.unique()):
        sub = df[df.task == task]
        levels = [lv for lv in ("strict", "loose") if lv in set(sub.level)]
        cols = [Column(head="Category", align="l"), Column(head="n")]
        for lv in levels:
            cols += [Column(head=lab, group=lv.capitalize()) for lab in labels]
        name = "categories" if df.task.nunique() == 1 else f"categories_{task}"
        table = Table(name=name, columns=cols, wide=len(cols) > 7, caption=(
            f"{frames.task_name(task)} instruction-level pass rate (%) by instruction "
            "category; candidates show the change vs the baseline."))
        idx = sub.set_index(["category", "level", "checkpoint"])
        for cat in sorted(sub.category.unique()):
            n = sub[(sub.category == cat) & (sub.role == "baseline")]["n"]
            count = n.iloc[0] if len(n) else None
            row = [Cell(text=cat.replace("_", " ")),
                   Cell(text=str(int(count)) if _finite(count) else "--")]
            for lv in levels:
                vals = [v for v in sub[(sub.category == cat) & (sub.level == lv)]["value"]
                        if _finite(v)]
                # bold the best only where the checkpoints differ
                top = max(vals) if len({round(100 * v, 1) for v in vals}) > 1 else None
                for lab in labels:
                    if (cat, lv, lab) not in idx.index:
                        row.append(Cell(text="--"))
                        continue
                    r = idx.loc[(cat, lv, lab)]
                    is_best = top is not None and round(100 * r["value"], 1) == round(
                        100 * top, 1)
                    if r["role"] == "baseline":
                        row.append(_value_cell(r["value"], 100, None, ("", ""), is_best))
                    else:
                        row.append(_value_cell(r["value"], 100, r["delta"],
                                               significance(r, alpha), is_best))
            table.rows.append(row)
        text, tex = sig_notes(drift)
        table.notes = [text[0].replace("task metrics", "categories (per level)")]
        table.notes_tex = [tex[0].replace("task metrics", "categories (per level)")]
        out.append((table, sub))
    return out


# (key in the distribution dict, label, digits, per-checkpoint?)
_LEXICAL = (("distinct_1", "Distinct-1", 3), ("distinct_2", "Distinct-2", 3),
            ("self_bleu", "Self-BLEU", 1))


def distribution_table(drift: dict[str, Any]) -> tuple[Table, pd.DataFrame] | None:
    """Rows: measures, grouped by generation task; columns: checkpoints side by side."""
    tasks = frames.generation_tasks(drift)
    if not tasks:
        return None
    labels = frames.checkpoints(drift)
    alpha = drift["settings"]["alpha"]
    unit = drift["settings"].get("length_unit", "tokens")
    cols = [Column(head="Measure", align="l")] + [Column(head=lab) for lab in labels]
    table = Table(name="distribution", columns=cols, wide=len(labels) > 3, caption=(
        "How the responses moved: length, template patterns, lexical diversity and "
        "embedding shift per generation task (comparison measures in the candidate "
        "columns)."))
    tidy: list[dict[str, Any]] = []
    comps = drift["comparisons"]

    def add(task: str, measure: str, base: Any, per_cand: dict[str, Any], text: dict[str, str],
            digits: int = 2) -> None:
        row = [Cell(text=measure)]
        row.append(Cell(text=fmt(base, digits) if base is not None else "--"))
        for lab in labels[1:]:
            row.append(Cell(text=text.get(lab, fmt(per_cand.get(lab), digits))))
        table.rows.append(row)
        tidy.append({"task": task, "measure": measure, "checkpoint": labels[0], "value": base})
        tidy.extend({"task": task, "measure": measure, "checkpoint": lab, "value": v}
                    for lab, v in per_cand.items())

    has_cross = False
    for task in tasks:
        per = {lab: comps[lab]["distribution"].get(task) for lab in labels[1:]}
        per = {k: v for k, v in per.items() if v}
        if not per:
            continue
        first = next(iter(per.values()))
        table.rows.append(f"{frames.task_name(task)} (n = {first['n']})")
        ln = {k: v["length"] for k, v in per.items()}
        add(task, f"Mean length ({_unit(unit)})", first["length"]["baseline"]["mean"],
            {k: v["candidate"]["mean"] for k, v in ln.items()},
            {k: f"{fmt(v['candidate']['mean'], 1)} ({fmt(v['delta_mean'], 1, True)})"
             for k, v in ln.items()}, 1)
        add(task, f"Median length ({_unit(unit)})", first["length"]["baseline"]["median"],
            {k: v["candidate"]["median"] for k, v in ln.items()}, {}, 1)
        add(task, "KS statistic", None, {k: v["ks_statistic"] for k, v in ln.items()},
            {k: f"{fmt(v['ks_statistic'], 3)}{'*' if _below(v['ks_p_value'], alpha) else ''}"
             for k, v in ln.items()}, 3)
        add(task, "Wasserstein distance", None, {k: v["wasserstein"] for k, v in ln.items()},
            {}, 1)
        for j, pat in enumerate(first["patterns"]):
            cand = {k: v["patterns"][j] for k, v in per.items()}
            add(task, f"Pattern: {pat['pattern'].replace('_', ' ')} (%)", _pct(pat["baseline"]),
                {k: _pct(p["candidate"]) for k, p in cand.items()},
                {k: f"{fmt(_pct(p['candidate']), 1)} ({fmt(_pct(p['delta']), 1, True)})"
                 f"{RAW if _below(p['p_value'], alpha) else ''}" for k, p in cand.items()}, 1)
        for key, name, digits in _LEXICAL:
            add(task, name, first["lexical"][key]["baseline"],
                {k: v["lexical"][key]["candidate"] for k, v in per.items()}, {}, digits)
        for key, name in (("jsd_1gram", "JSD unigrams"), ("jsd_2gram", "JSD bigrams")):
            add(task, name, None, {k: v["lexical"][key] for k, v in per.items()}, {}, 4)
        emb = {k: v["embeddings"] for k, v in per.items() if v.get("embeddings")}
        if emb:
            shift = {k: frames.embedding_shift(e) for k, e in emb.items()}
            add(task, "Fr\u00e9chet distance (MiniLM)", None,
                {k: f for k, (_, f) in shift.items()}, {}, 4)
            add(task, "Two-sample AUC (0.5 = none)", None,
                {k: a for k, (a, _) in shift.items()}, {}, 3)
        cross = {k: v["cross_likelihood"] for k, v in per.items() if v.get("cross_likelihood")}
        if cross:
            has_cross = True
            first_x = next(iter(cross.values()))
            add(task, "Log-prob/token, own responses", first_x["baseline_responses"][
                "under_baseline"], {k: x["candidate_responses"]["under_candidate"]
                                    for k, x in cross.items()}, {}, 3)
            add(task, "Log-prob/token, under the other", None,
                {k: x["candidate_responses"]["under_baseline"] for k, x in cross.items()},
                {k: f"{fmt(x['candidate_responses']['under_baseline'], 3)} / "
                    f"{fmt(x['baseline_responses']['under_candidate'], 3)}"
                 for k, x in cross.items()}, 3)
            kl = {k: x["kl_candidate_baseline"]["mean_sequence_logratio"]
                  for k, x in cross.items() if x.get("kl_candidate_baseline")}
            if kl:
                add(task, "MC KL(cand || base), nats", None, kl, {}, 3)
    cross_note = ("Log-prob/token under the other: candidate responses under the baseline "
                  "model / baseline responses under the candidate model. MC KL: mean "
                  "log-ratio over the candidate's sampled responses. ") if has_cross else ""
    table.notes = [
        cross_note + f"Lengths in {unit}; in parentheses the change vs the baseline. KS: "
        f"two-sample Kolmogorov-Smirnov ({SIG} p < {alpha}). Pattern rates: share of responses "
        f"matching the pattern's regex ({RAW} exact McNemar p < {alpha}, uncorrected). JSD: "
        "Jensen-Shannon divergence (base 2) of the n-gram distributions. AUC: "
        "cross-validated logistic regression telling candidate from baseline responses on "
        "all-MiniLM-L6-v2 embeddings."]
    table.notes_tex = [tex_escape(table.notes[0]).replace(RAW, r"$^\dagger$")]
    return table, pd.DataFrame(tidy)


def _unit(unit: str) -> str:
    return "tokens" if unit.startswith("tokens") else unit


def flips_table(drift: dict[str, Any]) -> tuple[Table, pd.DataFrame]:
    """Per task (headline metric): samples lost and gained, net, chance-adjusted forgetting."""
    df = frames.scores(drift)
    heads = frames.headline_metrics(drift)
    seen: set[str] = set()
    keep = []
    for _, task, metric in heads:
        if task not in seen:  # the first (headline) metric of each task
            seen.add(task)
            keep.append((task, metric))
    labels = frames.checkpoints(drift)[1:]
    cols = [Column(head="Task", align="l"), Column(head="Metric", align="l")]
    for lab in labels:
        cols += [Column(head=lab, sub=s) for s in ("n", "lost", "gained", "net", "forget")]
    table = Table(name="flips", columns=cols, wide=len(cols) > 7, caption=(
        "Sample flips per task: samples that passed before and failed after (lost), the "
        "reverse (gained), and the chance-adjusted forgetting rate (%) of multiple-choice "
        "tasks."))
    cand = df[df.role == "candidate"].set_index(["checkpoint", "task", "metric"])
    tidy = []
    for task, metric in keep:
        row = [Cell(text=frames.task_name(task)), Cell(text=frames.metric_name(metric))]
        for lab in labels:
            if (lab, task, metric) not in cand.index:
                row += [Cell(text="--")] * 5
                continue
            r = cand.loc[(lab, task, metric)]
            lost, gained = r["flips_lost"], r["flips_gained"]
            ok = _finite(lost) and _finite(gained)
            forget = r["forgetting"]
            row += [Cell(text=str(int(r["n"])) if _finite(r["n"]) else "--"),
                    Cell(text=str(int(lost)) if ok else "--"),
                    Cell(text=str(int(gained)) if ok else "--"),
                    Cell(text=f"{int(gained - lost):+d}" if ok else "--"),
                    Cell(text=fmt(100 * forget, 1) if _finite(forget) else "--")]
            tidy.append({"checkpoint": lab, "task": task, "metric": metric, "n": r["n"],
                         "lost": lost, "gained": gained, "forgetting_chance_adjusted": forget})
        table.rows.append(row)
    table.notes = ["forget: lost rate minus (1 - a_before)(1 - a_after)/(k - 1), the flips a "
                   "k-way guesser makes by chance (arXiv 2510.17776); multiple-choice tasks "
                   "only. Instruction tasks count prompts at the prompt level."]
    return table, pd.DataFrame(tidy)


def all_tables(drift: dict[str, Any]) -> list[tuple[Table, pd.DataFrame]]:
    out = [main_table(drift), main_table(drift, ci=True)]
    out += category_tables(drift)
    dist = distribution_table(drift)
    if dist is not None:
        out.append(dist)
    out.append(flips_table(drift))
    from evalsuite.report import remedy

    out += remedy.tables(drift)
    return out


def write_tables(drift: dict[str, Any], out_dir: Path) -> list[Table]:
    """Every table as TABLE.tex, TABLE.md and TABLE.csv under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = []
    for table, frame in all_tables(drift):
        write_text(out_dir / f"{table.name}.tex", table.to_latex())
        write_text(out_dir / f"{table.name}.md", table.to_markdown())
        write_text(out_dir / f"{table.name}.csv", frame.to_csv(index=False))
        tables.append(table)
    return tables
