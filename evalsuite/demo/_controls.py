"""The demo's controls, judged from a drift.json.

Positive (a checkpoint we know has drifted): a template pattern's rate rose
significantly, an instruction-following metric dropped significantly, and a classifier
tells the two runs' responses apart (two-sample AUC well above 0.5).
Negative (two sampled runs of one model): nothing is significant after Holm correction
(task metrics, categories, instruction ids, template patterns) and the AUC is near 0.5.

Patterns are tested one McNemar test each in drift.json; for the positive control they
are Holm-corrected together within each task, so that five patterns do not get five
chances; the negative control puts every test into one Holm correction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from evalsuite.drift.stats import holm
from evalsuite.report.frames import embedding_shift
from evalsuite.tasks.metrics import IF_METRICS


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str
    inconclusive: bool = False
    """Not passed, and the data could not have passed it: the effect the check looks for
    is smaller than the comparison's minimum detectable effect."""


@dataclass
class Verdict:
    control: str
    candidate: str
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def outcome(self) -> str:
        """passed, failed, or inconclusive: every check that did not pass was one the
        sample size could not have passed (a first run at size=small ends here, and
        that is not a failure of the tool or of the model)."""
        if self.passed:
            return "passed"
        missed = [c for c in self.checks if not c.passed]
        return "inconclusive" if all(c.inconclusive for c in missed) else "failed"

    def to_dict(self) -> dict[str, Any]:
        return {"control": self.control, "candidate": self.candidate, "passed": self.passed,
                "outcome": self.outcome, "checks": [asdict(c) for c in self.checks]}

    def lines(self) -> list[str]:
        head = f"{self.control} control ({self.candidate}): {self.outcome.upper()}"
        mark = {True: "x", False: " "}
        return [head, *(f"  [{'?' if c.inconclusive else mark[c.passed]}] {c.name}: "
                        f"{c.detail}" for c in self.checks)]


def _fmt_p(p: float) -> str:
    return f"{p:.2g}" if p >= 1e-3 else f"{p:.1e}"


def pattern_tests(comp: dict[str, Any], alpha: float) -> list[dict[str, Any]]:
    """Every (task, pattern) row with its Holm-adjusted p (within the task's patterns)."""
    rows = []
    for task, dist in comp.get("distribution", {}).items():
        pats = [dict(p, task=task) for p in dist.get("patterns", [])]
        adjusted = holm([p["p_value"] for p in pats])
        for p, ph in zip(pats, adjusted, strict=True):
            p["p_holm"] = ph
            p["significant"] = bool(ph < alpha)
            rows.append(p)
    return rows


def auc_rows(comp: dict[str, Any]) -> list[tuple[str, float]]:
    out = []
    for task, dist in comp.get("distribution", {}).items():
        auc, _ = embedding_shift(dist.get("embeddings"))
        if auc is not None:
            out.append((task, auc))
    return out


def _if_metrics(comp: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(task, m, r) for task, t in comp.get("tasks", {}).items()
            for m, r in t.get("metrics", {}).items() if m in IF_METRICS]


def _underpowered(rows: list[tuple[str, str, dict[str, Any]]],
                  effect: float) -> tuple[str, str, float] | None:
    """The (task, metric, mde) of the most sensitive metric, when even it could not
    detect a change of ``effect`` with 80 % power; None when one could (or none says)."""
    known = [(t, m, float(r["mde"])) for t, m, r in rows
             if isinstance(r.get("mde"), int | float)]
    if not known:
        return None
    best = min(known, key=lambda x: x[2])
    return best if best[2] > effect else None


