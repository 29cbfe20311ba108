"""The sweep figure: each headline metric against the swept value (training steps on a
numeric axis, anything else in the runs' order)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from evalsuite.report import frames, style
from evalsuite.report.tables import scale_of

_STEP = re.compile(r"(?:checkpoint|step|iter|global_step|ckpt)[-_]?(\d+)", re.I)


def _sweep_x(values: list[Any]) -> tuple[list[float], list[str] | None]:
    """Numbers when every value is a number or names a training step (checkpoint-1000,
    step2000); otherwise the runs' order, with the values as tick labels (pythia-1b is a
    model size, not a position on an axis)."""
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        nums = [float(v) for v in values]
    else:
        found = [_STEP.findall(str(v)) for v in values]
        nums = [float(f[-1]) for f in found] if all(found) else []
    if not nums or len(set(nums)) < len(nums):
        return list(range(len(values))), [str(v).rstrip("/").rsplit("/", 1)[-1] for v in values]
    return nums, None


def sweep_figure(drift: dict[str, Any]) -> Figure | None:
    """Each headline metric against the swept value; one panel per metric family."""
    sweep = frames.sweep_values(drift)
    labels = frames.checkpoints(drift)
    if not sweep or len(labels) < 3:
        return None
    xs, ticks = _sweep_x([sweep["values"].get(lab) for lab in labels])
    order = np.argsort(xs, kind="stable")
    df = frames.scores(drift)
    heads = frames.headline_metrics(drift)
    fams: dict[str, list[tuple[str, str, Callable[[str], float | None]]]] = {}
    for family, task, metric in heads:
        scale = scale_of(df[(df.task == task) & (df.metric == metric)]["value"])

        def get(lab: str, task: str = task, metric: str = metric,
                scale: float = scale) -> float | None:
            r = df[(df.checkpoint == lab) & (df.task == task) & (df.metric == metric)]
            return None if r.empty else scale * r["value"].iloc[0]
        name = frames.task_name(task) + (f" {frames.metric_name(metric)}"
                                         if family == frames.INSTRUCTION else "")
        if scale != 100:
            name += " (raw)"
        fams.setdefault(family, []).append((name, metric, get))
    gen = frames.generation_tasks(drift)
    if gen:
        task = gen[0]

        def auc(lab: str) -> float | None:
            if lab == labels[0]:
                return 50.0
            e = drift["comparisons"][lab]["distribution"].get(task, {}).get("embeddings")
            a, _ = frames.embedding_shift(e)
            return None if a is None else 100 * a

        def qa(lab: str) -> float | None:
            comp = drift["comparisons"][labels[1] if lab == labels[0] else lab]
            pats = comp["distribution"].get(task, {}).get("patterns") or []
            if not pats:
                return None
            key = "baseline" if lab == labels[0] else "candidate"
            return 100 * max(p[key] for p in pats)

        fams["Output distribution"] = [("two-sample AUC x100", "auc", auc),
                                       ("top pattern rate (%)", "pattern", qa)]
    with style.figure(style.FULL, 2.4) as fig:
        axes = fig.subplots(1, len(fams), squeeze=False)[0]
        for ax, (family, items) in zip(axes, fams.items(), strict=True):
            for i, (name, _, get) in enumerate(items):
                ys = [get(labels[k]) for k in order]
                px = [xs[k] for k in order]
                pts = [(x, y) for x, y in zip(px, ys, strict=True) if y is not None]
                if not pts:
                    continue
                ax.plot(*zip(*pts, strict=True), marker="o", ms=3,
                        color=style.PALETTE[i % len(style.PALETTE)], label=name)
            ax.set_title(family)
            ax.set_xlabel(sweep.get("key", "swept value"))
            if ticks:
                ax.set_xticks(range(len(ticks)))
                ax.set_xticklabels(ticks, rotation=30, ha="right")
            ax.legend(fontsize=6, loc="best")
        axes[0].set_ylabel("score (%)")
        return fig
