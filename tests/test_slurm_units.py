"""The SLURM plumbing without a cluster: reading squeue and slurmstepd's lines, the
watcher's conclusions, the in-job signal handlers, and ``sweep_dir=`` checks (issue 21).
The same paths run on a real cluster in tests/test_slurm.py."""

from __future__ import annotations

import json
import logging
import os
import pickle
import signal
from pathlib import Path
from types import SimpleNamespace

import pytest
from hydra.core.utils import JobReturn, JobStatus
from submitit.core.utils import UncompletedJobError, cloudpickle_dump

from evalsuite.cli import slurm_job, slurm_watch
from evalsuite.cli.slurm import _discard_unsubmitted, _swept
from evalsuite.config.sweepdir import check_sweep_dir, first_given, task_overrides
from evalsuite.errors import UserError

# --- squeue and the job's log -------------------------------------------------------------


def test_squeue_lines_name_every_array_task():
    text = ("9_[0-1%2]|PENDING|JobHeldUser\n12_[3,5-6]|PENDING|Priority\n"
            "4_0|RUNNING|None\n10|COMPLETING|None\nnonsense\n")
    assert slurm_watch.parse_squeue(text) == {
        "9_0": ("PENDING", "JobHeldUser"), "9_1": ("PENDING", "JobHeldUser"),
        "12_3": ("PENDING", "Priority"), "12_5": ("PENDING", "Priority"),
        "12_6": ("PENDING", "Priority"), "4_0": ("RUNNING", "None"),
        "10": ("COMPLETING", "None")}


@pytest.mark.parametrize(("tail", "state"), [
    ("slurmstepd-vm: error: *** JOB 3 ON vm CANCELLED AT 2026-12-07T05:10:50 ***", "CANCELLED"),
    ("slurmstepd: error: *** JOB 7 ON n1 CANCELLED AT 2026-12-07T05:10:50 DUE TO TIME LIMIT ***",
     "TIMEOUT"),
    ("slurmstepd: error: *** STEP 7.0 ON n1 CANCELLED AT 2026 DUE TO PREEMPTION ***",
     "PREEMPTED"),
    ("slurmstepd: error: *** JOB 7 ON n1 CANCELLED AT 2026 DUE TO NODE FAILURE ***", "NODE_FAIL"),
    ("slurmstepd: error: Detected 1 oom_kill event in StepId=7.0.", "OUT_OF_MEMORY"),
    ("an ordinary log line", None),
])
def test_slurmstepd_lines_tell_how_a_job_ended(tmp_path: Path, tail: str, state: str | None):
    log = tmp_path / "job.err"
    log.write_text("x" * 70000 + "\n" + tail + "\n")  # only the tail is read
    assert slurm_watch.stepd_state(log) == state
    assert slurm_watch.stepd_state(tmp_path / "missing.err") is None


# --- the watcher ----------------------------------------------------------------------------

class _Job:
    def __init__(self, tmp: Path, job_id: str) -> None:
        self.job_id = job_id
        folder = tmp / job_id
        folder.mkdir()
        self.paths = SimpleNamespace(result_pickle=folder / f"{job_id}_0_result.pkl",
                                     stderr=folder / f"{job_id}_0_log.err")

    def returns(self, status: JobStatus) -> None:
        ret = JobReturn(overrides=[], status=status,
                        _return_value=RuntimeError("evalsuite: sweep job 1_m: stopped"))
        cloudpickle_dump(("success", ret), self.paths.result_pickle)


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_the_watcher_reports_pending_reasons_that_never_clear_once(tmp_path: Path, caplog):
    jobs = [_Job(tmp_path, "9_0"), _Job(tmp_path, "9_1")]
    w = slurm_watch.Watcher(jobs, poll_s=0)
    held = {"9_0": ("PENDING", "JobHeldUser"), "9_1": ("PENDING", "JobHeldUser")}
    with caplog.at_level(logging.INFO, logger="evalsuite"):
        w.step(held)
        w.step(held)
        w.step({"9_0": ("PENDING", "Priority"), "9_1": ("PENDING", "Priority")})
    told = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert told == ["SLURM jobs 9_0, 9_1 are pending (JobHeldUser) and will not start by "
                    "waiting: it is held: `scontrol release 9` (or take hold out of "
                    "hydra.launcher.additional_parameters); Ctrl-C cancels the array"]
    summaries = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert summaries == ["SLURM array 9: 2 pending (JobHeldUser)",
                         "SLURM array 9: 2 pending (Priority)"]
    assert not w.ended


