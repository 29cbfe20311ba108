"""The results table printed at the end of a run."""

from __future__ import annotations

from typing import Any


def results_table(metrics: dict[str, dict[str, Any]], tasks: dict[str, dict[str, Any]]) -> str:
    rows = [("task", "version", "n", "metric", "value", "stderr")]
    for task, values in metrics.items():
        info = tasks.get(task, {})
        stderr = info.get("stderr", {})
        if not values:  # a probe set: answers kept, nothing scored
            rows.append((task, str(info.get("version", "")), str(info.get("n_samples", "")),
                         "(not scored)", "", ""))
        for i, (metric, value) in enumerate(values.items()):
            se = stderr.get(metric)
            rows.append((
                task if i == 0 else "",
                str(info.get("version", "")) if i == 0 else "",
                str(info.get("n_samples", "")) if i == 0 else "",
                metric,
                f"{value:.4f}" if isinstance(value, float) else str(value),
                f"{se:.4f}" if isinstance(se, float) else "",
            ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)