def positive(drift: dict[str, Any], candidate: str, *, min_auc: float,
             expected_drop: float = 0.05) -> Verdict:
    """``expected_drop``: the instruction-following drop the control looks for (the full
    demo measures about 6 points); with fewer samples than it takes to detect that drop
    at 80 % power, a missed drop is inconclusive, not failed."""
    comp = drift["comparisons"][candidate]
    alpha = float(drift["settings"]["alpha"])
    v = Verdict("positive", candidate)

    rose = [p for p in pattern_tests(comp, alpha) if p["significant"] and p["delta"] > 0]
    if rose:
        best = min(rose, key=lambda p: p["p_holm"])
        detail = (f"{best['task']} {best['pattern']} {best['baseline']:.1%} -> "
                  f"{best['candidate']:.1%} (Holm p {_fmt_p(best['p_holm'])})")
    else:
        detail = "no template pattern rose significantly"
    v.checks.append(Check("template pattern rate rose", bool(rose), detail))

    dropped = [(t, m, r) for t, m, r in _if_metrics(comp) if r["significant"] and r["delta"] < 0]
    if dropped:
        t, m, r = min(dropped, key=lambda x: x[2]["p_holm"])
        detail = (f"{t} {m} {r['baseline']:.3f} -> {r['candidate']:.3f} "
                  f"({r['delta']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}], "
                  f"Holm p {_fmt_p(r['p_holm'])}); {len(dropped)} of "
                  f"{len(_if_metrics(comp))} instruction-following metrics dropped")
    elif not _if_metrics(comp):
        detail = "no instruction-following task in the runs"
    else:
        detail = "no instruction-following metric dropped significantly"
    weak = None if dropped else _underpowered(_if_metrics(comp), expected_drop)
    if weak is not None:
        t, m, mde = weak
        n = comp["tasks"][t]["metrics"][m].get("n")
        detail += (f"; not powered to: at {n} prompts the smallest drop {t} {m} detects "
                   f"with 80 % power is {100 * mde:.1f} points, above the "
                   f"{100 * expected_drop:.1f} the control looks for (size=full is)")
    v.checks.append(Check("instruction following dropped", bool(dropped), detail,
                          inconclusive=weak is not None))

    aucs = auc_rows(comp)
    if aucs:  # any generation task whose answers a classifier tells apart
        best = max(a for _, a in aucs)
        v.checks.append(Check("distribution shift", best >= min_auc,
                              "two-sample AUC " + ", ".join(f"{t} {a:.3f}" for t, a in aucs)
                              + f" (bar {min_auc:.2f})"))
    else:
        v.checks.append(Check("distribution shift", False,
                              "no embedding AUC in drift.json: compare with embeddings=true"))
    return v


def negative(drift: dict[str, Any], candidate: str, *, auc_tolerance: float) -> Verdict:
    """Nothing may change. Every test of the comparison (task metrics, instruction
    categories and ids at both levels, template patterns) goes into one Holm correction,
    so that the control's own false-alarm rate is alpha, not alpha per family."""
    comp = drift["comparisons"][candidate]
    alpha = float(drift["settings"]["alpha"])
    v = Verdict("negative", candidate)

    families: dict[str, list[tuple[str, float]]] = {
        "task metrics": [(f"{t} {m}", r["p_value"]) for t, tt in comp.get("tasks", {}).items()
                         for m, r in tt.get("metrics", {}).items()],
        "instruction categories": [(f"{r['task']} {r['category']} ({r['level']})",
                                    r["p_value"]) for r in comp.get("categories", [])],
        "instruction ids": [(f"{r['task']} {r['id']} ({r['level']})", r["p_value"])
                            for r in comp.get("instruction_ids", [])],
        "template patterns": [(f"{p['task']} {p['pattern']}", p["p_value"])
                              for p in pattern_tests(comp, alpha)],
    }
    flat = [(fam, name, p) for fam, rows in families.items() for name, p in rows
            if p is not None and p == p]
    adjusted = holm([p for _, _, p in flat])
    for family in families:
        rows = [(name, ph) for (fam, name, _), ph in zip(flat, adjusted, strict=True)
                if fam == family]
        hits = [(name, ph) for name, ph in rows if ph < alpha]
        if hits:
            detail = "significant: " + "; ".join(f"{n} (Holm p {_fmt_p(p)})" for n, p in hits)
        elif not rows:
            detail = "nothing tested"
        else:
            detail = (f"{len(rows)} tested, smallest Holm p {_fmt_p(min(p for _, p in rows))} "
                      f"(Holm over all {len(flat)} tests)")
            mdes = [float(r["mde"]) for _, _, r in _if_metrics(comp)
                    if isinstance(r.get("mde"), int | float)]
            if family == "task metrics" and mdes:  # how blind the silence is
                detail += (f"; instruction-following changes of {100 * min(mdes):.1f} points "
                           "or more would be found with 80 % power")
        ok = not hits and (bool(rows) or family != "task metrics")
        v.checks.append(Check(f"no significant change in {family}", ok, detail))

    aucs = auc_rows(comp)
    if aucs:
        far = [(t, a) for t, a in aucs if abs(a - 0.5) > auc_tolerance]
        detail = ", ".join(f"{t} AUC {a:.3f}" for t, a in aucs) + (
            f" (bar 0.5 +/- {auc_tolerance:.2f})")
        v.checks.append(Check("AUC near 0.5", not far, detail))
    else:
        v.checks.append(Check("AUC near 0.5", False,
                              "no embedding AUC in drift.json: compare with embeddings=true"))
    return v


def sampling_happened(drift: dict[str, Any], candidate: str) -> Check:
    """A negative control compares two *different* samples; identical responses would
    pass every check without testing anything."""
    comp = drift["comparisons"][candidate]
    moved = [t for t, d in comp.get("distribution", {}).items()
             if ((d.get("lexical") or {}).get("jsd_1gram") or 0) > 0]
    return Check("the two runs' responses differ", bool(moved),
                 f"unigram JSD > 0 in {', '.join(moved)}" if moved
                 else "the responses are identical: was sampling on?")