def test_the_watcher_concludes_only_from_what_it_saw(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(slurm_watch, "sacct_state", lambda job_id: None)
    ok, stopped, gone, silent, unseen = (_Job(tmp_path, f"5_{i}") for i in range(5))
    clock = _Clock()
    w = slurm_watch.Watcher([ok, stopped, gone, silent, unseen], poll_s=0, grace_s=3,
                            settle_s=60, clock=clock)
    w.step(None)  # squeue did not answer: nothing is concluded
    assert not w.ended
    running = {f"5_{i}": ("RUNNING", "None") for i in range(4)}
    w.step(running)
    ok.returns(JobStatus.COMPLETED)
    stopped.returns(JobStatus.FAILED)  # its own line, written while SLURM was stopping it
    gone.paths.stderr.write_text("slurmstepd: error: *** JOB 8 ON vm CANCELLED AT 2026 ***\n")
    now = {"5_0": ("COMPLETING", "None"), "5_1": ("COMPLETING", "None"),
           "5_3": ("RUNNING", "None")}  # 5_2 has left the queue; 5_4 was never in it
    w.step(now)
    assert set(w.ended) == {0}  # a completed job is taken at once
    clock.t = 2
    w.step(now)  # a result may trail the state: not concluded yet
    assert set(w.ended) == {0}
    clock.t = 3.5
    w.step(now)
    assert w.ended[2].state == "CANCELLED" and w.ended[2].outcome is None  # from its log
    assert 1 not in w.ended  # still COMPLETING: its final state is coming
    w.step({**now, "5_1": ("CANCELLED", "None")})
    assert w.ended[1].state == "CANCELLED" and w.ended[1].outcome == "success"
    assert not slurm_watch.completed(w.ended[1]) and slurm_watch.completed(w.ended[0])
    assert 3 not in w.ended and 4 not in w.ended  # running; never seen (yet)
    clock.t = 61
    w.step(now)
    assert w.ended[4].state == "UNKNOWN" and 3 not in w.ended


def test_a_requeued_job_is_waited_for_despite_its_first_result(tmp_path: Path):
    job = _Job(tmp_path, "8")
    clock = _Clock()
    w = slurm_watch.Watcher([job], poll_s=0, grace_s=3, settle_s=60, clock=clock)
    w.step({"8": ("RUNNING", "None")})
    job.returns(JobStatus.FAILED)  # stopped cleanly on SIGTERM, then requeued by SLURM
    for t, state in ((1, "COMPLETING"), (2, "PENDING"), (200, "PENDING"), (300, "RUNNING")):
        clock.t = t
        w.step({"8": (state, "BeginTime" if state == "PENDING" else "None")})
        assert not w.ended, (t, state)
    job.returns(JobStatus.COMPLETED)  # the second attempt's result
    w.step({"8": ("COMPLETED", "None")})
    assert slurm_watch.completed(w.ended[0])


def test_a_silent_squeue_is_said_once_while_waiting(tmp_path: Path, caplog):
    w = slurm_watch.Watcher([_Job(tmp_path, "3_0")], poll_s=5)
    with caplog.at_level(logging.WARNING, logger="evalsuite"):
        for _ in range(30):
            w.step(None)
    told = [r.getMessage() for r in caplog.records]
    assert told == ["squeue has not answered for 60 s; still waiting on SLURM array 3 "
                    "(Ctrl-C cancels it)"] and not w.ended


def test_a_torn_result_file_is_a_failed_job_not_a_crash(tmp_path: Path):
    job = _Job(tmp_path, "6_0")
    job.paths.result_pickle.write_bytes(b"\x80\x04 not a pickle")
    w = slurm_watch.Watcher([job], poll_s=0)
    w.step({"6_0": ("COMPLETED", "None")})
    assert w.ended[0].outcome == "error" and "unreadable result file" in w.ended[0].result


def test_only_the_keys_that_tell_jobs_apart_name_a_job():
    assert _swept([["+model=m", "seed=1", "limit=2"], ["+model=m", "seed=2", "limit=2"]]) == {
        "seed"}


def test_only_a_sweep_directory_this_command_made_is_discarded(tmp_path: Path):
    from omegaconf import OmegaConf

    sweep = tmp_path / "runs" / "sweeps" / "t1"
    (sweep / ".submitit" / "4_0").mkdir(parents=True)
    (sweep / "multirun.yaml").write_text("{}")
    (sweep / ".submitit" / "4_0" / "4_0_0_log.err").write_text("started")
    config = OmegaConf.create({"output_root": str(tmp_path / "runs"), "sweep_dir": None,
                               "hydra": {"sweep": {"dir": str(sweep)}}})
    assert not _discard_unsubmitted(config) and sweep.is_dir()  # a job started: its log
    (sweep / ".submitit" / "4_0" / "4_0_0_log.err").unlink()
    named = OmegaConf.merge(config, {"sweep_dir": str(sweep)})
    assert not _discard_unsubmitted(named) and sweep.is_dir()  # the user's directory
    assert _discard_unsubmitted(config) and not (tmp_path / "runs" / "sweeps").exists()


def test_a_job_stopped_at_the_time_limit_warning_reads_as_a_timeout(tmp_path: Path):
    from evalsuite.cli.slurm import _problem

    run = tmp_path / "sweep" / "0_m"
    run.mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({
        "status": "partial", "error": f"JobStopped: {slurm_job.TIME_LIMIT} (USR2, ...)"}))
    job = _Job(tmp_path, "7_0")
    job.returns(JobStatus.FAILED)
    ended = slurm_watch.Ended(0, "7_0", "COMPLETED", "success",
                              pickle.loads(pickle.dumps(_load(job))))
    line = _problem(ended, job, ["+model=m", "seed=1"], run, {"seed"})
    assert line.startswith("sweep job 0_m (seed=1) [SLURM 7_0, TIMEOUT]: stopped"), line
    assert f"its run directory {run} is partial" in line
    assert line.endswith(slurm_watch.FIXES["TIMEOUT"])
    # a result that is not Hydra's JobReturn (a foreign pickle) is no crash
    odd = slurm_watch.Ended(0, "7_0", "FAILED", "success", "a string")
    assert "[SLURM 7_0, FAILED]" in _problem(odd, job, [], None, set())


