"""Inside a SLURM job of a sweep: the signals SLURM sends before it kills a job stop the
evaluation the way Ctrl-C does (the run directory ``partial`` with the reason, stored
answers kept), instead of submitit's handlers, which log "Bypassing signal SIGTERM" and
let SIGKILL end the job mid-write, or exit from the middle of a task on USR2.

- SIGTERM: ``scancel``, or preemption. Nothing is requeued here; a cluster that requeues
  preempted jobs itself (PreemptMode=REQUEUE) starts the job again, and it continues from
  the request cache.
- USR2 (submitit's ``--signal``, ``hydra.launcher.signal_delay_s`` before ``--time``):
  after the clean stop submitit decides, as it would have: the job is requeued when
  ``hydra.launcher.max_num_timeout`` allows it, and continues from the request cache.
"""

from __future__ import annotations

import logging
import os
import signal
from typing import Any

log = logging.getLogger("evalsuite")

TIME_LIMIT = "SLURM's warning before the job's time limit"
_REASONS = {
    signal.SIGTERM: "SLURM sent SIGTERM: the job was cancelled or preempted",
    signal.SIGUSR2: f"{TIME_LIMIT} (USR2, sent hydra.launcher.signal_delay_s before --time)",
}


class JobStopped(KeyboardInterrupt):
    """A signal from the scheduler: stop as on Ctrl-C, with the reason recorded."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.reason = _REASONS.get(signum, f"SLURM sent signal {signum}")
        super().__init__(self.reason)


_submitit_handler: dict[int, Any] = {}


def in_slurm_job() -> bool:
    """True in a job that submitit started on SLURM (its batch script sets both)."""
    return os.environ.get("SUBMITIT_EXECUTOR") == "slurm" and "SLURM_JOB_ID" in os.environ


def _preempt_signal() -> int:
    # submitit's own: USR2 unless $SUBMITIT_PREEMPT_SIGNAL names another
    name = "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2")
    return int(getattr(signal, name, signal.SIGUSR2))


def install() -> None:
    """Take SIGTERM and the time-limit signal over from submitit, in this job process."""
    usr = _preempt_signal()
    _REASONS.setdefault(usr, _REASONS[signal.SIGUSR2])
    for signum in (signal.SIGTERM, usr):
        _submitit_handler[signum] = signal.getsignal(signum)
        signal.signal(signum, _stop)


def restore() -> None:
    """Give the signals back to submitit (after the run, before it writes the result)."""
    for signum, handler in list(_submitit_handler.items()):
        if signal.getsignal(signum) in (_stop, _noted):
            signal.signal(signum, handler)


def stopped_at_time_limit(error: str | None) -> bool:
    """A run's recorded error says it stopped at the time-limit warning."""
    return bool(error) and f"{JobStopped.__name__}: {TIME_LIMIT}" in str(error)


def _stop(signum: int, frame: object) -> None:
    # once: the next signal (scancel sends SIGTERM to every step) must not break the stop
    for s in _submitit_handler:
        signal.signal(s, _noted)
    raise JobStopped(signum)


def _noted(signum: int, frame: object) -> None:
    log.warning("signal %d while stopping: already stopping", signum)


def hand_over(stopped: JobStopped) -> str:
    """After the clean stop on the time-limit signal, let submitit requeue the job where
    ``max_num_timeout`` allows (it then exits this process); otherwise say why not."""
    handler = _submitit_handler.get(stopped.signum)
    if stopped.signum == signal.SIGTERM or not callable(handler):
        return ""
    from submitit.core.utils import UncompletedJobError

    try:
        handler(stopped.signum, None)  # requeues and exits, or raises
    except UncompletedJobError as e:
        return f" ({str(e).strip().rstrip('.')}: raise hydra.launcher.max_num_timeout to " \
               "let it requeue)"
    return ""
