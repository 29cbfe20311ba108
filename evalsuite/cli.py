"""``python -m evalsuite``: Hydra composes the config, evalsuite validates and runs it."""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import CompactHydraException
from hydra.types import RunMode
from omegaconf import DictConfig

from evalsuite import redact, sweeps
from evalsuite.config import from_hydra
from evalsuite.errors import UserError
from evalsuite.recipe import _registry
from evalsuite.table import results_table

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
# Trained models' configs (CACHE/conf/model/NAME.yaml, written by evalsuite.recipe) join
# the search path of every evalsuite Hydra app, command line and compose API alike.
_registry.register_search_path()
# ${evalsuite.gpus:N} in conf/hydra/launcher/local.yaml; registered wherever the task
# function is imported (the command line, and submitit's and joblib's job processes).
sweeps.register_resolvers()
GROUPS = ("model", "backend", "suite", "judge")
log = logging.getLogger("evalsuite")

# `+model=a,b` / `model=a` / `++suite=x`: simple comma lists we can check up front.
_GROUP_OVERRIDE = re.compile(r"^[+~]{0,2}(?P<group>\w+)=(?P<value>[\w.\-]+(,[\w.\-]+)*)$")
_CACHE_OVERRIDE = re.compile(r"^\+{0,2}cache_dir=(?P<value>.+)$")


def options(group: str) -> list[str]:
    if group == "model":  # shipped configs and the trained ones in the cache
        return _registry.model_names()
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def _hint(group: str, value: str) -> str:
    hint = f"add conf/{group}/{value}.yaml"
    if group == "model":
        hint += f" (or train one: python -m evalsuite.recipe name={value})"
    return hint


def precheck(argv: list[str]) -> None:
    """Refuse unparsable overrides and unknown config names in one line, before Hydra
    prints a multi-line error."""
    _parse_overrides(argv)
    sweeps.check_launcher(argv)
    for arg in argv:  # cache_dir= also moves the trained models' config directory
        m = _CACHE_OVERRIDE.match(arg)
        if m:
            value = m["value"].strip("'\"")
            _registry.set_cli_cache(None if value in ("", "null") else value)
    for arg in argv:
        m = _GROUP_OVERRIDE.match(arg)
        if not m or m["group"] not in GROUPS:
            continue
        for value in m["value"].split(","):
            if value not in options(m["group"]):
                raise UserError(
                    f"unknown {m['group']} {value!r}: choose one of "
                    f"{', '.join(options(m['group']))} or {_hint(m['group'], value)}"
                )


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
    print(f"evalsuite: {redact.redact(message)}", file=sys.stderr)
    sys.exit(code)


class SweepJobError(CompactHydraException):
    """A sweep job's mistake. Raised rather than exiting, so that Hydra records the job as
    failed and runs the others (an exit would kill a joblib worker, or leave submitit
    without a result); the sweep then ends with this line and exit status 1."""


def _in_sweep() -> bool:
    return HydraConfig.get().mode == RunMode.MULTIRUN


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def hydra_main(cfg: DictConfig) -> None:
    from evalsuite.runner import evaluate

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    _keep_secrets_out(cfg, run_dir)
    try:
        run_cfg = from_hydra(cfg, run_dir)
        log.info("resolved config:\n%s", _yaml(run_cfg.resolved))
        result = evaluate(run_cfg)
    except UserError as e:
        discard_empty_dir(run_dir)
        if _in_sweep():
            line = f"evalsuite: sweep job {run_dir.name}: {e.message}"
            print(line, file=sys.stderr, flush=True)  # now, and in submitit's job log
            raise SweepJobError(line) from None
        fail(e.message, e.exit_code)
        return
    except KeyboardInterrupt:
        fail(f"interrupted; finished tasks are kept in {run_dir} (status partial)", 130)
        return
    print(results_table(result.metrics, result.manifest["tasks"]))
    print(f"run directory: {run_dir}")


def _keep_secrets_out(cfg: DictConfig, run_dir: Path) -> None:
    """Mask secrets in every log line from now on, and in the copies of the config and
    overrides Hydra has already written (a key typed into an override lands there)."""
    from omegaconf import OmegaConf

    redact.register(OmegaConf.select(cfg, "backend.api_key_env", default=None))
    redact.install_log_filter()
    for name in ("config.yaml", "overrides.yaml", "hydra.yaml"):
        redact.redact_file(run_dir / ".hydra" / name)
    redact.redact_file(run_dir.parent / "multirun.yaml")  # a sweep's own copy


def _yaml(obj: object) -> str:
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(OmegaConf.create(obj))


def _interrupt_on_sigterm() -> None:
    # A scheduler's SIGTERM (preemption, scancel) gets the same clean stop as Ctrl-C:
    # servers stopped, finished tasks kept, the run marked partial.
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def main() -> None:
    _interrupt_on_sigterm()
    try:
        precheck(sys.argv[1:])
        # checkpoints=DIR -> model.path=DIR/checkpoint-100,... before Hydra parses argv
        sys.argv[1:] = sweeps.expand_checkpoints(sys.argv[1:])
    except UserError as e:
        fail(e.message, e.exit_code)
    # Keep lm-eval/transformers from trying the hub for things already on disk when
    # the user is offline; a user with a hub simply leaves these unset.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    hydra_main()
