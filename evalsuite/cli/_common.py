"""What every command-line entry point shares: one-line failures, up-front checks of the
overrides, and the Hydra plugins evalsuite's configs need."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from evalsuite.config import search_path, sweeps
from evalsuite.config.overrides import check_keys
from evalsuite.errors import UserError
from evalsuite.resources import CONF_DIR
from evalsuite.storage import redact
from evalsuite.storage.paths import uncreatable

GROUPS = ("model", "backend", "suite", "judge")

# `+model=a,b` / `model=a` / `++suite=x`: simple comma lists we can check up front.
_GROUP_OVERRIDE = re.compile(r"^[+~]{0,2}(?P<group>\w+)=(?P<value>[\w.\-]+(,[\w.\-]+)*)$")
_CACHE_OVERRIDE = re.compile(r"^\+{0,2}cache_dir=(?P<value>.+)$")
# Directories a command will create: checked before Hydra makes the run directory (its
# own error is a traceback) and before any model loads.
_DIR_OVERRIDE = re.compile(
    r"^\+{0,2}(?P<key>hydra\.run\.dir|hydra\.sweep\.dir|sweep_dir|cache_dir|request_cache_dir|out|runs_dir)"
    r"=(?P<value>.+)$")


def register_hydra() -> None:
    """The search path of trained models' configs and the ``${evalsuite.gpus:N}`` resolver.

    Called by each entry point before Hydra composes; idempotent. A module that defines a
    Hydra task function calls it on import too, because sweep job processes (joblib,
    submitit) compose again after importing the function, never running ``main()``.
    """
    search_path.register_search_path()
    sweeps.register_resolvers()


def launch(hydra_main: Callable[[], None], config: str, one_job: str | None = None) -> None:
    """Start a secondary Hydra app composing conf/``config``.yaml: plugins registered,
    overrides checked against that config, Ctrl-C outside the app's own handling is exit
    130 without a traceback; ``one_job`` (e.g. "the demo") names an app that refuses
    ``-m``, whose jobs would compete for the same cores."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if one_job and any(a in ("-m", "--multirun") for a in sys.argv[1:]):
        fail(f"{one_job} runs one job at a time: drop -m/--multirun", 2)
    register_hydra()
    try:
        _parse_overrides(sys.argv[1:])
        _check_dirs(sys.argv[1:])
        check_keys(sys.argv[1:], config, config_dirs(sys.argv[1:]))
    except UserError as e:
        fail(e.message, e.exit_code)
    try:
        hydra_main()
    except KeyboardInterrupt:
        exit_with(130)


def config_dirs(argv: list[str]) -> list[Path]:
    """The user's config directories from Hydra's ``--config-dir DIR`` / ``-cd DIR``."""
    dirs = []
    for i, arg in enumerate(argv):
        value = None
        if arg in ("--config-dir", "-cd") and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--config-dir="):
            value = arg.split("=", 1)[1]
        if value is not None:
            path = Path(value).expanduser()
            if not path.is_dir():
                raise UserError(f"--config-dir {value} is not a directory: create it with "
                                "model/, suite/ or judge/ YAMLs inside, or fix the path")
            dirs.append(path)
    return dirs


def options(group: str, user_dirs: list[Path] | None = None) -> list[str]:
    """Every NAME ``group=NAME`` accepts: the user's directories, shipped configs and (for
    models) the trained ones in the cache."""
    names = {p.stem for d in user_dirs or () for p in (d / group).glob("*.yaml")}
    if group == "model":
        return sorted(names | set(search_path.model_names()))
    return sorted(names | {p.stem for p in (CONF_DIR / group).glob("*.yaml")})


def _hint(group: str, value: str) -> str:
    hint = f"add {group}/{value}.yaml to a directory given with --config-dir DIR"
    if group == "model":
        hint += f" (or train one: python -m evalsuite.recipe name={value})"
    return hint