def _load(job: _Job):
    from submitit.core.utils import pickle_load

    return pickle_load(job.paths.result_pickle)[1]


# --- inside a job ---------------------------------------------------------------------------

@pytest.fixture
def job_signals():
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR2)}
    yield
    for s, h in saved.items():
        signal.signal(s, h)
    slurm_job._submitit_handler.clear()


def test_sigterm_in_a_job_stops_it_once_with_the_reason(job_signals, monkeypatch):
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "slurm")
    monkeypatch.setenv("SLURM_JOB_ID", "7")
    assert slurm_job.in_slurm_job()
    signal.signal(signal.SIGTERM, lambda *a: None)  # submitit's "Bypassing signal SIGTERM"
    slurm_job.install()
    with pytest.raises(slurm_job.JobStopped) as stopped:
        os.kill(os.getpid(), signal.SIGTERM)
    assert isinstance(stopped.value, KeyboardInterrupt)  # the runner's clean stop
    assert str(stopped.value) == "SLURM sent SIGTERM: the job was cancelled or preempted"
    os.kill(os.getpid(), signal.SIGTERM)  # the second one only logs: the stop goes on
    assert slurm_job.hand_over(stopped.value) == ""  # a cancel is never requeued here


def test_the_time_limit_warning_hands_over_to_submitit(job_signals):
    calls = []

    def submitit_usr2(signum, frame):
        calls.append(signum)
        raise UncompletedJobError("Job not requeued because: timed-out too many times.")

    signal.signal(signal.SIGUSR2, submitit_usr2)
    slurm_job.install()
    with pytest.raises(slurm_job.JobStopped) as stopped:
        os.kill(os.getpid(), signal.SIGUSR2)
    assert "time limit (USR2" in stopped.value.reason
    note = slurm_job.hand_over(stopped.value)
    assert calls == [signal.SIGUSR2]
    assert note == (" (Job not requeued because: timed-out too many times: raise "
                    "hydra.launcher.max_num_timeout to let it requeue)")


def test_outside_submitit_nothing_is_taken_over(monkeypatch):
    monkeypatch.delenv("SUBMITIT_EXECUTOR", raising=False)
    monkeypatch.setenv("SLURM_JOB_ID", "7")  # an interactive srun shell, say
    assert not slurm_job.in_slurm_job()


# --- sweep_dir= ---------------------------------------------------------------------------

def _sweep(tmp: Path, *task: str) -> Path:
    sweep = tmp / "sweep"
    sweep.mkdir()
    lines = "\n".join(f"    - {t}" for t in task)
    (sweep / "multirun.yaml").write_text(
        f"hydra:\n  overrides:\n    hydra: []\n    task:\n{lines}\n")
    return sweep


