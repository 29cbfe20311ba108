"""``sweep_dir=DIR``: run a sweep into a directory of the user's choosing, or finish an
earlier sweep in its own directory (after cancelled, timed-out or failed jobs), so that
``evalsuite.compare sweep=DIR`` sees every job. Its complete runs are kept as they are;
the others run again and take the answers they stored from the request cache.

The earlier sweep must be the same sweep: the same task overrides, so each job number
names the same job. Launcher settings (``hydra.launcher.*``: more time, another
partition) may change."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from evalsuite.errors import UserError

_SWEEP_DIR_ARG = re.compile(r"^\+{0,2}sweep_dir=(?P<value>.*)$")
# settings of the command on the login node, not of its jobs: free to change on a rerun
_LOGIN_ONLY = re.compile(r"^\+{0,2}(?:sweep_dir|slurm_on_interrupt)=")
_MULTIRUN = ("-m", "--multirun")


def _value(raw: str) -> str:
    return raw.strip().strip("'\"")


def task_overrides(argv: list[str]) -> list[str]:
    """The overrides Hydra records as the sweep's task overrides (``hydra.overrides.task``):
    not Hydra's own, not flags, not sweep_dir itself."""
    return [a for a in argv
            if "=" in a and not a.startswith("-") and not _LOGIN_ONLY.match(a)
            and not a.lstrip("+~").startswith(("hydra.", "hydra/"))]


def stored_task_overrides(sweep: Path) -> list[str] | None:
    """The task overrides of the sweep that wrote ``sweep`` (its multirun.yaml), or None
    when the directory holds no sweep. A file that is not a sweep's record is refused."""
    import yaml

    record = sweep / "multirun.yaml"
    if not record.is_file():
        return None
    try:  # untrusted: any failure to read it (a bad date, deep nesting) is one line
        data: Any = yaml.safe_load(record.read_text(encoding="utf-8"))
        stored = data["hydra"]["overrides"]["task"]
    except Exception as e:  # noqa: BLE001
        raise UserError(f"sweep_dir={sweep}: its multirun.yaml is not a Hydra sweep's record "
                        f"({type(e).__name__}): choose another sweep_dir") from None
    if not isinstance(stored, list) or not all(isinstance(s, str) for s in stored):
        raise UserError(f"sweep_dir={sweep}: its multirun.yaml is not a Hydra sweep's record "
                        "(hydra.overrides.task is not a list of overrides): choose another "
                        "sweep_dir")
    return [s for s in stored if not _LOGIN_ONLY.match(s)]


def check_sweep_dir(argv: list[str], typed: list[str] | None = None) -> None:
    """Refuse, before Hydra starts, a sweep_dir= that cannot be used as given. ``argv``
    is what Hydra will see (checkpoints=DIR expanded), ``typed`` what the user typed."""
    given = [a for a in argv if _SWEEP_DIR_ARG.match(a)]
    if not given:
        return
    if len(given) > 1:
        raise UserError("give sweep_dir=DIR once")
    value = _value(_SWEEP_DIR_ARG.match(given[0])["value"])  # type: ignore[index]
    if value in ("", "null"):
        return
    if not any(a in _MULTIRUN for a in argv):
        raise UserError(f"sweep_dir={value} names a sweep's directory: add -m (a single run "
                        "takes hydra.run.dir=DIR)")
    sweep = Path(value).expanduser()
    if sweep.exists() and not sweep.is_dir():
        raise UserError(f"sweep_dir={value} is a file: give a directory")
    stored = stored_task_overrides(sweep) if sweep.is_dir() else None
    if stored is None:
        if sweep.is_dir() and any(p.name != ".submitit" for p in sweep.iterdir()):
            raise UserError(f"sweep_dir={value} holds files but no sweep (no multirun.yaml): "
                            "give an empty or new directory, or an earlier sweep's")
        return
    from evalsuite.storage import redact

    # the sweep's jobs masked secrets in its record: compare what they could store
    here = [redact.redact(a) for a in task_overrides(argv)]
    if sorted(stored) == sorted(here):
        return
    only_there = sorted(set(stored) - set(here))
    only_here = sorted(set(here) - set(stored))
    paths = [s for s in only_there if s.startswith("model.path=")]
    if paths and any(a.lstrip("+").startswith("checkpoints=") for a in typed or argv):
        raise UserError(
            f"sweep_dir={value}: the checkpoints=DIR folder now holds other checkpoints than "
            f"that sweep evaluated: finish it with {paths[0]!r} in place of checkpoints=DIR, "
            "or give a new sweep_dir")
    raise UserError(
        f"sweep_dir={value} holds a different sweep (only there: {' '.join(only_there) or '-'}; "
        f"only here: {' '.join(only_here) or '-'}): repeat that sweep's overrides to finish "
        "it, or give a new sweep_dir")


def first_given(*values: object) -> object:
    """``${evalsuite.first:A,B}``: A unless it is null or empty, else B."""
    for v in values:
        if v is not None and str(v) not in ("", "null", "None"):
            return v
    return None
