"""``hydra/launcher=slurm``: Hydra's submitit launcher, with every way the array can end
told in one line per job. What sbatch refuses names the setting that fixes it and leaves
no sweep directory of pickles; the command then waits on the array itself
(``slurm_watch``): pending reasons that never clear are reported while it waits, a job
that ends without completing (cancelled, preempted, timed out, node failure, out of
memory) is one line with its state, its log and the fix, the finished jobs are listed and
kept, and Ctrl-C or SIGTERM cancels the array (``slurm_on_interrupt=leave`` keeps it)."""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher

from evalsuite.cli import slurm_job, slurm_watch
from evalsuite.cli._common import fail
from evalsuite.errors import first_line
from evalsuite.storage.jsonable import read_object

log = logging.getLogger("evalsuite")
ON_INTERRUPT = ("cancel", "leave")

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


class _Submitted(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Carries the submitted jobs out of the stock launch, before its own wait."""

    def __init__(self, jobs: list[Any]) -> None:
        super().__init__("submitted")
        self.jobs = jobs


@contextlib.contextmanager
def _stop_after_submission() -> Iterator[None]:
    # The stock launch builds the executor from hydra.launcher.* (kept as upstream has it)
    # and then waits with `job.results()`: let it submit, take the jobs, skip its wait.
    import submitit

    stock = submitit.AutoExecutor.map_array

    def map_array(executor: Any, fn: Any, *iterable: Any) -> Any:
        raise _Submitted(stock(executor, fn, *iterable))

    submitit.AutoExecutor.map_array = map_array  # type: ignore[method-assign]
    try:
        yield
    finally:
        submitit.AutoExecutor.map_array = stock  # type: ignore[method-assign]


def install() -> None:
    """Wrap the stock launcher's ``launch``: Hydra instantiates launchers only from its
    ``hydra_plugins`` package, so a subclass of ours could not be named in the config."""
    if getattr(SlurmLauncher.launch, "_evalsuite", False):
        return
    stock = SlurmLauncher.launch

    def launch(self: Any, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Any:
        from submitit.core.utils import FailedJobError

        on_interrupt = str(self.config.get("slurm_on_interrupt", "cancel"))
        if on_interrupt not in ON_INTERRUPT:
            _discard_unsubmitted(self.config)  # the multirun.yaml Hydra wrote
            fail(f"slurm_on_interrupt={on_interrupt} is not one of {', '.join(ON_INTERRUPT)}: "
                 "cancel (Ctrl-C cancels the array) or leave (the jobs go on)", 2)
        try:
            with _stop_after_submission():
                return stock(self, job_overrides, initial_job_idx)  # no array: nothing ran
        except FailedJobError as e:  # sbatch refused: no job ran
            _discard_unsubmitted(self.config)
            fail(refusal(str(e)), 2)
        except _Submitted as s:
            return _collect(self, s.jobs, job_overrides, initial_job_idx, on_interrupt)
        return None  # not reached: map_array always raises _Submitted

    launch._evalsuite = True  # type: ignore[attr-defined]
    SlurmLauncher.launch = launch  # type: ignore[method-assign]


def _collect(launcher: Any, jobs: list[Any], job_overrides: Sequence[Sequence[str]],
             first: int, on_interrupt: str) -> list[Any]:
    """Wait for every job; the finished ones' JobReturns, or one line per job that did
    not complete and exit status 1."""
    sweep = Path(str(launcher.config.hydra.sweep.dir))
    watcher = slurm_watch.Watcher(jobs)
    log.info("SLURM array %s: %d jobs; their logs: %s", watcher.array_id, len(jobs),
             Path(jobs[0].paths.stderr).parent.parent)
    try:
        ended = watcher.wait()
    except KeyboardInterrupt:
        _interrupted(watcher, launcher.config, on_interrupt)
        raise  # not reached: _interrupted exits
    returns, problems, done = [], [], []
    for e in ended:
        overrides = list(job_overrides[e.index])
        run_dir = _run_dir(launcher, e, overrides, first + e.index)
        ok = slurm_watch.completed(e)
        if ok or _manifest(run_dir).get("status") == "complete":
            if not ok:
                log.warning("SLURM job %s ended %s after its run had completed: %s is "
                            "complete", e.job_id, e.state, run_dir)
            returns.append(e.result if ok else _complete_return(overrides, run_dir))
            done.append(run_dir.name if run_dir else e.job_id)
            continue
        problems.append(_problem(e, jobs[e.index], overrides, run_dir, _swept(job_overrides)))
    if not problems:
        return returns
    for line in problems:
        print(f"evalsuite: {line}", file=sys.stderr, flush=True)
    fail(f"{len(problems)} of {len(jobs)} sweep jobs did not complete (complete: "
         f"{', '.join(done) or 'none'}); the same command with sweep_dir={sweep} finishes "
         "them, reusing every answer already stored", 1)
    return returns  # not reached


def _swept(job_overrides: Sequence[Sequence[str]]) -> set[str]:
    """The keys whose value differs between the sweep's jobs: what tells a job apart."""
    values: dict[str, set[str]] = {}
    for overrides in job_overrides:
        for o in overrides:
            key, _, value = o.partition("=")
            values.setdefault(key, set()).add(value)
    return {k for k, v in values.items() if len(v) > 1}


def _complete_return(overrides: list[str], run_dir: Path | None) -> Any:
    from hydra.core.utils import JobReturn, JobStatus

    return JobReturn(overrides=overrides, working_dir=str(run_dir), status=JobStatus.COMPLETED)


def _problem(e: slurm_watch.Ended, job: Any, overrides: list[str], run_dir: Path | None,
             swept: set[str]) -> str:
    """One line: the job, its state, what happened, what is kept, its log, the fix."""
    from hydra.core.utils import JobReturn, filter_overrides

    name = run_dir.name if run_dir else f"#{e.index}"
    said = " ".join(o for o in filter_overrides(overrides) if o.split("=", 1)[0] in swept)
    manifest = _manifest(run_dir)
    state = e.state
    if slurm_job.stopped_at_time_limit(manifest.get("error")):
        state = "TIMEOUT"  # SLURM saw the job end normally, at the warning before --time
    ret = e.result if e.outcome == "success" and isinstance(e.result, JobReturn) else None
    if ret is not None and isinstance(ret._return_value, BaseException):  # its own line
        what = re.sub(r"^evalsuite: sweep job \S+: ", "", first_line(ret._return_value))
    elif manifest.get("error"):
        what = f"stopped ({manifest['error']})"
    elif e.outcome == "error":
        what = f"failed ({(str(e.result).strip().splitlines() or ['?'])[-1]})"
    else:
        what = "ended before it wrote a result"
    if manifest.get("status") == "partial":
        kept = f"its run directory {run_dir} is partial, the answers it stored are kept"
    else:
        kept = "no run was written"
    fix = slurm_watch.FIXES.get(state)
    said = f" ({said})" if said else ""
    return (f"sweep job {name}{said} [SLURM {e.job_id}, {state}]: {what}; {kept}; "
            f"log: {job.paths.stderr}" + (f"; {fix}" if fix else ""))


def _run_dir(launcher: Any, e: slurm_watch.Ended, overrides: list[str],
             num: int) -> Path | None:
    try:  # where the job wrote its run (working_dir is the process's cwd)
        return Path(str(e.result.hydra_cfg.hydra.runtime.output_dir))
    except AttributeError:
        pass
    try:  # as the job composes it (the launcher's __call__)
        from omegaconf import open_dict

        cfg = launcher.hydra_context.config_loader.load_sweep_config(launcher.config,
                                                                     overrides)
        with open_dict(cfg.hydra.job):
            cfg.hydra.job.num = num
        return Path(str(cfg.hydra.sweep.dir)) / str(cfg.hydra.sweep.subdir)
    except Exception:  # noqa: BLE001 - only a name for the report
        return None


def _manifest(run_dir: Path | None) -> dict[str, Any]:
    return read_object(run_dir / "manifest.json") if run_dir else {}


def _default_sweep_dir(config: Any) -> bool:
    """hydra.sweep.dir is evalsuite's OUTPUT_ROOT/sweeps/TIME, made by this command."""
    sweep = Path(str(config.hydra.sweep.dir))
    return sweep.parent == Path(str(config.get("output_root", "runs"))) / "sweeps"


def _interrupted(watcher: slurm_watch.Watcher, config: Any, on_interrupt: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not stop scancel
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sweep = Path(str(config.hydra.sweep.dir))
    array = watcher.array_id
    left = [str(j.job_id) for i, j in enumerate(watcher.jobs) if i not in watcher.ended]
    if on_interrupt == "leave":
        fail(f"interrupted; SLURM array {array} left running ({len(left)} jobs not ended): "
             f"they write into {sweep} (`squeue -j {array}` follows them, `scancel {array}` "
             f"stops them; then python -m evalsuite.compare sweep={sweep})", 130)
    if not slurm_watch.cancel(array):
        fail(f"interrupted, and `scancel {array}` failed: cancel the array yourself "
             f"(scancel {array}); finished runs are in {sweep}", 130)
    if not watcher.ended and _discard_unsubmitted(config):
        fail(f"interrupted; cancelled SLURM array {array} before any of its jobs ran; "
             "nothing was kept", 130)
    fail(f"interrupted; cancelled SLURM array {array} ({len(left)} jobs had not ended: "
         f"{', '.join(left) or 'none'}); finished runs are kept in {sweep}, and the same "
         f"command with sweep_dir={sweep} finishes the rest", 130)


def _discard_unsubmitted(config: Any) -> bool:
    """Remove a sweep directory that holds only what the submission wrote (multirun.yaml,
    submitit's pickles; no job's log or run); a directory with jobs' results, or one the
    user named (sweep_dir=, hydra.sweep.dir=), is kept."""
    sweep = Path(str(config.hydra.sweep.dir))
    if config.get("sweep_dir") or not _default_sweep_dir(config):
        return False
    if not sweep.is_dir() or {p.name for p in sweep.iterdir()} - {"multirun.yaml", ".submitit"}:
        return False
    if any(p.name.endswith((".out", ".err")) for p in (sweep / ".submitit").rglob("*")):
        return False  # a job started: its log stays
    shutil.rmtree(sweep, ignore_errors=True)
    with contextlib.suppress(OSError):  # not empty: other sweeps are in it
        sweep.parent.rmdir()  # OUTPUT_ROOT/sweeps, when this was its only sweep
    return True