REMEDY_METRIC = "inst_level_strict_acc"


def remedy(drift: dict[str, Any], name: str) -> Verdict:
    """The remedy control (drift.json's ``remedies[name]``), against the checkpoint it
    started from: (a) a template pattern's rate fell significantly, (b) a significant
    share of the instruction-level IFEval drop came back (the share's interval above 0),
    (c) the benchmark average stayed inside the treated checkpoint's interval.

    (a) and (b) are inconclusive, not failed, where the treated checkpoint showed nothing
    to undo (no pattern rose significantly; a drop whose own interval holds 0)."""
    rec = drift["remedies"][name]
    treated = rec["treated"]
    alpha = float(drift["settings"]["alpha"])
    v = Verdict("remedy", name)

    fell = [p for p in rec.get("patterns", []) if p.get("significant")
            and p["remedy"] < p["treated"]]
    rose = [p for p in pattern_tests(drift["comparisons"][treated], alpha)
            if p["significant"] and p["delta"] > 0]
    if fell:
        best = min(fell, key=lambda p: p["p_holm"])
        detail = (f"{best['task']} {best['pattern']} {best['treated']:.1%} ({treated}) -> "
                  f"{best['remedy']:.1%} (Holm p {_fmt_p(best['p_holm'])}; "
                  f"{best['baseline']:.1%} in the baseline)")
    elif not rose:
        detail = f"no template pattern rose significantly in {treated}: nothing to lower"
    else:
        worst = max(rose, key=lambda p: p["candidate"])
        now = next((p for p in rec.get("patterns", []) if p["task"] == worst["task"]
                    and p["pattern"] == worst["pattern"]), None)
        detail = (f"no template pattern fell significantly; {worst['task']} "
                  f"{worst['pattern']} {worst['candidate']:.1%} -> "
                  + (f"{now['remedy']:.1%} (Holm p {_fmt_p(now['p_holm'])})" if now else "?"))
    v.checks.append(Check("template pattern rate fell", bool(fell), detail,
                          inconclusive=not fell and not rose))

    rows = [r for r in rec.get("metrics", []) if r["metric"] == REMEDY_METRIC]
    if not rows:
        v.checks.append(Check("instruction-level IFEval drop recovered", False,
                              f"no {REMEDY_METRIC} in the three runs"))
    else:
        r = rows[0]
        lo, hi = r.get("share_ci") or (None, None)
        got = r["kind"] == "lost" and r.get("estimable") and lo is not None and lo > 0
        nothing = r["kind"] != "lost" or not r.get("estimable")
        detail = (f"{r['task']} {REMEDY_METRIC} {r['baseline']:.3f} -> {r['treated']:.3f} "
                  f"({treated}) -> {r['remedy']:.3f}")
        if nothing:
            detail += f": {treated}'s drop has an interval that holds 0, nothing to recover"
        elif lo is not None and hi is not None:
            detail += f"; recovered {r['share']:.0%} of the drop [{lo:.0%}, {hi:.0%}]"
        paired = ((rec.get("comparison") or {}).get("tasks") or {}).get(r["task"]) or {}
        test = (paired.get("metrics") or {}).get(REMEDY_METRIC) or {}
        n_tests = sum(len(t.get("metrics") or {})
                      for t in ((rec.get("comparison") or {}).get("tasks") or {}).values())
        if isinstance(test.get("p_value"), float) and isinstance(test.get("p_holm"), float):
            # the control's one pre-set test; the report's * is Holm over every metric
            detail += (f"; paired test {treated} -> {name} p = {_fmt_p(test['p_value'])} "
                       f"({_fmt_p(test['p_holm'])} after Holm over its {n_tests} metrics)")
        v.checks.append(Check("instruction-level IFEval drop recovered", bool(got), detail,
                              inconclusive=bool(nothing)))

    avg = rec.get("benchmark_average")
    lo, hi = (avg or {}).get("treated_ci") or (None, None)
    if avg is None or lo is None or hi is None:
        v.checks.append(Check("benchmark average kept", False,
                              "no benchmark (with an interval) in the runs: nothing to keep",
                              inconclusive=True))
    else:
        # one-sided: a remedy whose average rises past the interval kept the gains
        v.checks.append(Check(
            "benchmark average kept", bool(avg.get("remedy_above_treated_ci_low")),
            f"{avg['baseline']:.3f} -> {avg['treated']:.3f} ({treated}, interval "
            f"[{lo:.3f}, {hi:.3f}]) -> {avg['remedy']:.3f} over {len(avg['tasks'])} "
            "benchmarks; the remedy must not fall below the interval"))
    return v
