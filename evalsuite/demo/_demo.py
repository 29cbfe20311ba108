"""The demo: recipe -> evaluate base and trained -> compare -> report, and the controls."""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from evalsuite.demo import _controls, _steps
from evalsuite.errors import UserError
from evalsuite.report import load_drift
from evalsuite.resources import CONF_DIR as PACKAGE_CONF_DIR
from evalsuite.storage.atomic import write_json, write_text
from evalsuite.storage.cachedir import cache_dir

CONTROLS = ("positive", "negative")
NAMES = {"positive": ["base", "synthetic_qa", "synthetic_qa+unlearn"],
         "negative": ["seed_a", "seed_b"]}


@dataclass(frozen=True)
class DemoSettings:
    control: str
    size: str
    base: str
    backend: str
    out: Path
    runs_dir: Path
    cache_dir: str | None
    recipe: dict[str, Any]
    eval: list[str]
    extra_eval: list[str]
    negative_eval: list[str]
    temperature: float
    seeds: list[int]
    min_auc: float
    auc_tolerance: float
    expected_drop: float = 0.05
    unlearn: dict[str, Any] = field(default_factory=dict)
    """conf/recipe.yaml's unlearn.* settings for the third checkpoint."""
    remedy: bool = True
    """Train and evaluate the third checkpoint (the paper's remedy)."""
    ablation: str | None = None
    """The remedy's term set in an ablation sweep (conf/ablation/NAME.yaml)."""


