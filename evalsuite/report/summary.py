"""The report's opening paragraphs, written from the numbers in drift.json."""

from __future__ import annotations

from typing import Any

from evalsuite.report import frames
from evalsuite.report.tables import _finite, scale_of


def _pts(x: float, scale: float = 100) -> str:
    return f"{x * scale:+.1f}"


def _change(delta: float, scale: float) -> str:
    """'+1.6 points' for accuracies, '-1.5' for a score on its own scale."""
    return _pts(delta, scale) + (" points" if scale == 100 else "")


def _metric(task: str, metric: str) -> str:
    return f"{frames.task_name(task)} {frames.metric_long(metric)}"


def _f(x: Any, spec: str) -> str:
    """A number as ``spec``, or n/a where drift.json holds none."""
    return format(x, spec) if _finite(x) else "n/a"


def summarize(drift: dict[str, Any]) -> list[str]:
    """One paragraph per candidate, plus the warnings (Markdown)."""
    alpha = drift["settings"]["alpha"]
    level = round(100 * drift["settings"]["level"])
    base = drift["baseline"]["label"]
    df = frames.scores(drift)
    cats = frames.categories(drift)
    heads = {(t, m) for _, t, m in frames.headline_metrics(drift)}
    scales = {(t, m): scale_of(g["value"]) for (t, m), g in df.groupby(["task", "metric"])}
    paras: list[str] = []
    for label, comp in drift["comparisons"].items():
        rows = df[(df.checkpoint == label) & (df.role == "candidate")]
        n_metrics = len(rows)
        sig = rows[rows.significant.fillna(False).astype(bool)]
        text = [f"**{label}** against the baseline **{base}**: "]
        if sig.empty:
            ok = rows[rows.p_holm.notna()]
            smallest = ok.loc[ok.p_holm.idxmin()] if not ok.empty else None
            text.append(f"none of the {n_metrics} task metrics changed significantly "
                        f"(Holm-adjusted p < {alpha})")
            if smallest is not None and _finite(smallest.p_value):
                sc = scales[(smallest.task, smallest.metric)]
                text.append(f"; the strongest signal was {_metric(smallest.task, smallest.metric)}"
                            f" ({_change(smallest.delta, sc)}, {level} % CI "
                            f"[{_pts(smallest.ci_low, sc)}, {_pts(smallest.ci_high, sc)}], p = "
                            f"{smallest.p_value:.3g}, {smallest.p_holm:.3g} after Holm)")
            text.append(". ")
        else:
            parts = []
            for _, r in sig.sort_values("delta").iterrows():
                sc = scales[(r.task, r.metric)]
                parts.append(f"{_metric(r.task, r.metric)} {sc * (r.value - r.delta):.1f}"
                             f" \u2192 {sc * r.value:.1f} ({_change(r.delta, sc)}, "
                             f"{level} % CI [{_pts(r.ci_low, sc)}, {_pts(r.ci_high, sc)}], "
                             f"Holm p = {r.p_holm:.2g})")
            text.append(f"{len(sig)} of {n_metrics} task metrics changed significantly after "
                        f"Holm correction: " + "; ".join(parts) + ". ")
        # averages only over headline metrics shown in percent (accuracies)
        # .loc: an empty mask (no task metric, e.g. only unscored or unjudged answers)
        # must select no rows, not no columns
        fam = rows.loc[[(t, m) in heads and scales[(t, m)] == 100
                        for t, m in zip(rows.task, rows.metric, strict=True)]]
        text.append(_power(fam, scales))
        means = fam.groupby("family")["delta"].mean()
        if len(means) == 2:
            text.append(f"On average the benchmarks moved {_pts(means[frames.BENCHMARKS])} "
                        f"points and instruction following "
                        f"{_pts(means[frames.INSTRUCTION])} points. ")
        c = cats[(cats.checkpoint == label) & (cats.level == "strict")]
        if not c.empty:
            worst = c.sort_values("delta").head(3)
            worst = worst[worst.delta < 0]
            if not worst.empty:
                text.append("Instruction categories that lost most (strict): " + ", ".join(
                    f"{r.category.replace('_', ' ')} {_pts(r.delta)}"
                    + (" (significant)" if _finite(r.p_holm) and r.p_holm < alpha else "")
                    for _, r in worst.iterrows()) + ". ")
            else:
                text.append("No instruction category lost pass rate. ")
        text.append(_outputs(drift, comp, alpha))
        paras.append("".join(text).strip())
    from evalsuite.report import remedy

    paras.extend(remedy.summary(drift))
    warnings = [w for comp in drift["comparisons"].values() for w in comp.get("warnings", ())]
    if warnings:
        paras.append("**Warnings.** " + " ".join(f"{w}." if not w.endswith(".") else w
                                                 for w in dict.fromkeys(warnings)))
    if drift.get("gate"):
        paras.append(_gate(drift["gate"]))
    return paras


