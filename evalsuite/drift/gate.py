"""A drift gate for training pipelines: the largest drop tolerated per metric.

``gate={ifeval*/inst_level_strict_acc:0.02,acc*:0.05}`` maps patterns to tolerances.
A pattern ``TASK/METRIC`` (shell globs in either part) names metrics of tasks; one without
a ``/`` names a metric in every task. Where several patterns match a metric the
strictest (smallest) tolerance applies, so the order of the rules never matters.

A metric fails its gate when the candidate is worse than the baseline (lower, or higher
for a lower-is-better metric such as perplexity), the change is significant after Holm's
correction, and the point estimate of the drop is larger than the tolerance. A drop that
is large but not significant passes: at this sample size it may be noise, and the report
says how large a change the comparison could detect (``mde``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from fnmatch import fnmatchcase
from typing import Any

from evalsuite.errors import UserError
from evalsuite.tasks.metrics import higher_is_better

GATE_FAILED = 3
"""Exit status of a comparison whose gate failed (2 is bad input, 1 a fault)."""


@dataclass(frozen=True)
class Rule:
    pattern: str
    tolerance: float

    def matches(self, task: str, metric: str) -> bool:
        if "/" in self.pattern:
            task_glob, _, metric_glob = self.pattern.partition("/")
            return fnmatchcase(task, task_glob) and fnmatchcase(metric, metric_glob)
        return fnmatchcase(metric, self.pattern)


@dataclass(frozen=True)
class Check:
    """One metric of one comparison against its gate (stored in drift.json's ``gate``)."""

    comparison: str
    task: str
    metric: str
    rule: str
    tolerance: float
    drop: float | None
    """How much worse the candidate is (positive: worse), on the metric's scale."""
    p_holm: float | None
    significant: bool
    passed: bool

    def numbers(self) -> tuple[str, str]:
        """The drop and Holm p as printed (in the line and in the JUnit file)."""
        return ("nan" if self.drop is None else f"{self.drop:.4f}",
                "nan" if self.p_holm is None else f"{self.p_holm:.3g}")

    def line(self, baseline: str) -> str:
        drop, p = self.numbers()
        verdict = "FAILED" if not self.passed else "passed"
        return (f"gate {verdict}: {baseline} -> {self.comparison} {self.task} {self.metric} "
                f"dropped {drop} (tolerance {self.tolerance:g} from {self.rule}; Holm p={p}"
                f"{', significant' if self.significant else ', not significant'})")


def parse_rules(node: Any) -> list[Rule]:
    """The gate= setting as rules; one line naming the problem otherwise."""
    if node is None:
        return []
    if not isinstance(node, dict) or not node:
        raise UserError("gate must map metrics to the largest drop tolerated, e.g. "
                        "gate={ifeval*/inst_level_strict_acc:0.02} (TASK/METRIC, globs "
                        f"allowed), got {node!r}")
    rules = []
    for pattern, tol in node.items():
        pattern = str(pattern).strip()
        if not pattern or pattern.count("/") > 1 or pattern.startswith("/") \
                or pattern.endswith("/"):
            raise UserError(f"gate pattern {pattern!r} must be METRIC or TASK/METRIC (globs "
                            "allowed), e.g. ifeval*/inst_level_strict_acc")
        if isinstance(tol, bool) or not isinstance(tol, int | float) \
                or not math.isfinite(tol) or tol < 0:
            raise UserError(f"gate {pattern}: the tolerated drop must be a number of 0 or "
                            f"more on the metric's scale (0.02 for two points of accuracy), "
                            f"got {tol!r}")
        rules.append(Rule(pattern, float(tol)))
    return rules


def check(drift: dict[str, Any], rules: list[Rule],
          directions: dict[tuple[str, str], bool] | None = None) -> list[Check]:
    """Every gated metric of every comparison, checked. A rule that matches no metric of a
    comparison is bad input (a misspelt gate, or a candidate that lacks the gated task,
    must never pass silently). ``directions``: (task, metric) -> higher is better, as the
    task declared it; metrics it does not name follow lm-eval's naming convention."""
    checks: list[Check] = []
    for comparison, comp in drift["comparisons"].items():
        used: set[str] = set()
        names: set[str] = set()
        for task, t in comp["tasks"].items():
            for metric, m in t["metrics"].items():
                names.add(f"{task}/{metric}")
                hits = [r for r in rules if r.matches(task, metric)]
                if not hits:
                    continue
                used.update(r.pattern for r in hits)
                rule = min(hits, key=lambda r: r.tolerance)
                higher = (directions or {}).get((task, metric))
                checks.append(_check(comparison, task, metric, m, rule,
                                     higher_is_better(metric) if higher is None else higher))
        unused = [r.pattern for r in rules if r.pattern not in used]
        if unused:
            shown = ", ".join(sorted(names)[:8]) + (", ..." if len(names) > 8 else "")
            raise UserError(f"gate pattern {unused[0]} matches no compared metric of "
                            f"{comparison} (they are {shown or 'none'}): fix its spelling, "
                            "or drop it")
    return checks


def _check(comparison: str, task: str, metric: str, m: dict[str, Any], rule: Rule,
           higher: bool) -> Check:
    delta = m.get("delta")
    drop = None if delta is None else (-delta if higher else delta)
    significant = bool(m.get("significant"))
    failed = drop is not None and significant and drop > rule.tolerance
    return Check(comparison=comparison, task=task, metric=metric, rule=rule.pattern,
                 tolerance=rule.tolerance, drop=drop, p_holm=m.get("p_holm"),
                 significant=significant, passed=not failed)


def summary(rules: list[Rule], checks: list[Check]) -> dict[str, Any]:
    """drift.json's ``gate`` section."""
    return {"rules": {r.pattern: r.tolerance for r in rules},
            "passed": all(c.passed for c in checks),
            "failures": sum(not c.passed for c in checks),
            "checks": [asdict(c) for c in checks]}
