"""``python -m evalsuite.compare baseline=RUN_DIR candidate=RUN_DIR [out=DIR]``
(or ``sweep=SWEEP_DIR``).

Reads stored run directories only, writes ``OUT/drift.json`` and renders the report
(tables/, figures/, report.md, report.html) from it.
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from evalsuite.cli._common import discard_empty_dir, fail, interrupt_on_sigterm, launch
from evalsuite.drift import gate
from evalsuite.drift.analysis import CompareSettings, compare
from evalsuite.drift.distribution import DEFAULT_PATTERNS, Pattern
from evalsuite.drift.embeddings import PRECISIONS
from evalsuite.drift.runs import Run
from evalsuite.errors import UserError
from evalsuite.resources import CONF_DIR
from evalsuite.schema import DriftReport, freeze_after_reading
from evalsuite.storage.atomic import write_json

log = logging.getLogger("evalsuite.compare")
_NOTHING_KEPT = ("interrupted before drift.json was written; nothing was kept: run the same "
                 "command again")


def runs_from(cfg: DictConfig) -> tuple[str, list[str], dict[str, Any] | None]:
    """(baseline, candidates, sweep info) from baseline=/candidate= or sweep=."""
    baseline = cfg.get("baseline")
    cands: Any = cfg.get("candidate")
    if cfg.get("sweep"):
        if cands:
            raise UserError("give either sweep=DIR or candidate=..., not both")
        return _sweep(Path(str(cfg.sweep)), baseline)
    if not baseline or not cands:
        raise UserError("name both runs: python -m evalsuite.compare baseline=RUN_DIR "
                        "candidate=RUN_DIR (candidate=[A,B] for several), or sweep=SWEEP_DIR")
    cands = [cands] if isinstance(cands, str) else [str(c) for c in cands]
    for c in cands:
        if Path(c).expanduser().resolve() == Path(str(baseline)).expanduser().resolve():
            log.warning("candidate %s is the baseline run itself: every difference will be "
                        "zero (a check of the pipeline, not of a model)", c)
    return str(baseline), cands, None


def _sweep(root: Path, baseline: Any) -> tuple[str, list[str], dict[str, Any]]:
    from evalsuite.drift.runs import load_run
    from evalsuite.report.sweep import pick_baseline, sweep_runs, swept_key

    runs = sweep_runs(root)
    loaded = {r: load_run(r) for r in runs}
    names = {r: run.label for r, run in loaded.items()}
    base, cands = pick_baseline(runs, None if baseline is None else str(baseline), names)
    order = [base, *cands]
    swept = swept_key([loaded[r].manifest.config or {} for r in order])
    info: dict[str, Any] = {"dir": str(root), "runs": [str(r) for r in order]}
    if swept is not None:
        info["key"], info["run_values"] = swept[0], swept[1]
    return str(base), [str(c) for c in cands], info


def settings_from(cfg: DictConfig) -> tuple[str, list[str], CompareSettings]:
    """Validate the composed config: (baseline, candidates, settings)."""
    baseline, cands, _ = runs_from(cfg)
    node = cfg.get("patterns")
    user = OmegaConf.to_container(node, resolve=True) if node is not None else {}
    if not isinstance(user, dict):
        raise UserError("patterns must be a mapping NAME: REGEX, e.g. patterns={mine: '^A:'}")
    patterns = list(DEFAULT_PATTERNS) if cfg.get("default_patterns", True) else []
    for name, regex in user.items():
        try:
            re.compile(str(regex))
        except re.error as e:
            raise UserError(f"pattern {name}: invalid regex {regex!r} ({e})") from None
        patterns.append(Pattern(str(name), str(regex)))
    examples = cfg.get("examples", 3)
    if isinstance(examples, bool) or not isinstance(examples, int) or not 0 <= examples <= 100:
        raise UserError(f"examples must be an integer from 0 to 100 (pairs shown per kind "
                        f"and task; 0: none), got {examples!r}")
    for key in ("n_boot", "seed"):
        if not isinstance(cfg.get(key), int) or isinstance(cfg.get(key), bool):
            raise UserError(f"{key} must be an integer, got {cfg.get(key)!r}")
    n_jobs = cfg.get("n_jobs", 1)
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or not (
            n_jobs == -1 or n_jobs >= 1):
        raise UserError(f"n_jobs must be -1 (every core) or a number of processes from 1, "
                        f"got {n_jobs!r}")
    if cfg.n_boot < 1:
        raise UserError(f"n_boot must be at least 1 (10000 is the default), got {cfg.n_boot}")
    for key in ("level", "alpha"):
        value = cfg.get(key)
        if not isinstance(value, float) or not 0 < value < 1:
            raise UserError(f"{key} must be a number between 0 and 1, got {value!r}")
    precision = cfg.get("embeddings_precision", "auto")
    if precision not in PRECISIONS:
        raise UserError(f"embeddings_precision must be one of {', '.join(PRECISIONS)} "
                        f"(auto: bf16 where the CPU has it), got {precision!r}")
    settings = CompareSettings(
        n_boot=cfg.n_boot, seed=cfg.seed, level=cfg.level, alpha=cfg.alpha,
        patterns=tuple(patterns), allow_prompt_mismatch=bool(cfg.allow_prompt_mismatch),
        embeddings=bool(cfg.embeddings), embeddings_precision=str(precision),
        embedding_cache=bool(cfg.get("embedding_cache", True)),
        cross_likelihood=bool(cfg.get("cross_likelihood", False)), examples=examples,
        n_jobs=n_jobs)
    return str(baseline), cands, settings


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="compare")
def hydra_main(cfg: DictConfig) -> None:
    out = Path(HydraConfig.get().runtime.output_dir)
    try:
        baseline, cands, sweep = runs_from(cfg)
        _, _, settings = settings_from(cfg)
        names = cfg.get("names")
        if names is not None and not isinstance(names, str):
            names = [str(n) for n in names]
        elif isinstance(names, str):
            raise UserError("names must be a list, baseline first: names=[base,tuned]")
        if names is None and sweep and sweep.get("key"):
            names = _sweep_names(sweep["key"], sweep["run_values"])
        rules = _gate_rules(cfg)
        remedies = _remedies(cfg)
        freeze_after_reading()  # this process ends after one comparison
        runs = _load(cfg, baseline, cands)
        drift = compare(runs[0], runs[1:], settings, names=names, remedies=remedies)
        if rules:  # before anything is written: a misspelt gate is bad input
            drift["gate"] = gate.summary(rules, gate.check(drift, rules, _directions(runs)))
    except UserError as e:
        discard_empty_dir(out)
        fail(e.message, e.exit_code)
        return
    except KeyboardInterrupt:
        # nothing is lost: the comparison reads stored runs only, and drift.json is
        # written at the end in one piece
        discard_empty_dir(out)
        fail(_NOTHING_KEPT, 130)
        return
    try:
        _write(cfg, out, drift, sweep)
    except KeyboardInterrupt:
        if (out / "drift.json").exists():
            fail(f"interrupted while rendering the report; {out / 'drift.json'} is complete: "
                 f"python -m evalsuite.report {out} renders it", 130)
        discard_empty_dir(out)
        fail(_NOTHING_KEPT, 130)
        return
    if "gate" in drift:
        _report_gate(drift)


def _sweep_names(key: str, values: list[Any]) -> list[str] | None:
    """Labels from what the sweep varied: `checkpoint-200` for a sweep over one training
    run's checkpoints, `seed=2` for another key; None (model names) for a sweep over
    models or where two labels would be the same."""
    if key == "model.name":
        return None
    short = [Path(str(v)).name if key == "model.path" else f"{key.rsplit('.', 1)[-1]}={v}"
             for v in values]
    return short if all(short) and len(set(short)) == len(short) else None


def _load(cfg: DictConfig, baseline: str, cands: list[str]) -> list[Run]:
    """The compared runs, read in the format format= names (else detected), with the
    tasks task_map= renames."""
    from evalsuite.drift.runs import load_run, map_tasks
    from evalsuite.ingest import check_format

    node = _plain(cfg.get("format"))
    if isinstance(node, dict):
        unknown = set(node) - {"baseline", "candidate"}
        if unknown:
            raise UserError(f"format= maps baseline and candidate to formats, not "
                            f"{sorted(unknown)[0]}: e.g. format={{baseline:lm-eval}}")
        fmts = [node.get("baseline"), *[node.get("candidate")] * len(cands)]
    else:
        fmts = [node] * (1 + len(cands))
    fmts = [check_format(f) for f in fmts]
    runs = [load_run(p, f) for p, f in zip([baseline, *cands], fmts, strict=True)]
    task_map = _plain(cfg.get("task_map"))
    if task_map is not None:
        if not isinstance(task_map, dict) or not task_map or not all(
                isinstance(v, str) and v for v in task_map.values()):
            raise UserError("task_map maps a task to the name it is paired under, e.g. "
                            f"task_map={{ifeval:ifeval_offline}}, got {task_map!r}")
        map_tasks(runs, {str(k): v for k, v in task_map.items()})
    return runs


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) \
        else node


def _remedies(cfg: DictConfig) -> dict[str, str]:
    """remedy={REMEDY:TREATED}: candidate labels (names= or the model names)."""
    value = _plain(cfg.get("remedy"))
    if value is None:
        return {}
    if not isinstance(value, dict) or not value or not all(
            isinstance(v, str | int) and not isinstance(v, bool) for v in value.values()):
        raise UserError(f"remedy must map a remedy's name to the candidate it started from, "
                        f"e.g. remedy={{unlearn:synthetic_qa}}; got {value!r}")
    return {str(k): str(v) for k, v in value.items()}


def _gate_rules(cfg: DictConfig) -> list[gate.Rule]:
    from evalsuite.storage.paths import uncreatable

    rules = gate.parse_rules(_plain(cfg.get("gate")))
    junit = cfg.get("junit")
    if junit is None:
        return rules
    if not rules:
        raise UserError("junit=PATH writes the gate's checks: give the gate too, e.g. "
                        "gate={ifeval*/inst_level_strict_acc:0.02}")
    path = Path(str(junit)).expanduser()
    if not isinstance(junit, str) or not junit or path.is_dir() or uncreatable(str(path.parent)):
        raise UserError(f"junit={junit} is not a file path that can be written: name a file, "
                        "e.g. junit=reports/gate.xml")
    return rules


def _directions(runs: list[Run]) -> dict[tuple[str, str], bool]:
    """(task, metric) -> higher is better, as the tasks declared it (lm-eval's
    higher_is_better, stored with the baseline)."""
    out: dict[tuple[str, str], bool] = {}
    for task in runs[0].samples:
        declared = runs[0].task_info(task).higher_is_better
        for metric, value in (declared if isinstance(declared, dict) else {}).items():
            if isinstance(value, bool):
                out[(task, str(metric).split(",")[0])] = value
    return out


def _report_gate(drift: dict[str, Any]) -> None:
    """One line per gated metric that failed, then the verdict; exit GATE_FAILED if any."""
    summary, base = drift["gate"], drift["baseline"]["label"]
    checks = [gate.Check(**c) for c in summary["checks"]]
    for c in checks:
        if not c.passed:
            print(c.line(base), file=sys.stderr)
    if summary["passed"]:
        print(f"gate passed: {len(checks)} gated metrics, none dropped significantly past "
              "its tolerance")
        return
    fail(f"gate failed: {summary['failures']} of {len(checks)} gated metrics dropped "
         "significantly past their tolerance (lines above); the report is complete",
         gate.GATE_FAILED)


def _write(cfg: DictConfig, out: Path, drift: dict[str, Any],
           sweep: dict[str, Any] | None) -> None:
    if sweep is not None:
        labels = [drift["baseline"]["label"], *drift["comparisons"]]
        if "run_values" in sweep:
            sweep["values"] = dict(zip(labels, sweep.pop("run_values"), strict=True))
        drift["sweep"] = sweep
    drift["config"] = OmegaConf.to_container(cfg, resolve=True)
    report = DriftReport.model_validate(drift)  # with the sweep and config added
    write_json(out / "drift.json", drift)
    for name, comp in drift["comparisons"].items():
        print(f"{drift['baseline']['label']} -> {name}")
        for task, t in comp["tasks"].items():
            for metric, r in t["metrics"].items():
                mark = "*" if r["significant"] else " "
                print(f"  {task:<24} {metric:<28} {_num(r['baseline'])} -> "
                      f"{_num(r['candidate'])} ({_num(r['delta'], '+.3f')} "
                      f"[{_num(r['ci_low'], '+.3f')}, {_num(r['ci_high'], '+.3f')}]) "
                      f"p={_num(r['p_value'], '.3g')}{mark}")
        for w in comp["warnings"]:
            print(f"  warning: {w}")
    for name, rec in drift.get("remedies", {}).items():
        print(f"{name}, remedy of {rec['treated']}: share of each loss recovered, "
              "of each gain kept")
        for r in rec["metrics"]:
            if r["kind"] == "unchanged":
                continue
            share = _num(r["share"], ".0%")
            iv = (f" [{_num(r['share_ci'][0], '.0%')}, {_num(r['share_ci'][1], '.0%')}]"
                  if r["estimable"] else " (no interval: the change itself was not shown)")
            print(f"  {r['task']:<24} {r['metric']:<28} "
                  f"{'recovered' if r['kind'] == 'lost' else 'kept'} {share}{iv}")
    print(f"drift: {out / 'drift.json'}")
    if cfg.get("junit") and "gate" in drift:
        from evalsuite.report.junit import write_junit

        path = write_junit(Path(str(cfg.junit)).expanduser(), drift["gate"],
                           drift["baseline"]["label"])
        print(f"junit: {path} (the gate's checks, for the CI's test report)")
    if cfg.get("explorer", True):
        from evalsuite.report.explorer import write_explorer

        page = write_explorer(drift, out)
        if page is not None:
            print(f"explorer: {page} (every pair, filters; opens from file://)")
    if cfg.get("render", True):
        from evalsuite.report import render_report
        from evalsuite.schema import view

        # from the validated record, exactly as `python -m evalsuite.report` re-renders it
        result = render_report(view(report), out)
        print(f"report: {result['report']} (tables/, figures/, report.html beside it)")


def _num(value: Any, fmt: str = ".3f") -> str:
    return "nan" if value is None else format(value, fmt)


def main() -> None:
    interrupt_on_sigterm()
    launch(hydra_main, "compare")


if __name__ == "__main__":
    main()