def _strs(value: Any, key: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise UserError(f"{key} must be a list of overrides, e.g. {key}=[limit=5]")
    return [str(v) for v in value]


def from_hydra(cfg: DictConfig, size: str, backend: str | None = None) -> DemoSettings:
    """The composed demo config; ``size`` and ``backend`` are the group choices (no
    backend: vllm where it imports, else hf)."""
    d = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(d, dict)
    control = d.get("control")
    if control not in CONTROLS:
        raise UserError(f"control must be one of {', '.join(CONTROLS)}, got {control!r}")
    if backend is None:
        backend = "vllm" if importlib.util.find_spec("vllm") else "hf"
    recipe = d.get("recipe") or {}
    if not isinstance(recipe, dict):
        raise UserError("recipe must be a mapping of conf/recipe.yaml keys, e.g. recipe.lr=2e-4")
    neg = d.get("negative") or {}
    seeds = neg.get("seeds") or []
    if (not isinstance(seeds, list) or len(seeds) != 2 or len(set(seeds)) != 2
            or not all(isinstance(s, int) for s in seeds)):
        raise UserError(f"negative.seeds must be two different integers, got {seeds!r}")
    temperature = neg.get("temperature")
    if not isinstance(temperature, int | float) or not temperature > 0:
        raise UserError(f"negative.temperature must be above 0 (sampling), got {temperature!r}")
    unlearn = d.get("unlearn") or {}
    if not isinstance(unlearn, dict):
        raise UserError("unlearn must be a mapping of conf/recipe.yaml's unlearn keys, e.g. "
                        "unlearn.steps=10")
    remedy = d.get("remedy", True)
    if not isinstance(remedy, bool):
        raise UserError(f"remedy must be true or false, got {remedy!r}")
    ablation = d.get("ablation")
    if ablation is not None and (control != "positive" or not remedy):
        raise UserError(f"ablation={ablation} varies the remedy: it needs control=positive "
                        "and remedy=true")
    out = d.get("out")
    if ablation is not None:  # one report per job, beside each other
        out = f"{out or 'reports/ablation' + ('' if size == 'full' else f'_{size}')}/{ablation}"
    elif out is None:
        out = "reports/" + ("demo" if control == "positive" else "negative_control") + (
            "" if size == "full" else f"_{size}")
    return DemoSettings(
        control=control, size=size, base=str(d.get("base")), backend=backend,
        out=Path(str(out)), runs_dir=Path(str(d.get("runs_dir") or "runs/demo")),
        cache_dir=d.get("cache_dir"), recipe=recipe, eval=_strs(d.get("eval"), "eval"),
        extra_eval=_strs(d.get("extra_eval"), "extra_eval"),
        negative_eval=_strs(neg.get("eval"), "negative.eval"), temperature=float(temperature),
        seeds=list(seeds), min_auc=float(d.get("min_auc", 0.65)),
        auc_tolerance=float(d.get("auc_tolerance", 0.1)),
        expected_drop=_fraction(d.get("expected_drop", 0.05), "expected_drop"),
        unlearn=unlearn, remedy=remedy, ablation=ablation,
    )


def _fraction(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise UserError(f"{key} must be a fraction between 0 and 1 (0.05 is 5 points), "
                        f"got {value!r}")
    return float(value)


def _recipe_conf() -> DictConfig:
    """conf/recipe.yaml's keys, without what only Hydra reads (both recipe stages)."""
    base = OmegaConf.load(PACKAGE_CONF_DIR / "recipe.yaml")
    for key in ("defaults", "hydra"):
        base.pop(key, None)
    return base  # type: ignore[return-value]


def recipe_settings(s: DemoSettings) -> Any:
    """conf/recipe.yaml's values with the demo's overrides, validated by the recipe."""
    from evalsuite.recipe import from_hydra as recipe_from_hydra

    merged = OmegaConf.merge(_recipe_conf(), {"base": s.base, "cache_dir": s.cache_dir},
                             s.recipe)
    return recipe_from_hydra(merged)  # type: ignore[arg-type]


def unlearn_settings(s: DemoSettings, start: str) -> Any:
    """The unlearning stage from ``start`` with the demo's unlearn.* settings, validated
    by the recipe (ranges, weights; the budget once the synthetic record is read)."""
    from evalsuite.recipe._unlearn import from_hydra as unlearn_from_hydra

    merged = OmegaConf.merge(_recipe_conf(), {"base": s.base, "cache_dir": s.cache_dir,
                                    "stage": "unlearn", "start": start},
                             {"unlearn": s.unlearn})
    return unlearn_from_hydra(merged)  # type: ignore[arg-type]


def check(s: DemoSettings) -> None:
    """Every setting the demo will use, refused in one line before anything runs."""
    if s.control != "positive":
        return
    recipe = recipe_settings(s)
    if s.remedy:
        from evalsuite.recipe._unlearn_train import check as check_unlearn

        # the base model stands in for the checkpoint that does not exist yet
        check_unlearn(unlearn_settings(s, s.base).train, recipe.train.steps)


def _common(s: DemoSettings) -> list[str]:
    args = [f"backend={s.backend}", *s.eval]
    if s.cache_dir is not None:
        args.append(f"cache_dir={s.cache_dir}")
    return args


def run(s: DemoSettings) -> dict[str, Any]:
    check(s)
    started = time.perf_counter()
    if s.control == "positive":
        runs, key_extra = _positive_runs(s)
    else:
        runs, key_extra = _negative_runs(s)
    names = NAMES[s.control][:len(runs)]
    extra = ["embeddings=true"]
    if len(runs) == 3:  # the remedy, also against the checkpoint it started from
        extra.append(f"remedy={{{names[2]}:{names[1]}}}")
    tmp = _steps.compare(runs[0], runs[1:], names, s.out, extra)
    drift = load_drift(tmp)  # through the typed records, as the report reads it
    cand = names[1]
    verdicts = []
    if s.control == "positive":
        verdict = _controls.positive(drift, cand, min_auc=s.min_auc,
                                     expected_drop=s.expected_drop)
    else:
        verdict = _controls.negative(drift, cand, auc_tolerance=s.auc_tolerance)
        verdict.checks.insert(0, _controls.sampling_happened(drift, cand))
    verdicts.append(verdict)
    if len(runs) == 3:
        verdicts.append(_controls.remedy(drift, names[2]))
    record = {"demo": {"control": s.control, "size": s.size, "backend": s.backend,
                       "runs": [str(r) for r in runs], "ablation": s.ablation,
                       "unlearn": s.unlearn if len(runs) == 3 else None, **key_extra},
              **verdict.to_dict(),
              **({"remedy": verdicts[1].to_dict()} if len(verdicts) > 1 else {}),
              "wall_s": round(time.perf_counter() - started, 1)}
    write_json(tmp / "controls.json", record)
    record["out"] = str(s.out.resolve())  # not in controls.json: a path of this machine
    _append_to_report(tmp / "report.md", verdicts, s)
    # a committed report must not name this machine's paths (runs/, the cache)
    _steps.portable(tmp, Path.cwd(), cache_dir(s.cache_dir))
    _steps.publish(tmp, s.out)
    for v in verdicts:
        print("\n" + "\n".join(v.lines()))
    if any(v.outcome == "inconclusive" for v in verdicts):
        print(f"  (size={s.size} has too few samples to show the drop the control looks "
              "for, see [?]; python -m evalsuite.demo runs the full size)")
    print(f"\nreport: {s.out / 'report.md'} (report.html, tables/, figures/ beside it)")
    if (s.out / "explorer.html").is_file():
        print(f"every answer, side by side with filters: {s.out / 'explorer.html'} "
              "(open it in a browser)")
    return record


def _positive_runs(s: DemoSettings) -> tuple[list[Path], dict[str, Any]]:
    from evalsuite.recipe import run as recipe_run

    print("== recipe: train (or reuse) the synthetic-Q-A checkpoint", flush=True)
    result = recipe_run(recipe_settings(s))
    r = result.record
    print(f"== recipe: {result.checkpoint} ("
          + ("cached, nothing trained" if result.cached else f"trained in {r['train_wall_s']} s")
          + f"; loss {r['loss_first']:.3f} -> {r['loss_last']:.3f})", flush=True)
    common = [*_common(s), *s.extra_eval]
    base_run = _steps.evaluate(s.base, [f"+model={s.base}", *common], s.runs_dir, {})
    cand_run = _steps.evaluate(result.name, [f"+model={result.name}", *common], s.runs_dir,
                               {"recipe_key": result.key})
    extra = {"recipe_key": result.key, "recipe_model": result.name}
    if not s.remedy:
        return [base_run, cand_run], extra
    from evalsuite.recipe._unlearn import run as unlearn_run

    print("\n== recipe: unlearn (or reuse) the synthetic format, the paper's remedy",
          flush=True)
    fixed = unlearn_run(unlearn_settings(s, result.name))
    r = fixed.record
    terms = ", ".join(f"{k} {v[0]:.3f} -> {v[-1]:.3f}" for k, v in r["terms"].items())
    print(f"== recipe: {fixed.checkpoint} ("
          + ("cached, nothing trained" if fixed.cached else f"trained in {r['train_wall_s']} s")
          + f"; {terms})", flush=True)
    fixed_run = _steps.evaluate(fixed.name, [f"+model={fixed.name}", *common], s.runs_dir,
                                {"recipe_key": fixed.key})
    return [base_run, cand_run, fixed_run], {**extra, "unlearn_key": fixed.key,
                                             "unlearn_model": fixed.name}


def _negative_runs(s: DemoSettings) -> tuple[list[Path], dict[str, Any]]:
    args = [f"+model={s.base}", f"backend={s.backend}", *s.negative_eval,
            f"+suite.gen_kwargs={{do_sample:true,temperature:{s.temperature}}}", *s.extra_eval]
    if s.cache_dir is not None:
        args.append(f"cache_dir={s.cache_dir}")
    runs = [_steps.evaluate(f"{s.base}-seed{seed}", [*args, f"seed={seed}"], s.runs_dir, {})
            for seed in s.seeds]
    return runs, {"temperature": s.temperature, "seeds": s.seeds}


def _append_to_report(report: Path, verdicts: list[_controls.Verdict],
                      s: DemoSettings) -> None:
    if not report.is_file():
        return
    lines = ["", "## Controls" if len(verdicts) > 1 else "## Control"]
    for verdict in verdicts:
        what = {
            "positive": "the synthetic-Q-A checkpoint against its base: the drift must show",
            "negative": f"two runs of {s.base} sampled at temperature {s.temperature} with "
                        f"seeds {s.seeds[0]} and {s.seeds[1]}: no drift may show",
            "remedy": "the unlearned checkpoint against the synthetic-Q-A one it started "
                      "from: the template pattern must fall, a significant share of the "
                      "instruction-level IFEval drop must come back, and the benchmark "
                      "average must not fall below synthetic_qa's interval",
        }[verdict.control]
        lines += ["", f"The {verdict.control} control, {what}. "
                  f"**{verdict.outcome.capitalize()}**"
                  + (f" (size {s.size}: too few samples for what it looks for)"
                     if verdict.outcome == "inconclusive" else "") + ".", ""]
        lines.extend(f"- {'pass' if c.passed else 'not powered' if c.inconclusive else 'FAIL'}"
                     f": {c.name}: {c.detail}" for c in verdict.checks)
    write_text(report, report.read_text(encoding="utf-8").rstrip("\n") + "\n" +
               "\n".join(lines) + "\n")