def _gate(gate: dict[str, Any]) -> str:
    checks, failed = gate["checks"], [c for c in gate["checks"] if not c["passed"]]
    if not failed:
        return (f"**Gate passed.** None of the {len(checks)} gated metrics dropped "
                "significantly past its tolerance.")
    return (f"**Gate failed.** {len(failed)} of {len(checks)} gated metrics dropped "
            "significantly past their tolerance: " + "; ".join(
                f"{c['comparison']} {_metric(c['task'], c['metric'])} dropped "
                f"{_f(c['drop'], '.3f')} (tolerated {c['tolerance']:g}, `{c['rule']}`)"
                for c in failed) + ".")


def _power(rows: Any, scales: dict[tuple[str, str], float]) -> str:
    """What the headline metrics that did not change could have shown: a change below
    the minimum detectable effect is not evidence of no change."""
    quiet = rows[~rows.significant.fillna(False).astype(bool)]
    parts = [f"{_metric(r.task, r.metric)} \u00b1{r.mde * scales[(r.task, r.metric)]:.1f}"
             for _, r in quiet.iterrows() if _finite(r.mde)]
    if not parts:
        return ""
    return ("At these sample sizes the changes detectable with 80 % power were "
            + ", ".join(parts) + " points (minimum detectable effect, after Holm): a smaller "
            "change may be there unseen. ")


def _outputs(drift: dict[str, Any], comp: dict[str, Any], alpha: float) -> str:
    tasks = [t for t in frames.generation_tasks(drift) if t in comp.get("distribution", {})]
    if not tasks:
        return ""
    task = tasks[0]
    d = comp["distribution"][task]
    ln = d["length"]
    unit = drift["settings"].get("length_unit", "tokens")
    unit = "tokens" if unit.startswith("tokens") else unit
    change = ln["delta_mean"] if _finite(ln["delta_mean"]) else 0
    out = [f"On {frames.task_name(task)} the responses "
           + ("got longer" if change > 0 else "got shorter" if change < 0
              else "kept their length")
           + f" (mean {_f(ln['baseline']['mean'], '.0f')} \u2192 "
           f"{_f(ln['candidate']['mean'], '.0f')} {unit}, "
           f"KS D = {_f(ln['ks_statistic'], '.2f')}, p = {_f(ln['ks_p_value'], '.2g')})"]
    moved = [p for p in d["patterns"] if _finite(p["p_value"]) and p["p_value"] < alpha]
    if moved:
        out.append("template patterns moved: " + ", ".join(
            f"{p['pattern']} {100 * p['baseline']:.1f} % \u2192 {100 * p['candidate']:.1f} % "
            f"(p = {p['p_value']:.2g})" for p in moved))
    else:
        top = max(d["patterns"], key=lambda p: p["candidate"], default=None)
        if top is not None:
            out.append(f"no template pattern changed significantly (most frequent: "
                       f"{top['pattern']} at {100 * top['candidate']:.1f} %)")
    lex = d["lexical"]
    out.append(f"distinct-2 {lex['distinct_2']['baseline']:.3f} \u2192 "
               f"{lex['distinct_2']['candidate']:.3f}")
    auc, _ = frames.embedding_shift(d.get("embeddings"))
    if auc is not None:  # None: too few answers for the classifier
        verdict = ("clearly separable" if auc >= 0.7 else "weakly separable" if auc >= 0.6
                   else "hard to tell apart")
        out.append(f"the two response sets are {verdict} by their embeddings "
                   f"(two-sample AUC {auc:.2f}, 0.5 = no shift)")
    more = []
    for t in (d["lexical"].get("shifted_ngrams") or {}).values():
        more += [(r["z"], r["ngram"]) for r in t.get("more_frequent", ()) if r["z"] > 1.96]
    if more:
        out.append("most over-represented n-grams: " + ", ".join(
            f"\u201c{g}\u201d" for _, g in sorted(more, reverse=True)[:5]))
    return "; ".join(out) + "."
