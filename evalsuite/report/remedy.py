"""The report's remedy section (drift.json's ``remedies``): a table of what each remedy
gave back, a figure of the three checkpoints on the measures that moved, and a paragraph.

Everything is read from drift.json; nothing is recomputed here.
"""

from __future__ import annotations

import textwrap
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from evalsuite.report import frames, style
from evalsuite.report.textable import Cell, Column, Table, tex_escape

SHARE_NAMES = {"lost": "recovered", "gained": "kept"}


def _finite(x: Any) -> bool:
    return frames.finite(x)


def _pts(x: Any, sign: bool = True) -> str:
    return format(100 * x, "+.1f" if sign else ".1f") if _finite(x) else "--"


def _iv(iv: Any, sign: bool = True) -> str:
    if not isinstance(iv, list | tuple) or len(iv) != 2 or not all(_finite(v) for v in iv):
        return ""
    return f" [{_pts(iv[0], sign)}, {_pts(iv[1], sign)}]"


def _share(row: dict[str, Any]) -> str:
    if row.get("kind") not in SHARE_NAMES or not _finite(row.get("share")):
        return "--"
    if not row.get("estimable"):
        # a share of a change whose interval holds 0 is noise over noise (200 % of +1.0)
        return "(no change shown)"
    text = f"{SHARE_NAMES[row['kind']]} {100 * row['share']:.0f} %"
    lo, hi = row["share_ci"]
    if _finite(lo) and _finite(hi):
        text += f" [{100 * lo:.0f}, {100 * hi:.0f}]"
    return text


def _label(row: dict[str, Any]) -> str:
    if row.get("task") is None:
        return "Benchmark average"
    name = frames.task_name(row["task"])
    return f"{name} {frames.metric_name(row['metric'])}" if row.get("family") == \
        "instruction_following" else f"{name} ({frames.metric_name(row['metric'])})"


def _long(row: dict[str, Any]) -> str:
    return f"{frames.task_name(row['task'])} {frames.metric_long(row['metric'])}"


def _moved(row: dict[str, Any]) -> bool:
    """A change of the treated checkpoint whose interval excludes 0."""
    return bool(row.get("estimable"))


def remedy_table(drift: dict[str, Any], remedy: str) -> tuple[Table, pd.DataFrame]:
    rec = drift["remedies"][remedy]
    base, treated = drift["baseline"]["label"], rec["treated"]
    level = round(100 * drift["settings"]["level"])
    cols = [Column(head="Measure", align="l"), Column(head=base), Column(head=treated),
            Column(head=remedy), Column(head=f"{treated} - {base}"),
            Column(head=f"{remedy} - {treated}"), Column(head="share", align="l")]
    table = Table(
        name=f"remedy_{_slug(remedy)}", columns=cols,
        caption=(f"What {remedy} gave back of {treated}'s change against {base}: scores in "
                 f"%, changes in points with {level} % paired bootstrap intervals; share: "
                 f"of each loss recovered, of each gain kept."))
    metrics = [r for r in rec.get("metrics", []) if r.get("headline")]
    bench = [r for r in metrics if r.get("family") == "benchmark"]
    instr = [r for r in metrics if r.get("family") != "benchmark"]
    avg = rec.get("benchmark_average")
    frame_rows: list[dict[str, Any]] = []

    paired = (rec.get("comparison") or {}).get("tasks") or {}

    def star(row: dict[str, Any]) -> str:
        """* where the paired test treated -> remedy is significant after Holm."""
        m = ((paired.get(row.get("task") or "") or {}).get("metrics") or {}).get(row["metric"])
        return "*" if (m or {}).get("significant") else ""

    def add(row: dict[str, Any]) -> None:
        table.rows.append([
            Cell(text=_label(row)), Cell(text=_pts(row.get("baseline"), False)),
            Cell(text=_pts(row.get("treated"), False)), Cell(text=_pts(row.get("remedy"), False)),
            Cell(text=_pts(row.get("treated_change")) + _iv(row.get("treated_change_ci"))),
            Cell(text=_pts(row.get("remedy_change")) + _iv(row.get("remedy_change_ci"))
                 + star(row)),
            Cell(text=_share(row))])
        frame_rows.append({"section": "metric", "measure": _label(row), **{
            k: v for k, v in row.items() if not isinstance(v, list | dict)},
            **{f"{k}_low": row[k][0] for k in ("share_ci", "treated_change_ci",
                                               "remedy_change_ci") if row.get(k)},
            **{f"{k}_high": row[k][1] for k in ("share_ci", "treated_change_ci",
                                                "remedy_change_ci") if row.get(k)}})

    if bench:
        table.rows.append("Benchmarks")
        for r in bench:
            add(r)
        if avg is not None and len(bench) > 1:
            add(avg)
    if instr:
        table.rows.append("Instruction following")
        for r in instr:
            add(r)
    pats = [p for p in rec.get("patterns", [])
            if any(_finite(p.get(k)) and p[k] > 0 for k in ("baseline", "treated", "remedy"))]
    if pats:
        table.rows.append("Answers matching a template pattern (%)")
        for p in pats:
            mark = "*" if p.get("significant") else ""
            table.rows.append([
                Cell(text=f"{frames.task_name(p['task'])} {p['pattern']}"),
                Cell(text=_pts(p.get("baseline"), False)), Cell(text=_pts(p.get("treated"), False)),
                Cell(text=_pts(p.get("remedy"), False)),
                Cell(text=_pts(_diff(p, "treated", "baseline"))),
                Cell(text=_pts(_diff(p, "remedy", "treated")) + mark),
                Cell(text=f"p_holm {p['p_holm']:.2g}" if _finite(p.get("p_holm")) else "--")])
            frame_rows.append({"section": "pattern", "measure": p["pattern"], **{
                k: v for k, v in p.items() if not isinstance(v, dict)}})
    aucs = rec.get("auc", [])
    if aucs:
        table.rows.append(f"Answers told apart from {base}'s (two-sample AUC)")
        for a in aucs:
            table.rows.append([
                Cell(text=frames.task_name(a["task"])), Cell(text="0.5"),
                Cell(text=_auc(a.get("treated"))), Cell(text=_auc(a.get("remedy"))),
                Cell(text=""), Cell(text=""),
                Cell(text=f"{remedy} vs {treated}: {_auc(a.get('remedy_vs_treated'))}")])
            frame_rows.append({"section": "auc", "measure": a["task"], **a})
    table.notes = [f"* significant change from {treated} to {remedy}: the paired test of "
                   "their own comparison (the samples the two share), after Holm's "
                   "correction over its task metrics (exact McNemar for pass/fail); for "
                   "patterns Holm over the task's patterns. "
                   "A share is given with an interval only where the change it divides by "
                   "has an interval without 0; "
                   f"{level} % percentile intervals over {drift['settings']['n_boot']} paired "
                   "resamples of the samples all three runs share."]
    table.notes_tex = [tex_escape(n) for n in table.notes]
    return table, pd.DataFrame(frame_rows)


