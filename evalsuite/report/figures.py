"""The report's figures, each a function of drift.json that returns a Figure (or None
when drift.json lacks what it needs, e.g. no embeddings were computed)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from evalsuite.report import frames, remedy, style
from evalsuite.report.sweep_figure import sweep_figure
from evalsuite.report.tables import _finite, scale_of

MAX_PANELS = 3


def scores_figure(drift: dict[str, Any]) -> Figure | None:
    """Grouped bars: each checkpoint's headline scores with CI error bars, benchmarks
    and instruction following side by side ("benchmarks up, instruction following down")."""
    df = frames.scores(drift)
    heads = frames.headline_metrics(drift)
    if not heads:
        return None
    families = [f for f in (frames.BENCHMARKS, frames.INSTRUCTION) if any(
        h[0] == f for h in heads)]
    labels = frames.checkpoints(drift)
    cols = style.colors(len(labels))
    counts = [sum(h[0] == f for h in heads) for f in families]
    with style.figure(style.FULL, 2.5) as fig:
        axes = fig.subplots(1, len(families), width_ratios=counts, squeeze=False)[0]
        width = 0.8 / len(labels)
        for ax, family in zip(axes, families, strict=True):
            items = [h for h in heads if h[0] == family]
            scale = 100.0 if all(scale_of(df[(df.task == t) & (df.metric == m)]["value"]) == 100
                                 for _, t, m in items) else 1.0
            for j, label in enumerate(labels):
                xs, ys, lo, hi, stars = [], [], [], [], []
                for i, (_, task, metric) in enumerate(items):
                    r = df[(df.checkpoint == label) & (df.task == task) & (df.metric == metric)]
                    if r.empty or not _finite(r["value"].iloc[0]):
                        continue
                    r = r.iloc[0]
                    v = r["value"] * scale
                    xs.append(i + (j - (len(labels) - 1) / 2) * width)
                    ys.append(v)
                    lo.append(max(0.0, v - r["value_ci_low"] * scale)
                              if _finite(r["value_ci_low"]) else 0.0)
                    hi.append(max(0.0, r["value_ci_high"] * scale - v)
                              if _finite(r["value_ci_high"]) else 0.0)
                    stars.append(bool(r["significant"]) if r["role"] == "candidate" else False)
                ax.bar(xs, ys, width * 0.95, color=cols[j], label=label, zorder=2,
                       yerr=[lo, hi], error_kw={"elinewidth": 0.6, "ecolor": "#222222"})
                for x, y, h, s in zip(xs, ys, hi, stars, strict=True):
                    if s:
                        ax.annotate("*", (x, y + h), ha="center", va="bottom", fontsize=8)
            ax.set_xticks(range(len(items)))
            ax.set_xticklabels([
                frames.task_name(t) + ("\n" + frames.metric_name(m)
                                       if family == frames.INSTRUCTION else "")
                for _, t, m in items])
            ax.set_title(family)
            ax.set_ylabel("score (%)" if scale == 100 else "score")
            ax.set_xlim(-0.6, len(items) - 0.4)
            ax.grid(axis="x", visible=False)
        handles, names = axes[0].get_legend_handles_labels()
        fig.legend(handles, names, loc="outside upper center", ncol=min(len(labels), 5))
        return fig


def categories_figure(drift: dict[str, Any], task: str | None = None) -> Figure | None:
    """Per instruction category: the change in pass rate (strict) with its CI."""
    df = frames.categories(drift)
    if df.empty:
        return None
    task = task or sorted(df.task.unique())[0]
    sub = df[(df.task == task) & (df.level == "strict") & (df.role == "candidate")]
    if sub.empty:
        return None
    cands = list(dict.fromkeys(sub.checkpoint))
    first = sub[sub.checkpoint == cands[0]].sort_values("delta")
    cats = list(first.category)
    n = dict(zip(first.category, first.n, strict=True))
    cols = style.colors(len(cands) + 1)[1:]
    with style.figure(style.COLUMN, 0.9 + 0.22 * len(cats)) as fig:
        ax = fig.subplots()
        step = 0.6 / max(1, len(cands))
        for j, cand in enumerate(cands):
            rows = sub[sub.checkpoint == cand].set_index("category")
            for i, cat in enumerate(cats):
                if cat not in rows.index:
                    continue
                r = rows.loc[cat]
                y = i + (j - (len(cands) - 1) / 2) * step
                d, lo, hi = 100 * r["delta"], 100 * r["ci_low"], 100 * r["ci_high"]
                sig = _finite(r["p_holm"]) and r["p_holm"] < drift["settings"]["alpha"]
                ax.errorbar([d], [y], xerr=[[d - lo], [hi - d]], fmt="o", color=cols[j],
                            mfc=cols[j] if sig else "white", mew=0.9, elinewidth=0.9,
                            label=cand if i == 0 else None, zorder=3)
        ax.axvline(0, color="#333333", lw=0.7, zorder=1)
        ax.set_yticks(range(len(cats)))
        ax.set_yticklabels([f"{c.replace('_', ' ')} ({int(n[c])})" for c in cats])
        ax.set_xlabel("\u0394 pass rate vs baseline (points)")
        ax.grid(axis="y", visible=False)
        ax.grid(axis="x", visible=True)
        ax.set_title(f"{frames.task_name(task)} by instruction category")
        if len(cands) > 1:
            ax.legend(loc="lower right")
        return fig


def _main_task(drift: dict[str, Any]) -> str | None:
    """The generation task the single-task figures show (largest, instruction tasks first)."""
    tasks = frames.generation_tasks(drift)
    return tasks[0] if tasks else None


def _gen_tasks(drift: dict[str, Any]) -> list[str]:
    return frames.generation_tasks(drift)[:MAX_PANELS]


def lengths_figure(drift: dict[str, Any]) -> Figure | None:
    """Response-length ECDFs per checkpoint, one panel per generation task."""
    tasks = [t for t in _gen_tasks(drift)
             if "values" in ((frames.base_distribution(drift, t) or {}).get("length") or {})]
    if not tasks:
        return None
    labels = frames.checkpoints(drift)
    cols = style.colors(len(labels))
    unit = drift["settings"].get("length_unit", "tokens")
    unit = "tokens" if unit.startswith("tokens") else unit
    width = style.COLUMN if len(tasks) == 1 else style.FULL
    with style.figure(width, 2.3) as fig:
        axes = fig.subplots(1, len(tasks), squeeze=False)[0]
        for ax, task in zip(axes, tasks, strict=True):
            series = [("baseline", labels[0], frames.base_distribution(drift, task)[
                "length"]["values"]["baseline"])]
            for lab in labels[1:]:
                d = drift["comparisons"][lab]["distribution"].get(task)
                if d and d["length"].get("values"):
                    series.append(("candidate", lab, d["length"]["values"]["candidate"]))
            for j, (_, lab, vals) in enumerate(series):
                x = np.sort(np.asarray(vals, dtype=float))
                y = np.arange(1, len(x) + 1) / len(x)
                ax.step(x, y, where="post", color=cols[j], label=lab,
                        lw=1.4 if j == 0 else 1.1, ls="-" if j == 0 else "--" if j == 1 else ":")
            ks = [drift["comparisons"][lab]["distribution"][task]["length"]["ks_statistic"]
                  for lab in labels[1:] if task in drift["comparisons"][lab].get(
                      "distribution", {})]
            ax.set_title(f"{frames.task_name(task)}" + (
                f" (KS D = {ks[0]:.2f})" if len(ks) == 1 else ""))
            ax.set_xlabel(f"response length ({unit})")
            ax.set_ylabel("cumulative share of responses")
            ax.set_ylim(0, 1.02)
            ax.grid(axis="x", visible=True)
        axes[0].legend(loc="lower right")
        return fig


def patterns_figure(drift: dict[str, Any]) -> Figure | None:
    """Template-pattern rates per checkpoint on the main generation task."""
    task = _main_task(drift)
    if task is None:
        return None
    labels = frames.checkpoints(drift)
    first = (frames.base_distribution(drift, task) or {}).get("patterns")
    if not first:
        return None
    names = [p["pattern"] for p in first]
    rates = [[100 * p["baseline"] for p in first]]
    sig: list[list[bool]] = [[False] * len(first)]
    for lab in labels[1:]:
        pats = drift["comparisons"][lab]["distribution"].get(task, {}).get("patterns", [])
        # a candidate without this task draws no bar (NaN), not a zero
        rates.append([100 * p["candidate"] for p in pats] or [math.nan] * len(names))
        sig.append([p["p_value"] < drift["settings"]["alpha"] for p in pats]
                   or [False] * len(names))
    cols = style.colors(len(labels))
    # horizontal bars: pattern names stay readable at column width
    with style.figure(style.COLUMN, 0.9 + 0.12 * len(names) * len(labels)) as fig:
        ax = fig.subplots()
        height = 0.8 / len(labels)
        top = float(np.nanmax(rates)) if np.isfinite(rates).any() else 0.0
        for j, (lab, vals) in enumerate(zip(labels, rates, strict=True)):
            ys = [i + (j - (len(labels) - 1) / 2) * height for i in range(len(names))]
            ax.barh(ys, vals, height * 0.95, color=cols[j], label=lab, zorder=2)
            for y, v, s in zip(ys, vals, sig[j], strict=True):
                if s:
                    ax.annotate(" \u2020", (v, y), ha="left", va="center", fontsize=7)
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels([n.replace("_", " ") for n in names])
        ax.invert_yaxis()
        ax.set_xlabel("responses matching (%)")
        ax.set_xlim(0, max(1.0, top * 1.15))
        ax.set_title(f"Template patterns, {frames.task_name(task)}")
        ax.grid(axis="y", visible=False)
        ax.grid(axis="x", visible=True)
        fig.legend(loc="outside lower center", ncol=min(len(labels), 3))
        return fig


def _shifted(d: dict[str, Any], k: int) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """Top-k more and less frequent n-grams (1- and 2-grams pooled, by |z|)."""
    shifted = d["lexical"].get("shifted_ngrams") or {}
    more = [(r["ngram"], r["z"]) for t in shifted.values() for r in t.get("more_frequent", ())]
    less = [(r["ngram"], r["z"]) for t in shifted.values() for r in t.get("less_frequent", ())]
    more = sorted(dict(more).items(), key=lambda x: -x[1])[:k]
    less = sorted(dict(less).items(), key=lambda x: x[1])[:k]
    return more, less


def ngrams_figure(drift: dict[str, Any], k: int = 8) -> Figure | None:
    """The n-grams that became more and less frequent (Fightin' Words z-scores)."""
    task = _main_task(drift)
    if task is None:
        return None
    cands = [lab for lab in list(drift["comparisons"])[:MAX_PANELS]
             if task in drift["comparisons"][lab]["distribution"]]
    panels = [(lab, *_shifted(drift["comparisons"][lab]["distribution"][task], k))
              for lab in cands]
    panels = [p for p in panels if p[1] or p[2]]
    if not panels:
        return None
    cols = style.colors(len(drift["comparisons"]) + 1)
    rows = max(len(m) + len(le) for _, m, le in panels)
    width = style.COLUMN if len(panels) == 1 else style.FULL
    with style.figure(width, 0.8 + 0.16 * rows) as fig:
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for j, (ax, (lab, more, less)) in enumerate(zip(axes, panels, strict=True)):
            items = sorted(more + less, key=lambda x: x[1])
            zs = [z for _, z in items]
            ax.barh(range(len(items)), zs, color=[cols[1 + j] if z > 0 else style.BASELINE
                                                  for z in zs], height=0.7, zorder=2)
            ax.set_yticks(range(len(items)))
            ax.set_yticklabels([style.plain(repr(g)[1:-1] if g.strip() else repr(g))
                                for g, _ in items], fontsize=6.5)
            ax.axvline(0, color="#333333", lw=0.6)
            for z in (-1.96, 1.96):
                ax.axvline(z, color="#999999", lw=0.5, ls=":")
            ax.set_xlabel("z-score of the log-odds ratio")
            ax.set_title(f"{lab}" if len(panels) > 1 else
                         f"Shifted n-grams, {frames.task_name(task)}")
            ax.grid(axis="y", visible=False)
            ax.grid(axis="x", visible=True)
        return fig


def embeddings_figure(drift: dict[str, Any]) -> Figure | None:
    """A 2-D PCA projection of response embeddings, baseline vs each candidate."""
    task = _main_task(drift)
    if task is None:
        return None
    panels = []
    for lab in list(drift["comparisons"])[:MAX_PANELS]:
        emb = (drift["comparisons"][lab]["distribution"].get(task) or {}).get("embeddings")
        proj = (emb or {}).get("projection")
        if proj and proj.get("baseline"):
            panels.append((lab, emb, proj))
    if not panels:
        return None
    cols = style.colors(len(drift["comparisons"]) + 1)
    width = style.COLUMN if len(panels) == 1 else style.FULL
    with style.figure(width, 2.9 if len(panels) == 1 else 2.6) as fig:
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for j, (ax, (lab, emb, proj)) in enumerate(zip(axes, panels, strict=True)):
            b, c = np.asarray(proj["baseline"]), np.asarray(proj["candidate"])
            ax.scatter(b[:, 0], b[:, 1], s=5, c=style.BASELINE, alpha=0.45, lw=0,
                       label=drift["baseline"]["label"], rasterized=True)
            ax.scatter(c[:, 0], c[:, 1], s=5, c=cols[1 + j], alpha=0.55, lw=0, marker="^",
                       label=lab, rasterized=True)
            evr = proj.get("explained_variance_ratio") or [math.nan, math.nan]
            ax.set_xlabel(f"PC1 ({100 * evr[0]:.0f} % var.)")
            ax.set_ylabel(f"PC2 ({100 * evr[1]:.0f} % var.)")
            auc, frechet = frames.embedding_shift(emb)
            ax.set_title((f"{frames.task_name(task)}: " if len(panels) == 1 else "")
                         + ("AUC n/a" if auc is None else f"AUC {auc:.2f}") + ", Fr\u00e9chet "
                         + ("n/a" if frechet is None else f"{frechet:.3f}"))
            ax.grid(visible=False)
            ax.legend(loc="best", markerscale=2, handletextpad=0.2)
        return fig


FIGURES: dict[str, Callable[[dict[str, Any]], Figure | None]] = {
    "scores": scores_figure,
    "categories": categories_figure,
    "lengths": lengths_figure,
    "patterns": patterns_figure,
    "ngrams": ngrams_figure,
    "embeddings": embeddings_figure,
    "sweep": sweep_figure,
    "remedy": remedy.figure,
}


CAPTIONS = {
    "scores": "Headline scores per checkpoint with {level} % bootstrap CIs; * marks a change "
              "significant after Holm correction.",
    "categories": "Change in instruction-level pass rate per instruction category "
                  "(strict), with {level} % paired bootstrap CIs; filled markers are "
                  "significant after Holm correction; n instructions in brackets.",
    "lengths": "Response-length distributions (ECDF) per checkpoint.",
    "patterns": "Share of responses matching each synthetic-format pattern; \u2020 exact "
                "McNemar p < {alpha}.",
    "ngrams": "N-grams that became more (right) and less (left) frequent: z-scores of "
              "log-odds ratios with an informative Dirichlet prior (Monroe et al. 2008); "
              "dotted lines at |z| = 1.96.",
    "embeddings": "Response embeddings (all-MiniLM-L6-v2) on their first two principal "
                  "components; AUC of a classifier telling the two sets apart (0.5 = no "
                  "shift).",
    "sweep": "Each headline metric against the swept value.",
    "remedy": remedy.CAPTION,
}


def write_figures(drift: dict[str, Any], out_dir: Path) -> dict[str, list[Path]]:
    """Every figure drift.json supports, as NAME.png and NAME.pdf under ``out_dir``."""
    written: dict[str, list[Path]] = {}
    for name, make in FIGURES.items():
        fig = make(drift)
        if fig is None:
            continue
        written[name] = style.save(fig, out_dir / name)
    return written
