"""Sweeps on a real SLURM: a one-node cluster (Debian's slurm-wlm and munge) that .ci/run
starts with .ci/slurm-up; skipped where no cluster answers, a failure in CI (issue 21)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.test_launchers import TINY, _assert_complete, _one_line_error, _run, _sweep_dir

# what a CPU node of this cluster can give a job: one core, 4 GB, 10 minutes
SMALL = ("hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=4",
         "hydra.launcher.timeout_min=10")


@pytest.fixture(scope="module")
def cluster() -> None:
    ok = shutil.which("sinfo") and subprocess.run(
        ["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=30
    ).stdout.split()[:1] in (["idle"], ["mix"], ["alloc"])
    if not ok:
        msg = "no SLURM cluster answers (start one with .ci/slurm-up)"
        if os.environ.get("EVALSUITE_CI"):
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.mark.slow
def test_a_two_job_array_runs_and_its_sweep_compares(cluster, tmp_path: Path,
                                                     smollm2_dir: Path):
    out = tmp_path / "out"
    proc = _run("-m", "hydra/launcher=slurm", "+model=smollm2_135m", "seed=1,2", *TINY,
                *SMALL, f"output_root={out}", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = _sweep_dir(out)
    seeds = [_assert_complete(sweep / f"{i}_smollm2_135m")["config"]["seed"] for i in (0, 1)]
    assert seeds == [1, 2]
    script = next(sweep.glob(".submitit/*/*_submission.sh")).read_text()
    assert "#SBATCH --array=0-1" in script and "#SBATCH --gpus-per-node=0\n" in script  # hf
    cmp = tmp_path / "cmp"
    r = _run(f"sweep={sweep}", f"out={cmp}", "embeddings=false", "n_boot=100",
             module="evalsuite.compare", tmp=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    drift = json.loads((cmp / "drift.json").read_text())
    assert len(drift["comparisons"]) == 1 and (cmp / "report.md").is_file()


@pytest.mark.parametrize(("override", "needles"), [
    ("hydra.launcher.partition=nope", ("invalid partition", "hydra.launcher.partition")),
    # a GPU asked of a node without one (backend=hf on CUDA)
    ("backend.device=cuda", ("generic resource", "hydra.launcher.gpus_per_node=0")),
    ("hydra.launcher.timeout_min=600", ("time limit", "hydra.launcher.timeout_min")),
])
def test_what_sbatch_refuses_is_one_line_and_leaves_nothing(cluster, tmp_path: Path,
                                                            override: str, needles):
    out = tmp_path / "out"
    proc = _run("-m", "hydra/launcher=slurm", "+model=smollm2_135m", "seed=1,2", *TINY,
                *SMALL, override, f"output_root={out}", tmp=tmp_path)
    _one_line_error(proc, 2, "SLURM refused the job array", *needles)
    assert not (out / "sweeps").exists()  # no sweep directory holding only pickles


# --- how a job ends, and the command that waits on it (issue 21) --------------------------

# job 0 answers 2 IFEval prompts, job 1 answers 12 (the same first 2): chunks of 2 answers,
# so job 1 has stored answers of its own (rows 3-4) 4 chunks (~28 s here) before it ends
GEN = ("backend=hf", "backend.threads=1", "tasks=[ifeval_offline]", "max_gen_toks=48",
       "request_cache=true", "request_chunk_size=2")


def _start(*args: str, tmp: Path) -> subprocess.Popen:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", "OMP_NUM_THREADS": "1",
           "EVALSUITE_REQUEST_CACHE_DIR": str(tmp / "requests"),
           "EVALSUITE_SLURM_POLL_S": "0.3"}
    # Ctrl-C as a terminal sends it, even when this test runs where SIGINT is ignored (a
    # background job of a script inherits SIG_IGN, and Python then never raises on it)
    return subprocess.Popen([sys.executable, "-m", "evalsuite", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for(what, timeout: float, proc: subprocess.Popen | None = None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = what()
        if got:
            return got
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the command ended first: {proc.communicate()[1][-3000:]}")
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s")


def _stored_rows(tmp: Path) -> int:
    total = 0
    for db in (tmp / "requests").glob("*.sqlite"):
        with contextlib.suppress(sqlite3.Error), contextlib.closing(sqlite3.connect(db)) as c:
            total += c.execute("SELECT count(*) FROM answers").fetchone()[0]
    return total


def _job_id(sweep: Path, task: int) -> str | None:
    found = sorted(p.name for p in (sweep / ".submitit").glob(f"*_{task}"))
    return found[0] if found else None


def _queue(array: str) -> list[str]:
    return subprocess.run(["squeue", "-h", "-r", "-j", array, "-o", "%i|%T"],
                          capture_output=True, text=True, timeout=30).stdout.split()


def _lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("evalsuite:")]


@pytest.mark.slow
def test_a_cancelled_job_is_one_line_and_the_same_sweep_finishes_from_the_cache(
        cluster, tmp_path: Path, smollm2_dir: Path):
    sweep = tmp_path / "sweep"
    args = ("-m", "hydra/launcher=slurm", "+model=smollm2_135m", "limit=2,12", *GEN, *SMALL,
            f"sweep_dir={sweep}")
    proc = _start(*args, tmp=tmp_path)
    # job 1 mid-run: answers of its own stored (more than job 0's 2), others not yet
    _wait_for(lambda: _stored_rows(tmp_path) >= 4, 240, proc)
    job1 = _job_id(sweep, 1)
    subprocess.run(["scancel", job1], check=True, timeout=30)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err[-3000:]
    assert "Traceback" not in out + err, err[-3000:]
    lines = _lines(err)
    assert len(lines) == 2, err[-3000:]
    assert lines[0].startswith(f"evalsuite: sweep job 1_smollm2_135m (limit=12) [SLURM {job1}, "
                               "CANCELLED]: stopped cleanly: SLURM sent SIGTERM"), lines[0]
    assert "is partial, the answers it stored are kept" in lines[0]
    assert f"log: {sweep}/.submitit/{job1}/{job1}_0_log.err" in lines[0]
    assert lines[1] == (f"evalsuite: 1 of 2 sweep jobs did not complete (complete: "
                        f"0_smollm2_135m); the same command with sweep_dir={sweep} finishes "
                        "them, reusing every answer already stored")
    _assert_complete_task(sweep / "0_smollm2_135m")
    partial = json.loads((sweep / "1_smollm2_135m" / "manifest.json").read_text())
    assert partial["status"] == "partial" and "SIGTERM" in partial["error"]

    # the same command again: job 0 kept as it is, job 1 from its stored answers
    before = (sweep / "0_smollm2_135m" / "manifest.json").read_text()
    proc = _start(*args, tmp=tmp_path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert (sweep / "0_smollm2_135m" / "manifest.json").read_text() == before
    done = _assert_complete_task(sweep / "1_smollm2_135m")
    requests = done["tasks"]["ifeval_offline"]["requests"]
    assert requests["requests"] == 12 and requests["cached"] >= 4, requests
    cmp = tmp_path / "cmp"
    r = _run(f"sweep={sweep}", f"out={cmp}", "embeddings=false", "n_boot=100",
             module="evalsuite.compare", tmp=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert len(json.loads((cmp / "drift.json").read_text())["comparisons"]) == 1


def _assert_complete_task(job: Path) -> dict:
    manifest = json.loads((job / "manifest.json").read_text())
    assert manifest["status"] == "complete", manifest.get("error")
    assert (job / "samples" / "ifeval_offline.jsonl").is_file()
    return manifest


@pytest.mark.slow
def test_the_time_limit_warning_stops_a_job_cleanly(cluster, tmp_path: Path,
                                                    smollm2_dir: Path):
    sweep = tmp_path / "sweep"
    proc = _start("-m", "hydra/launcher=slurm", "+model=smollm2_135m", "limit=8", *GEN,
                  *SMALL, f"sweep_dir={sweep}", tmp=tmp_path)
    _wait_for(lambda: _stored_rows(tmp_path) >= 2, 240, proc)
    job = _wait_for(lambda: next((p.name for p in (sweep / ".submitit").iterdir()
                                  if p.is_dir()), None), 30)
    # what SLURM sends hydra.launcher.signal_delay_s before --time (submitit's --signal)
    subprocess.run(["scancel", "--signal=USR2", job], check=True, timeout=30)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err[-3000:]
    assert "Traceback" not in out + err, err[-3000:]
    line = _lines(err)[0]
    # SLURM saw the job end normally (exit 0, after the clean stop): a timeout all the same
    assert f"sweep job 0_smollm2_135m [SLURM {job}, TIMEOUT]: " in line, line
    assert "stopped cleanly: SLURM's warning before the job's time limit (USR2" in line, line
    assert "timed-out too many times: raise hydra.launcher.max_num_timeout" in line, line
    manifest = json.loads((sweep / "0_smollm2_135m" / "manifest.json").read_text())
    assert manifest["status"] == "partial" and "USR2" in manifest["error"]


@pytest.mark.parametrize("on_interrupt", ["cancel", "leave"])
def test_a_held_array_is_reported_while_waiting_and_ctrl_c_cancels_it(
        cluster, tmp_path: Path, on_interrupt: str):
    out_root = tmp_path / "out"
    proc = _start("-m", "hydra/launcher=slurm", "+model=smollm2_135m", "seed=1,2", *TINY,
                  *SMALL, "+hydra.launcher.additional_parameters={hold:true}",
                  f"slurm_on_interrupt={on_interrupt}", f"output_root={out_root}",
                  tmp=tmp_path)
    seen: list[str] = []  # Hydra logs to stdout: read it as it comes, without blocking
    reader = threading.Thread(target=lambda: seen.extend(iter(proc.stdout.readline, "")),
                              daemon=True)
    reader.start()

    def reported() -> str | None:
        return next((ln for ln in list(seen)
                     if "pending (JobHeldUser) and will not start by waiting" in ln), None)

    array = None
    try:
        told = _wait_for(reported, 120, proc)
        assert "scontrol release" in told and "Ctrl-C cancels the array" in told
        array = told.split("SLURM jobs ")[1].split("_")[0]
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
        reader.join(timeout=30)
        out, err = "".join(seen), proc.stderr.read()
        assert proc.returncode == 130, err[-3000:]
        assert "Traceback" not in out + err, err[-3000:]
        (line,) = _lines(err)
        if on_interrupt == "cancel":
            assert line == (f"evalsuite: interrupted; cancelled SLURM array {array} before "
                            "any of its jobs ran; nothing was kept")
            assert not _queue(array)
            assert not (out_root / "sweeps").exists()
        else:
            assert line.startswith(f"evalsuite: interrupted; SLURM array {array} left running "
                                   "(2 jobs not ended)"), line
            assert sorted(_queue(array)) == [f"{array}_0|PENDING", f"{array}_1|PENDING"]
    finally:
        if proc.poll() is None:  # a failed check must not leave the command waiting
            proc.kill()
        if array:
            subprocess.run(["scancel", array], timeout=30)


# --- the README's cluster examples, as written ------------------------------------------------

def _readme_command(marker: str) -> str:
    text = (REPO / "README.md").read_text()
    block = text.split(f"<!-- slurm:{marker} -->", 1)[1].split("```bash\n", 1)[1]
    return block.split("```", 1)[0].strip()


def _shell(command: str, tmp: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", "EVALSUITE_SLURM_POLL_S": "1",
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "EVALSUITE_REQUEST_CACHE_DIR": str(tmp / "requests")}
    env.pop("EVALSUITE_SLURM_PARTITION", None)  # the cluster's default partition
    return subprocess.run(["bash", "-c", command], cwd=tmp, env=env, capture_output=True,
                          text=True, timeout=900)


@pytest.mark.slow
def test_the_readme_cpu_node_example_runs_as_written(cluster, tmp_path: Path,
                                                     smollm2_dir: Path):
    command = _readme_command("cpu")
    assert "backend=hf" in command and "gpus_per_node" not in command
    proc = _shell(command, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    job = _sweep_dir(tmp_path / "runs") / "0_smollm2_135m"
    manifest = json.loads((job / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["suite"] == "quick"
    script = next(job.parent.glob(".submitit/*/*_submission.sh")).read_text()
    assert "#SBATCH --gpus-per-node=0\n" in script and "#SBATCH --cpus-per-task=2\n" in script


def test_the_readme_gpu_node_example_asks_for_a_gpu(cluster, tmp_path: Path):
    # this cluster's node has no GPU: sbatch refusing the GPU request proves it was made
    proc = _shell(_readme_command("gpu"), tmp_path)
    _one_line_error(proc, 2, "SLURM refused the job array", "generic resource",
                    "hydra.launcher.gpus_per_node=0")