def _diff(p: dict[str, Any], a: str, b: str) -> float | None:
    return p[a] - p[b] if _finite(p.get(a)) and _finite(p.get(b)) else None


def _auc(x: Any) -> str:
    return f"{x:.3f}" if _finite(x) else "--"


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_") or "remedy"


def tables(drift: dict[str, Any]) -> list[tuple[Table, pd.DataFrame]]:
    return [remedy_table(drift, r) for r in drift.get("remedies") or {}]


def figure(drift: dict[str, Any]) -> Figure | None:
    """Per remedy, the three checkpoints on every headline metric its treated checkpoint
    moved (interval without 0) and every template pattern that changed significantly,
    with each value's interval."""
    remedies = drift.get("remedies") or {}
    if not remedies:
        return None
    remedy, rec = next(iter(remedies.items()))
    items: list[tuple[str, list[float | None], list[Any]]] = []
    metrics = sorted((r for r in rec.get("metrics", []) if r.get("headline") and _moved(r)),
                     key=lambda r: r.get("family") != "benchmark")  # benchmarks first
    for r in metrics:
        items.append((_label(r).replace(" (", "\n("),
                      [r.get(k) for k in ("baseline", "treated", "remedy")],
                      [r.get(f"{k}_ci") for k in ("baseline", "treated", "remedy")]))
    # the template patterns the treatment taught (rose by more than 2 points); they
    # overlap (one answer often matches several): the two most common
    pats = [p for p in rec.get("patterns", [])
            if (p.get("treated") or 0) - (p.get("baseline") or 0) > 0.02]
    for p in sorted(pats, key=lambda p: -(p.get("treated") or 0))[:2]:
        name = f"{frames.task_name(p['task'])}: {p['pattern'].replace('_', ' ')} (%)"
        items.append((textwrap.fill(name, 16),
                      [p.get(k) for k in ("baseline", "treated", "remedy")], [None] * 3))
    if not items:
        return None
    names = [drift["baseline"]["label"], rec["treated"], remedy]
    cols = style.colors(3)
    width = 0.8 / 3
    with style.figure(style.FULL, 2.6) as fig:
        ax = fig.subplots()
        for j, name in enumerate(names):
            xs, ys, lo, hi = [], [], [], []
            for i, (_, vals, ivs) in enumerate(items):
                v = vals[j]
                if not _finite(v):
                    continue
                xs.append(i + (j - 1) * width)
                ys.append(100 * v)
                iv = ivs[j]
                ok = isinstance(iv, list | tuple) and len(iv) == 2 and all(_finite(x) for x in iv)
                lo.append(max(0.0, 100 * (v - iv[0])) if ok else 0.0)
                hi.append(max(0.0, 100 * (iv[1] - v)) if ok else 0.0)
            ax.bar(xs, ys, width * 0.95, color=cols[j], label=name, zorder=2)
            bars = [(x, y, a, b) for x, y, a, b in zip(xs, ys, lo, hi, strict=True) if a or b]
            if bars:  # patterns have no interval of their own
                bx, by, bl, bh = zip(*bars, strict=True)
                ax.errorbar(bx, by, yerr=[bl, bh], fmt="none", elinewidth=0.6,
                            ecolor="#222222", capsize=2, zorder=3)
        ax.set_xticks(range(len(items)))
        ax.set_xticklabels([label for label, _, _ in items], fontsize=7)
        ax.set_ylabel("%")
        ax.set_xlim(-0.6, len(items) - 0.4)
        ax.grid(axis="x", visible=False)
        fig.legend(*ax.get_legend_handles_labels(), loc="outside upper center", ncol=3)
        return fig