def test_the_same_sweep_may_be_finished_in_its_directory(tmp_path: Path):
    sweep = _sweep(tmp_path, "+model=m", "seed=1,2", f"sweep_dir={tmp_path}/old")
    # the same task overrides, in any order, with other launcher settings
    check_sweep_dir(["-m", "seed=1,2", "+model=m", "hydra/launcher=slurm",
                     "hydra.launcher.timeout_min=60", f"sweep_dir={sweep}"])
    check_sweep_dir(["-m", "+model=m", f"sweep_dir={tmp_path}/new"])  # a new directory
    check_sweep_dir(["-m", "+model=m"])
    # settings of the login command may change; secrets are compared as the jobs stored them
    check_sweep_dir(["-m", "+model=m", "seed=1,2", "slurm_on_interrupt=leave",
                     f"sweep_dir={sweep}"])
    assert task_overrides(["-m", "+model=m", "hydra.job.chdir=true", "++hydra/x=y",
                           "sweep_dir=d", "seed=1"]) == ["+model=m", "seed=1"]


@pytest.mark.parametrize(("argv", "needle"), [
    (["+model=m", "sweep_dir=SWEEP"], "add -m"),
    (["-m", "+model=m", "seed=1,2,3", "sweep_dir=SWEEP"],
     "holds a different sweep (only there: seed=1,2; only here: seed=1,2,3)"),
    (["-m", "sweep_dir=SWEEP", "sweep_dir=SWEEP"], "once"),
    (["-m", "sweep_dir=FILE"], "is a file"),
    (["-m", "sweep_dir=OTHER"], "holds files but no sweep"),
    (["-m", "sweep_dir=BROKEN"], "not a Hydra sweep's record"),
    (["-m", "sweep_dir=LISTLESS"], "not a Hydra sweep's record"),
    (["-m", "sweep_dir=BADDATE"], "not a Hydra sweep's record"),
])
def test_a_sweep_dir_that_cannot_be_used_is_one_line(tmp_path: Path, argv, needle):
    sweep = _sweep(tmp_path, "+model=m", "seed=1,2")
    (tmp_path / "FILE").write_text("x")
    (tmp_path / "OTHER").mkdir()
    (tmp_path / "OTHER" / "notes.txt").write_text("x")
    (tmp_path / "BROKEN").mkdir()
    (tmp_path / "BROKEN" / "multirun.yaml").write_text("hydra: [unclosed")
    (tmp_path / "LISTLESS").mkdir()
    (tmp_path / "LISTLESS" / "multirun.yaml").write_text("hydra: {overrides: {task: 3}}")
    (tmp_path / "BADDATE").mkdir()
    (tmp_path / "BADDATE" / "multirun.yaml").write_text("hydra: 2026-13-01\n")
    names = {"SWEEP": sweep, **{n: tmp_path / n for n in ("BADDATE", "FILE", "OTHER",
                                                           "BROKEN", "LISTLESS")}}
    argv = [a.split("=")[0] + "=" + str(names[a.split("=")[1]])
            if a.startswith("sweep_dir=") else a for a in argv]
    with pytest.raises(UserError) as e:
        check_sweep_dir(argv)
    assert needle in e.value.message and "\n" not in e.value.message


def test_a_sweep_whose_secrets_were_masked_is_still_the_same_sweep(tmp_path: Path):
    sweep = _sweep(tmp_path, "+model=m", "backend.base_url=https://me:***@host/v1")
    check_sweep_dir(["-m", "+model=m", "backend.base_url=https://me:hunter22@host/v1",
                     f"sweep_dir={sweep}"])


def test_new_checkpoints_name_the_override_that_finishes_the_old_sweep(tmp_path: Path):
    sweep = _sweep(tmp_path, "+model=m", "model.path=/c/checkpoint-1,/c/checkpoint-2")
    typed = ["-m", "+model=m", "checkpoints=/c", f"sweep_dir={sweep}"]
    expanded = ["-m", "+model=m", "model.path=/c/checkpoint-1,/c/checkpoint-2,/c/checkpoint-3",
                f"sweep_dir={sweep}"]
    with pytest.raises(UserError) as e:
        check_sweep_dir(expanded, typed)
    assert e.value.message == (
        f"sweep_dir={sweep}: the checkpoints=DIR folder now holds other checkpoints than that "
        "sweep evaluated: finish it with 'model.path=/c/checkpoint-1,/c/checkpoint-2' in place "
        "of checkpoints=DIR, or give a new sweep_dir")


def test_first_given_skips_null():
    assert first_given(None, "b") == "b"
    assert first_given("a", "b") == "a"
    assert first_given("null", "") is None
