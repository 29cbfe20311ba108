"""A Hydra sweep directory as a baseline and candidates, and what was swept."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from evalsuite.errors import UserError

# Config keys that differ between any two runs without being what the user swept.
_IGNORED = re.compile(r"^(output_root|cache_dir)$|^hydra\.")


def sweep_runs(root: Path) -> list[Path]:
    """Run directories of a sweep in job order (Hydra names them NUM_MODEL)."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"sweep directory {root} does not exist: pass the directory a "
                        "`python -m evalsuite -m ...` sweep printed (runs/sweeps/TIME)")
    runs = [p for p in root.iterdir() if (p / "manifest.json").is_file()]
    if len(runs) < 2:
        raise UserError(f"{root} holds {len(runs)} run director{'y' if len(runs) == 1 else 'ies'}"
                        "; a sweep report needs at least two (baseline and a candidate)")

    def key(p: Path) -> tuple[int, str]:
        m = re.match(r"(\d+)_", p.name)
        return (int(m[1]) if m else 1 << 30, p.name)

    return sorted(runs, key=key)


def pick_baseline(runs: list[Path], baseline: str | None,
                  names: dict[Path, str]) -> tuple[Path, list[Path]]:
    """The first job unless ``baseline`` names a run (its directory, job folder name,
    model name or label)."""
    if not baseline:
        return runs[0], runs[1:]
    want = str(baseline)
    for run in runs:
        if want in (str(run), run.name, names.get(run)) or (
                Path(want).exists() and Path(want).resolve() == run.resolve()):
            return run, [r for r in runs if r != run]
    raise UserError(f"baseline={want!r} is none of the sweep's runs "
                    f"({', '.join(names.get(r, r.name) for r in runs)}); name one of them")


def _flatten(cfg: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(cfg, dict):
        out: dict[str, Any] = {}
        for k, v in cfg.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: cfg}


def swept_key(configs: list[dict[str, Any]]) -> tuple[str, list[Any]] | None:
    """The config key whose value differs between runs (model.name beats the paths it
    implies), with each run's value; None when nothing differs."""
    flat = [_flatten(c or {}) for c in configs]
    keys = sorted({k for f in flat for k in f})
    differing = [k for k in keys if not _IGNORED.search(k)
                 and len({repr(f.get(k)) for f in flat}) > 1]
    if not differing:
        return None
    # a model sweep differs in model.name (and the paths it implies); a sweep over the
    # checkpoints of one training run only in model.path
    for preferred in ("model.name", "model.path"):
        if preferred in differing and len({repr(f.get(preferred)) for f in flat}) == len(flat):
            key = preferred
            break
    else:
        key = differing[0]
    return key, [f.get(key) for f in flat]
