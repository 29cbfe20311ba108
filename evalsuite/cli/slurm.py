"""``hydra/launcher=slurm``: Hydra's submitit launcher, with what SLURM refuses told in one
line (the problem, sbatch's own words, the setting that fixes it) instead of submitit's
``FailedJobError`` traceback, and no sweep directory left holding only pickles."""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher

from evalsuite.cli._common import fail

# sbatch's refusal -> the launcher setting behind it (sbatch 22.05's messages)
_FIXES = (
    (r"invalid partition", "name one `sinfo -s` lists: hydra.launcher.partition=NAME"),
    (r"gres|generic resource", "the partition's nodes have no GPUs: "
     "hydra.launcher.gpus_per_node=0 (a CPU backend), or a GPU partition"),
    (r"time limit", "ask for less time (hydra.launcher.timeout_min, minutes) than the "
     "partition's limit (`sinfo -o '%P %l'`)"),
    (r"memory", "ask for less memory: hydra.launcher.mem_gb (`sinfo -o '%P %m'` shows "
     "what a node has, in MB)"),
    (r"processors|cpu count|node configuration is not available|cpus",
     "ask for what a node has: hydra.launcher.cpus_per_task, mem_gb, gpus_per_node "
     "(`sinfo -N -o '%N %c %m %G'`)"),
    (r"invalid account|account", "hydra.launcher.account (or EVALSUITE_SLURM_ACCOUNT) "
     "names an account you may use (`sacctmgr show assoc user=$USER`)"),
    (r"qos", "hydra.launcher.qos names a QOS you may use"),
)


def refusal(message: str) -> str:
    """One line for what sbatch printed when it refused the job array."""
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    said = next((ln for ln in lines if "error:" in ln), lines[-1] if lines else "refused")
    said = said[said.find("sbatch:"):] if "sbatch:" in said else said
    fix = next((f for pat, f in _FIXES if re.search(pat, said, re.IGNORECASE)),
               "check hydra.launcher.* against the cluster (`sinfo`; docs/evaluating.md)")
    return f"SLURM refused the job array ({said}): {fix}"


def install() -> None:
    """Wrap the stock launcher's ``launch``: Hydra instantiates launchers only from its
    ``hydra_plugins`` package, so a subclass of ours could not be named in the config."""
    if getattr(SlurmLauncher.launch, "_evalsuite", False):
        return
    stock = SlurmLauncher.launch

    def launch(self: Any, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Any:
        from submitit.core.utils import FailedJobError

        try:
            return stock(self, job_overrides, initial_job_idx)
        except FailedJobError as e:  # sbatch refused: no job ran
            _discard_unsubmitted(Path(str(self.config.hydra.sweep.dir)))
            fail(refusal(str(e)), 2)

    launch._evalsuite = True  # type: ignore[attr-defined]
    SlurmLauncher.launch = launch  # type: ignore[method-assign]


def _discard_unsubmitted(sweep: Path) -> None:
    # only what this submission wrote (multirun.yaml, submitit's pickles): a sweep
    # directory that holds jobs' results is left as it is
    if sweep.is_dir() and {p.name for p in sweep.iterdir()} <= {"multirun.yaml", ".submitit"}:
        shutil.rmtree(sweep, ignore_errors=True)
        with contextlib.suppress(OSError):  # not empty: other sweeps are in it
            sweep.parent.rmdir()  # OUTPUT_ROOT/sweeps, when this was its only sweep
