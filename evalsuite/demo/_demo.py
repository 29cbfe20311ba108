"""The demo: recipe -> evaluate base and trained -> compare -> report, and the controls."""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass
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
NAMES = {"positive": ["base", "synthetic_qa"], "negative": ["seed_a", "seed_b"]}


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
    out = d.get("out")
    if out is None:
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
    )


def _fraction(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise UserError(f"{key} must be a fraction between 0 and 1 (0.05 is 5 points), "
                        f"got {value!r}")
    return float(value)


def recipe_settings(s: DemoSettings) -> Any:
    """conf/recipe.yaml's values with the demo's overrides, validated by the recipe."""
    from evalsuite.recipe import from_hydra as recipe_from_hydra

    base = OmegaConf.load(PACKAGE_CONF_DIR / "recipe.yaml")
    for key in ("defaults", "hydra"):
        base.pop(key, None)
    merged = OmegaConf.merge(base, {"base": s.base, "cache_dir": s.cache_dir}, s.recipe)
    return recipe_from_hydra(merged)  # type: ignore[arg-type]


def _common(s: DemoSettings) -> list[str]:
    args = [f"backend={s.backend}", *s.eval]
    if s.cache_dir is not None:
        args.append(f"cache_dir={s.cache_dir}")
    return args


def run(s: DemoSettings) -> dict[str, Any]:
    started = time.perf_counter()
    if s.control == "positive":
        runs, key_extra = _positive_runs(s)
    else:
        runs, key_extra = _negative_runs(s)
    tmp = _steps.compare(runs[0], runs[1], NAMES[s.control], s.out, ["embeddings=true"])
    drift = load_drift(tmp)  # through the typed records, as the report reads it
    cand = NAMES[s.control][1]
    if s.control == "positive":
        verdict = _controls.positive(drift, cand, min_auc=s.min_auc,
                                     expected_drop=s.expected_drop)
    else:
        verdict = _controls.negative(drift, cand, auc_tolerance=s.auc_tolerance)
        verdict.checks.insert(0, _controls.sampling_happened(drift, cand))
    record = {"demo": {"control": s.control, "size": s.size, "backend": s.backend,
                       "runs": [str(r) for r in runs], **key_extra},
              **verdict.to_dict(),
              "wall_s": round(time.perf_counter() - started, 1)}
    write_json(tmp / "controls.json", record)
    _append_to_report(tmp / "report.md", verdict, s)
    # a committed report must not name this machine's paths (runs/, the cache)
    _steps.portable(tmp, Path.cwd(), cache_dir(s.cache_dir))
    _steps.publish(tmp, s.out)
    print("\n" + "\n".join(verdict.lines()))
    if verdict.outcome == "inconclusive":
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
    return [base_run, cand_run], {"recipe_key": result.key, "recipe_model": result.name}


def _negative_runs(s: DemoSettings) -> tuple[list[Path], dict[str, Any]]:
    args = [f"+model={s.base}", f"backend={s.backend}", *s.negative_eval,
            f"+suite.gen_kwargs={{do_sample:true,temperature:{s.temperature}}}", *s.extra_eval]
    if s.cache_dir is not None:
        args.append(f"cache_dir={s.cache_dir}")
    runs = [_steps.evaluate(f"{s.base}-seed{seed}", [*args, f"seed={seed}"], s.runs_dir, {})
            for seed in s.seeds]
    return runs, {"temperature": s.temperature, "seeds": s.seeds}


def _append_to_report(report: Path, verdict: _controls.Verdict, s: DemoSettings) -> None:
    if not report.is_file():
        return
    lines = ["", "## Control", ""]
    what = ("the synthetic-Q-A checkpoint against its base: the drift must show"
            if s.control == "positive" else
            f"two runs of {s.base} sampled at temperature {s.temperature} with seeds "
            f"{s.seeds[0]} and {s.seeds[1]}: no drift may show")
    lines.append(f"The {s.control} control, {what}. "
                 f"**{verdict.outcome.capitalize()}**"
                 + (f" (size {s.size}: too few samples for the drop it looks for)"
                    if verdict.outcome == "inconclusive" else "") + ".")
    lines.append("")
    lines.extend(f"- {'pass' if c.passed else 'not powered' if c.inconclusive else 'FAIL'}: "
                 f"{c.name}: {c.detail}" for c in verdict.checks)
    write_text(report, report.read_text(encoding="utf-8").rstrip("\n") + "\n" +
               "\n".join(lines) + "\n")