def precheck(argv: list[str]) -> None:
    """Refuse unparsable overrides and unknown config names in one line, before Hydra
    prints a multi-line error."""
    _parse_overrides(argv)
    _check_dirs(argv)
    sweeps.check_launcher(argv)
    user_dirs = config_dirs(argv)
    for arg in argv:  # cache_dir= also moves the trained models' config directory
        m = _CACHE_OVERRIDE.match(arg)
        if m:
            value = m["value"].strip("'\"")
            search_path.set_cli_cache(None if value in ("", "null") else value)
    for arg in argv:
        m = _GROUP_OVERRIDE.match(arg)
        if not m or m["group"] not in GROUPS:
            continue
        known = options(m["group"], user_dirs)
        for value in m["value"].split(","):
            if value not in known:
                raise UserError(
                    f"unknown {m['group']} {value!r}: choose one of "
                    f"{', '.join(known)} or {_hint(m['group'], value)}"
                )


def _check_dirs(argv: list[str]) -> None:
    for arg in argv:
        m = _DIR_OVERRIDE.match(arg)
        if not m:
            continue
        value = m["value"].strip("'\"")
        if value in ("", "null") or "${" in value:  # interpolations resolve later
            continue
        problem = uncreatable(value)
        if problem:
            raise UserError(f"{m['key']}={value} cannot be created ({problem}): choose a "
                            "directory you can write to")


def _parse_overrides(argv: list[str]) -> None:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    for arg in argv:
        # Hydra's flags (-m, --cfg job, -cn NAME, ...) and their values are not overrides
        if arg.startswith("-") or "=" not in arg:
            continue
        try:
            parser.parse_overrides([arg])
        except OverrideParseException as e:
            reason = " ".join(str(e).split())
            raise UserError(f"cannot parse the override {arg!r} ({reason}); quote values "
                            "with brackets or commas, e.g. 'tasks=[a,b]' or "
                            "\"template='Q: {question}'\"") from e


def discard_empty_dir(run_dir: Path) -> None:
    # Hydra creates the run dir (with .hydra/ and a log) before we can validate the
    # config; a run that never started must not leave a directory that looks like a run.
    if not run_dir.is_dir() or (run_dir / "manifest.json").exists():
        return
    if all(p.name == ".hydra" or p.suffix == ".log" for p in run_dir.iterdir()):
        shutil.rmtree(run_dir, ignore_errors=True)


def fail(message: str, code: int) -> None:
    close_bars()
    print(f"evalsuite: {redact.redact(message)}", file=sys.stderr, flush=True)
    exit_with(code)


def exit_with(code: int) -> None:
    """sys.exit(code), with the exit status ``code`` even after a caught Ctrl-C.

    CPython remembers a KeyboardInterrupt that escaped code run by ``exec(str)`` (as
    dataclasses' generated methods are, while modules import) as "unhandled", even when
    a caller caught it, and then ends the process by SIGINT (status -2) instead of the
    status asked for. The flag is reset by every ``exec`` of a string: run one that
    cannot fail."""
    exec("pass")  # noqa: S102 - a constant: resets the interpreter's unhandled-interrupt flag
    sys.exit(code)


def close_bars() -> None:
    """Close every progress bar still open. An interrupt leaves the bars of the loops it
    broke out of (lm-eval's, vLLM's, ours) open, and each redraws itself on stderr when it
    is collected at exit: after the one line that must be the last."""
    tqdm = sys.modules.get("tqdm")
    if tqdm is None:
        return
    for bar in list(getattr(tqdm.tqdm, "_instances", ())):
        with contextlib.suppress(Exception):  # a bar half torn down: nothing left to draw
            bar.close()
    sys.stderr.flush()


def interrupt_on_sigterm() -> None:
    # A scheduler's SIGTERM (preemption, scancel) gets the same clean stop as Ctrl-C:
    # servers stopped, finished tasks kept, the run marked partial.
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)
