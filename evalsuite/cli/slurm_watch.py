"""Waiting on a submitted job array from the login node: SLURM's view of each job
(``squeue``, then ``sacct``, then the line slurmstepd writes into the job's log), a
report of pending reasons that will never clear, and how each job ended.

submitit's own wait (``job.results()``) polls ``sacct``, which a cluster without
accounting cannot answer, and turns any job that ends without a result into a traceback;
this module reads the scheduler the way a user would, so each ending is told in one line.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("evalsuite")

# Job states after which a job runs no more (squeue %T / sacct State).
ENDED = frozenset({"COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "PREEMPTED", "NODE_FAIL",
                   "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "REVOKED", "SPECIAL_EXIT"})

# Pending reasons that do not clear by waiting -> the setting behind them.
NEVER_CLEARS = {
    "PartitionConfig": "it asks for more than the partition's nodes have: lower "
                       "hydra.launcher.cpus_per_task, mem_gb or gpus_per_node "
                       "(`sinfo -N -o '%N %c %m %G'`), or pick another partition",
    "PartitionTimeLimit": "hydra.launcher.timeout_min is over the partition's time limit "
                          "(`sinfo -o '%P %l'`): ask for less",
    "PartitionNodeLimit": "hydra.launcher.nodes is more than the partition allows",
    "PartitionDown": "the partition is down: hydra.launcher.partition=ANOTHER (`sinfo -s`)",
    "PartitionInactive": "the partition is inactive: hydra.launcher.partition=ANOTHER "
                         "(`sinfo -s`)",
    "ReqNodeNotAvail": "the nodes it needs are down, drained or reserved (`sinfo -R`): "
                       "another partition, or fewer resources",
    "BadConstraints": "no node has what it asks for: hydra.launcher.constraint, "
                      "gpus_per_node or mem_gb",
    "JobHeldUser": "it is held: `scontrol release JOB` (or take hold out of "
                   "hydra.launcher.additional_parameters)",
    "JobHeldAdmin": "an administrator holds it: ask them to release it",
    "DependencyNeverSatisfied": "its dependency can no longer be met: take it out of "
                                "hydra.launcher.additional_parameters",
    "InvalidAccount": "hydra.launcher.account names an account you may not use "
                      "(`sacctmgr show assoc user=$USER`)",
    "InvalidQOS": "hydra.launcher.qos names a QOS you may not use",
    "job requeued in held state": "SLURM requeued it held (a failed launch, or an "
                                  "administrator): the job's log says why; then "
                                  "`scontrol release JOB`",
    "launch failed requeued held": "its launch failed and SLURM holds it: the job's log "
                                   "and `scontrol show job JOB` say why; then "
                                   "`scontrol release JOB`",
}

# How a job that did not complete is fixed, by its final state.
FIXES = {
    "CANCELLED": "it was cancelled (scancel, or an administrator)",
    "PREEMPTED": "a job of higher priority took its node (a cluster with "
                 "PreemptMode=REQUEUE starts it again by itself)",
    "TIMEOUT": "it ran out of time: raise hydra.launcher.timeout_min (within the "
               "partition's limit, `sinfo -o '%P %l'`), or allow requeueing with "
               "hydra.launcher.max_num_timeout=N",
    "NODE_FAIL": "its node failed",
    "BOOT_FAIL": "its node failed to boot",
    "OUT_OF_MEMORY": "it ran out of memory: raise hydra.launcher.mem_gb",
    "DEADLINE": "it passed its deadline",
    "FAILED": "its process failed: the log says why",
}

# slurmstepd's own line in a job's log: "*** JOB 12 ON node CANCELLED AT ... ***"
_STEPD = re.compile(
    r"\*\*\* (?:JOB|STEP) \S+ ON \S+ CANCELLED AT \S+(?: DUE TO (?P<due>[A-Z ]+?))? \*\*\*")
_STEPD_DUE = {"TIME LIMIT": "TIMEOUT", "PREEMPTION": "PREEMPTED", "NODE FAILURE": "NODE_FAIL"}
_ARRAY_TASKS = re.compile(r"^(?P<array>\d+)_\[(?P<spec>[^\]]+)\]$")


def poll_seconds() -> float:
    """Seconds between two looks at the queue ($EVALSUITE_SLURM_POLL_S, default 5)."""
    try:
        return max(0.2, float(os.environ.get("EVALSUITE_SLURM_POLL_S", "5")))
    except ValueError:
        return 5.0


def _expand(spec: str) -> list[str]:
    """``0-3,7%2`` (an array's pending tasks, as squeue shows them) -> task indices."""
    out = []
    for part in spec.split("%")[0].split(","):
        lo, _, hi = part.partition("-")
        if lo.isdigit() and (not hi or hi.isdigit()):
            out += [str(i) for i in range(int(lo), int(hi or lo) + 1)]
    return out


def parse_squeue(text: str) -> dict[str, tuple[str, str]]:
    """``squeue -o '%i|%T|%r'`` lines -> {JOBID_TASK: (state, reason)}."""
    states: dict[str, tuple[str, str]] = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 3:
            continue
        job, state, reason = parts
        m = _ARRAY_TASKS.match(job)
        for task in _expand(m["spec"]) if m else [None]:
            states[f"{m['array']}_{task}" if m else job] = (state, reason)
    return states


def squeue(array_id: str) -> dict[str, tuple[str, str]] | None:
    """SLURM's view of the array's tasks, or None when squeue did not answer this time."""
    try:
        proc = subprocess.run(
            ["squeue", "-h", "-r", "--states=all", "-j", array_id, "-o", "%i|%T|%r"],
            capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        # a job that has left slurmctld's memory: "Invalid job id specified"
        return {} if "invalid job id" in proc.stderr.lower() else None
    return parse_squeue(proc.stdout)


def sacct_state(job_id: str) -> str | None:
    """The final state from accounting, where the cluster keeps it (None otherwise)."""
    try:
        proc = subprocess.run(["sacct", "-n", "-X", "-P", "-j", job_id, "-o", "JobID,State"],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in proc.stdout.splitlines() if proc.returncode == 0 else ():
        jid, _, state = line.partition("|")
        if jid == job_id and state:
            return state.split()[0]  # "CANCELLED by 0" -> CANCELLED
    return None


def stepd_state(log_path: Path) -> str | None:
    """The state slurmstepd wrote into the job's log when it stopped the job."""
    try:
        with log_path.open("rb") as f:
            f.seek(max(0, log_path.stat().st_size - 65536))
            tail = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    found = list(_STEPD.finditer(tail))
    if not found:
        return "OUT_OF_MEMORY" if "oom_kill" in tail or "oom-kill" in tail else None
    due = found[-1]["due"]
    return _STEPD_DUE.get(due, "CANCELLED") if due else "CANCELLED"


@dataclass
class Ended:
    """How one job of the array ended, as far as SLURM and submitit tell."""

    index: int
    job_id: str
    state: str  # COMPLETED, CANCELLED, ... or UNKNOWN
    outcome: str | None = None  # submitit's result pickle: "success" / "error" / None
    result: Any = None  # the JobReturn (success) or the traceback text (error)


class Watcher:
    """Polls the array until every job has ended, telling the user what SLURM says."""

    def __init__(self, jobs: Sequence[Any], poll_s: float | None = None,
                 grace_s: float = 3.0, settle_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.jobs = list(jobs)
        self.array_id = str(self.jobs[0].job_id).split("_")[0]
        self.poll_s = poll_seconds() if poll_s is None else poll_s
        self.grace_s = grace_s
        self.settle_s = settle_s
        self.clock = clock
        self.ended: dict[int, Ended] = {}
        self._seen_ended: dict[int, float] = {}
        self._told: set[tuple[str, str]] = set()
        self._in_queue: set[int] = set()
        self._silent, self._silent_told = 0, False
        self._summary = ""

    def wait(self) -> list[Ended]:
        while len(self.ended) < len(self.jobs):
            self.step(squeue(self.array_id))
            if len(self.ended) < len(self.jobs):
                time.sleep(self.poll_s)
        return [self.ended[i] for i in range(len(self.jobs))]

    def step(self, queue: dict[str, tuple[str, str]] | None) -> None:
        """One look at the queue (None: squeue did not answer; nothing is concluded)."""
        if queue is None:
            self._silent += 1
            if self._silent * self.poll_s >= 60 and not self._silent_told:
                self._silent_told = True
                log.warning("squeue has not answered for %.0f s; still waiting on SLURM "
                            "array %s (Ctrl-C cancels it)", self._silent * self.poll_s,
                            self.array_id)
            return
        self._silent, self._silent_told = 0, False
        pending: dict[str, list[str]] = {}
        for i, job in enumerate(self.jobs):
            if i in self.ended:
                continue
            jid = str(job.job_id)
            state, reason = queue.get(jid, (None, ""))
            if state is not None:
                self._in_queue.add(i)
            if state not in (None, "COMPLETING") and state not in ENDED:
                # pending or running, also again after a requeue (whose first attempt may
                # have left a result file): not ended, whatever the file says
                self._seen_ended.pop(i, None)
                if state == "PENDING" and reason in NEVER_CLEARS:
                    pending.setdefault(reason, []).append(jid)
                continue
            if job.paths.result_pickle.exists():
                ended = self._from_pickle(i, job, state)
                # a job that stopped early: wait for its final state (CANCELLED, TIMEOUT)
                if completed(ended) or state in ENDED or self._waited(i) >= self.settle_s:
                    if state is None and not completed(ended):
                        ended.state = self._final_state(job, None)
                    self.ended[i] = ended
                continue
            # left the queue without a result: the file may trail the state a moment (a
            # network file system); a job never seen in the queue gets longer
            quick = i in self._in_queue and state != "COMPLETING"
            if self._waited(i) >= (self.grace_s if quick else self.settle_s):
                self.ended[i] = Ended(i, jid, self._final_state(job, state))
        self._tell_pending(pending)
        self._tell_summary(queue)

    def _waited(self, i: int) -> float:
        return self.clock() - self._seen_ended.setdefault(i, self.clock())

    def _from_pickle(self, i: int, job: Any, state: str | None) -> Ended:
        from submitit.core.utils import pickle_load

        try:
            outcome, result = pickle_load(job.paths.result_pickle)
        except Exception as e:  # noqa: BLE001 - a torn or foreign file: no result
            outcome, result = "error", f"unreadable result file: {e}"
        return Ended(i, str(job.job_id), state or "COMPLETED", outcome, result)

    def _final_state(self, job: Any, state: str | None) -> str:
        if state is not None:
            return state
        return (sacct_state(str(job.job_id)) or stepd_state(Path(job.paths.stderr))
                or "UNKNOWN")

    def _tell_pending(self, pending: dict[str, list[str]]) -> None:
        for reason, ids in pending.items():
            key = (reason, ",".join(ids))
            if key in self._told:
                continue
            self._told.add(key)
            fix = NEVER_CLEARS[reason].replace("JOB", self.array_id)
            log.warning("SLURM job%s %s pending (%s) and will not start by waiting: %s; "
                        "Ctrl-C cancels the array", "s" if len(ids) > 1 else "",
                        ", ".join(ids) + (" are" if len(ids) > 1 else " is"), reason, fix)

    def _tell_summary(self, queue: dict[str, tuple[str, str]]) -> None:
        counts: dict[str, int] = {}
        for job in self.jobs:
            state, reason = queue.get(str(job.job_id), ("ENDED", ""))
            waiting = state == "PENDING" and reason not in ("", "None")
            label = f"{state.lower()} ({reason})" if waiting else state.lower()
            counts[label] = counts.get(label, 0) + 1
        summary = ", ".join(f"{n} {label}" for label, n in sorted(counts.items()))
        if summary != self._summary:
            self._summary = summary
            log.info("SLURM array %s: %s", self.array_id, summary)


def completed(ended: Ended) -> bool:
    """The job returned and Hydra recorded its task function as completed."""
    from hydra.core.utils import JobStatus

    return (ended.outcome == "success"
            and getattr(ended.result, "status", None) == JobStatus.COMPLETED)


def unfinished(jobs: Iterable[Any]) -> list[str]:
    return [str(j.job_id) for j in jobs if not j.paths.result_pickle.exists()]


def cancel(array_id: str) -> bool:
    """scancel the whole array; True when SLURM took the request."""
    try:
        return subprocess.run(["scancel", array_id], capture_output=True,
                              timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
