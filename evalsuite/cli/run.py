"""``python -m evalsuite``: Hydra composes the config, evalsuite validates and runs it."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import CompactHydraException
from hydra.types import RunMode
from omegaconf import DictConfig

from evalsuite.cli import slurm_job
from evalsuite.cli._common import (
    config_dirs,
    discard_empty_dir,
    fail,
    interrupt_on_sigterm,
    precheck,
    register_hydra,
)
from evalsuite.config import from_hydra, sweepdir, sweeps
from evalsuite.config.overrides import check_keys
from evalsuite.errors import UserError
from evalsuite.resources import CONF_DIR
from evalsuite.run.table import results_table
from evalsuite.storage import redact
from evalsuite.storage.atomic import redact_file
from evalsuite.storage.jsonable import read_object

# Job processes of a sweep import this module to unpickle the task function and then
# compose again: the search path and resolver must be registered here, on import.
register_hydra()
log = logging.getLogger("evalsuite")


class SweepJobError(CompactHydraException):
    """A sweep job's mistake. Raised rather than exiting, so that Hydra records the job as
    failed and runs the others (an exit would kill a joblib worker, or leave submitit
    without a result); the sweep then ends with this line and exit status 1."""


def _in_sweep() -> bool:
    return HydraConfig.get().mode == RunMode.MULTIRUN


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def hydra_main(cfg: DictConfig) -> None:
    from evalsuite.run.runner import evaluate

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        if _in_sweep() and slurm_job.in_slurm_job():
            slurm_job.install()  # SLURM's SIGTERM and time-limit warning: a clean stop
        _keep_secrets_out(cfg, run_dir)
        if _in_sweep() and cfg.get("sweep_dir") and _complete(run_dir):
            print(f"kept: {run_dir} already holds this job's complete run")
            return
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
    except slurm_job.JobStopped as e:
        if not _in_sweep():
            fail(f"{e.reason}; finished tasks are kept in {run_dir} (status partial)", 130)
        log.warning("stopped cleanly: %s; %s is partial, its stored answers are kept",
                    e.reason, run_dir)
        note = slurm_job.hand_over(e)  # the time limit: submitit may requeue (and exit)
        line = f"evalsuite: sweep job {run_dir.name}: stopped cleanly: {e.reason}{note}"
        print(line, file=sys.stderr, flush=True)
        raise SweepJobError(line) from None
    except KeyboardInterrupt:
        fail(f"interrupted; finished tasks are kept in {run_dir} (status partial)", 130)
        return
    finally:
        slurm_job.restore()  # submitit's own again, while it writes the job's result
    print(results_table(result.metrics, result.manifest["tasks"]))
    print(f"run directory: {run_dir}")


def _complete(run_dir: Path) -> bool:
    return read_object(run_dir / "manifest.json").get("status") == "complete"


def _keep_secrets_out(cfg: DictConfig, run_dir: Path) -> None:
    """Mask secrets in every log line from now on, and in the copies of the config and
    overrides Hydra has already written (a key typed into an override lands there)."""
    from omegaconf import OmegaConf

    redact.register(OmegaConf.select(cfg, "backend.api_key_env", default=None))
    redact.install_log_filter()
    for name in ("config.yaml", "overrides.yaml", "hydra.yaml"):
        redact_file(run_dir / ".hydra" / name)
    redact_file(run_dir.parent / "multirun.yaml")  # a sweep's own copy


def _yaml(obj: object) -> str:
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(OmegaConf.create(obj))


def main() -> None:
    interrupt_on_sigterm()
    try:
        precheck(sys.argv[1:])
        typed = sys.argv[1:]
        # checkpoints=DIR -> model.path=DIR/checkpoint-100,... before Hydra parses argv
        sys.argv[1:] = sweeps.expand_checkpoints(sys.argv[1:])
        sweepdir.check_sweep_dir(sys.argv[1:], typed)  # an earlier sweep: the same one
        check_keys(sys.argv[1:], "config", config_dirs(sys.argv[1:]))
    except UserError as e:
        fail(e.message, e.exit_code)
    # Keep lm-eval/transformers from trying the hub for things already on disk when
    # the user is offline; a user with a hub simply leaves these unset.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if any(a.startswith("hydra/launcher=") and a.split("=", 1)[1] in sweeps.SLURM_LAUNCHERS
           for a in sys.argv[1:]):
        from evalsuite.cli import slurm

        slurm.install()  # what sbatch refuses: one line
    hydra_main()