CAPTION = ("The three checkpoints on what the treatment moved: headline metrics whose "
           "change has an interval without 0, with each score's {level} % bootstrap "
           "interval, and the template patterns it taught (share of answers).")


def summary(drift: dict[str, Any]) -> list[str]:
    """One paragraph per remedy: what came back, what was kept, what it cost."""
    out = []
    level = round(100 * drift["settings"]["level"])
    base = drift["baseline"]["label"]
    for remedy, rec in (drift.get("remedies") or {}).items():
        treated = rec["treated"]
        text = [f"**{remedy}** against **{treated}**, the checkpoint it started from: "]
        lost = [r for r in rec.get("metrics", []) if r.get("headline") and r["kind"] == "lost"
                and r.get("estimable")]
        if lost:
            text.append("of the losses " + treated + " showed against " + base + ", it "
                        + "; ".join(f"recovered {100 * r['share']:.0f} % of {_long(r)} "
                                    f"({level} % CI {_ci_pct(r['share_ci'])}; "
                                    f"{_pts(r['treated'], False)} \u2192 "
                                    f"{_pts(r['remedy'], False)})" for r in lost) + ". ")
        else:
            text.append(f"{treated} lost no headline metric with an interval without 0. ")
        avg = rec.get("benchmark_average")
        if avg is not None and _finite(avg.get("remedy")):
            where = "inside" if avg.get("remedy_within_treated_ci") else "outside"
            text.append(f"The benchmark average went {_pts(avg['treated'], False)} \u2192 "
                        f"{_pts(avg['remedy'], False)} ({_pts(avg['remedy_change'])} points"
                        f"{_iv(avg.get('remedy_change_ci'))}), {where} {treated}'s "
                        f"{level} % interval {_iv(avg.get('treated_ci'), False).strip()}")
            if avg.get("kind") == "gained" and avg.get("estimable"):
                text.append(f"; it kept {100 * avg['share']:.0f} % of the gain "
                            f"({_ci_pct(avg['share_ci'])})")
            text.append(". ")
        down = [p for p in rec.get("patterns", []) if p.get("significant")
                and _finite(p.get("remedy")) and p["remedy"] < p["treated"]]
        up = [p for p in rec.get("patterns", []) if p.get("significant")
              and _finite(p.get("remedy")) and p["remedy"] > p["treated"]]
        for what, rows in (("fell", down), ("rose", up)):
            if rows:
                text.append(f"Template patterns that {what} significantly: " + ", ".join(
                    f"{frames.task_name(p['task'])} {p['pattern']} "
                    f"{_pts(p['treated'], False)} % \u2192 "
                    f"{_pts(p['remedy'], False)} % (Holm p {p['p_holm']:.2g})"
                    for p in rows) + ". ")
        for a in rec.get("auc", []):
            if _finite(a.get("treated")) and _finite(a.get("remedy")):
                text.append(f"{frames.task_name(a['task'])} answers told apart from {base}'s: "
                            f"AUC {a['treated']:.3f} ({treated}) \u2192 {a['remedy']:.3f} "
                            f"({remedy}). ")
        out.append("".join(text).strip())
    return out


def _ci_pct(iv: Any) -> str:
    if not isinstance(iv, list | tuple) or not all(_finite(v) for v in iv):
        return "no interval"
    return f"[{100 * iv[0]:.0f}, {100 * iv[1]:.0f}] %"
