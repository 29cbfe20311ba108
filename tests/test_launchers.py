"""Sweeps beyond the basic launcher: joblib and submitit launchers, the shipped launcher
configs (parallel, local, slurm), and ``checkpoints=DIR`` sweeps over one training run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evalsuite.config.sweeps import check_launcher, checkpoint_dirs, expand_checkpoints
from evalsuite.errors import UserError
from tests.conftest import REPO

# one tiny real job: two ARC-Easy questions (8 log-likelihoods) on SmolLM2-135M
TINY = ("backend=hf", "backend.threads=1", "tasks=[arc_easy_offline]", "limit=2")


def _run(*args: str, tmp: Path, module: str = "evalsuite", path: str | None = None,
         timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", "OMP_NUM_THREADS": "1",
           # a request store of the test's own: never the user's, never another test's
           "EVALSUITE_REQUEST_CACHE_DIR": str(tmp / "requests")}
    if path is not None:
        env["PATH"] = path
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _one_line_error(proc: subprocess.CompletedProcess, code: int, *needles: str) -> str:
    assert proc.returncode == code, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-3000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("evalsuite:")]
    assert len(lines) == 1, proc.stderr[-3000:]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _fake_run(root: Path, *names: str, config: bool = True) -> Path:
    for name in names:
        (root / name).mkdir(parents=True)
        if config:
            (root / name / "config.json").write_text("{}")
    return root


def _sweep_dir(out: Path) -> Path:
    sweeps = list((out / "sweeps").iterdir())
    assert len(sweeps) == 1, sweeps
    return sweeps[0]


def _assert_complete(job: Path) -> dict:
    manifest = json.loads((job / "manifest.json").read_text())
    assert manifest["status"] == "complete", manifest.get("error")
    assert (job / "metrics.json").is_file()
    assert (job / "samples" / "arc_easy_offline.jsonl").is_file()
    stray = [p.name for p in job.iterdir()
             if p.name.endswith((".tmp", ".partial")) or
             (p.name.startswith(".") and p.name != ".hydra")]
    assert not stray, stray
    return manifest


# --- checkpoints=DIR, no model ------------------------------------------------------------

def test_checkpoint_dirs_in_step_order(tmp_path: Path, capsys):
    run = _fake_run(tmp_path / "run1", "checkpoint-1000", "checkpoint-200", "checkpoint-30")
    _fake_run(run, "tmp-checkpoint-1200", "runs", "final")  # not checkpoints
    _fake_run(run, "checkpoint-1100", config=False)  # no config.json: skipped, with a note
    (run / "checkpoint-5").write_text("a file")
    found = checkpoint_dirs(run)
    assert [p.name for p in found] == ["checkpoint-30", "checkpoint-200", "checkpoint-1000"]
    assert "skipping checkpoint-1100" in capsys.readouterr().err
    other = _fake_run(tmp_path / "run2", "step-20", "step3", "step_100", "global_step7")
    assert [p.name for p in checkpoint_dirs(other)] == ["step3", "global_step7", "step-20",
                                                        "step_100"]


def test_expand_checkpoints_rewrites_only_its_argument(tmp_path: Path, monkeypatch):
    _fake_run(tmp_path / "run1", "checkpoint-100", "checkpoint-20")
    target = _fake_run(tmp_path / "elsewhere", "weights")
    (tmp_path / "run1" / "checkpoint-300").symlink_to(target / "weights")
    monkeypatch.chdir(tmp_path)
    argv = ["-m", "+model=smollm2_135m", "checkpoints=run1", "suite=quick"]
    out = expand_checkpoints(argv)
    root = tmp_path / "run1"  # made absolute, symlinks kept (each checkpoint its own path)
    assert out == ["-m", "+model=smollm2_135m",
                   f"model.path={root}/checkpoint-20,{root}/checkpoint-100,"
                   f"{root}/checkpoint-300", "suite=quick"]
    assert expand_checkpoints(["-m", "+model=x", "suite=quick"]) == [
        "-m", "+model=x", "suite=quick"]


def test_expand_checkpoints_quotes_paths_hydra_cannot_take_bare(tmp_path: Path):
    _fake_run(tmp_path / "my run", "checkpoint-1", "checkpoint-2")
    out = expand_checkpoints(["--multirun", "+model=m", f"checkpoints={tmp_path / 'my run'}"])
    assert out[-1] == (f"model.path='{tmp_path}/my run/checkpoint-1',"
                       f"'{tmp_path}/my run/checkpoint-2'")


@pytest.mark.parametrize(("argv", "needle"), [
    (["-m", "+model=m", "checkpoints=MISSING"], "no such directory"),
    (["-m", "+model=m", "checkpoints=EMPTY"], "no checkpoint folders"),
    (["-m", "+model=m", "checkpoints=NOCONFIG"], "checkpoint-1 have no config.json"),
    (["-m", "+model=m", "checkpoints=DUP"], "checkpoint-100 and step-100 are both step 100"),
    (["+model=m", "checkpoints=RUN"], "add -m"),
    (["-m", "checkpoints=RUN"], "+model=NAME"),
    (["-m", "+model=a,b", "checkpoints=RUN"], "name one model"),
    (["-m", "+model=m", "checkpoints=RUN", "model.path=/x"], "not both"),
    (["-m", "+model=m", "checkpoints=RUN", "checkpoints=RUN"], "once"),
    (["-m", "+model=m", "checkpoints="], "needs the directory"),
])
def test_expand_checkpoints_errors(tmp_path: Path, argv: list[str], needle: str):
    _fake_run(tmp_path / "RUN", "checkpoint-1", "checkpoint-2")
    (tmp_path / "EMPTY").mkdir()
    _fake_run(tmp_path / "EMPTY", "logs", "final")
    _fake_run(tmp_path / "NOCONFIG", "checkpoint-1", config=False)
    _fake_run(tmp_path / "DUP", "checkpoint-100", "step-100")
    argv = [a.replace("=RUN", f"={tmp_path}/RUN").replace("=MISSING", f"={tmp_path}/MISSING")
            .replace("=EMPTY", f"={tmp_path}/EMPTY").replace("=NOCONFIG", f"={tmp_path}/NOCONFIG")
            .replace("=DUP", f"={tmp_path}/DUP") for a in argv]
    with pytest.raises(UserError) as err:
        expand_checkpoints(argv)
    assert needle in err.value.message


@pytest.mark.parametrize(("case", "needle"), [
    ("missing", "no such directory"),
    ("empty", "no checkpoint folders"),
    ("no_multirun", "add -m"),
])
def test_checkpoints_cli_errors_are_one_line(tmp_path: Path, case: str, needle: str):
    run = {"missing": tmp_path / "nowhere", "empty": tmp_path / "empty",
           "no_multirun": _fake_run(tmp_path / "run", "checkpoint-1", "checkpoint-2")}[case]
    (tmp_path / "empty").mkdir(exist_ok=True)
    args = ["+model=smollm2_135m", f"checkpoints={run}", f"hydra.sweep.dir={tmp_path / 'sw'}",
            f"hydra.run.dir={tmp_path / 'rd'}"]
    proc = _run(*([] if case == "no_multirun" else ["-m"]), *args, tmp=tmp_path)
    _one_line_error(proc, 2, needle)
    assert not (tmp_path / "sw").exists() and not (tmp_path / "rd").exists()


# --- launcher names and configs, no model ------------------------------------------------

@pytest.mark.parametrize(("argv", "needle"), [
    (["-m", "hydra/launcher=slrum"], "unknown launcher 'slrum'"),
    (["hydra/launcher=parallel"], "add -m"),
])
def test_launcher_mistakes(argv: list[str], needle: str):
    with pytest.raises(UserError) as err:
        check_launcher(argv)
    assert needle in err.value.message


def test_printing_the_launcher_config_needs_no_sweep_and_no_cluster():
    check_launcher(["hydra/launcher=slurm", "--cfg", "hydra", "-p", "hydra.launcher"])
    check_launcher(["hydra/launcher=local", "--cfg=hydra"])


def test_slurm_without_slurm_is_one_line(tmp_path: Path):
    empty = tmp_path / "bin"
    empty.mkdir()  # a PATH without sbatch or srun
    proc = _run("-m", "hydra/launcher=slurm", "+model=smollm2_135m", "seed=1,2",
                f"hydra.sweep.dir={tmp_path / 'sw'}", tmp=tmp_path, path=str(empty))
    _one_line_error(proc, 2, "sbatch/srun", "hydra/launcher=local")
    assert not (tmp_path / "sw").exists()


def test_launcher_configs_resolve(monkeypatch):
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from evalsuite.resources import CONF_DIR

    def launcher(*overrides: str) -> dict:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            cfg = compose("config", list(overrides), return_hydra_config=True)
        return OmegaConf.to_container(cfg.hydra.launcher, resolve=True)

    monkeypatch.setenv("EVALSUITE_SLURM_PARTITION", "gpu-a100")
    slurm = launcher("hydra/launcher=slurm", "+model=smollm2_135m", "backend=vllm",
                     "model.tensor_parallel_size=4")
    assert (slurm["partition"], slurm["gpus_per_node"], slurm["timeout_min"]) == (
        "gpu-a100", 4, 240)
    assert slurm["_target_"].endswith("SlurmLauncher") and slurm["setup"] is None
    # no model named once: one GPU for vLLM's engine
    assert launcher("hydra/launcher=slurm", "backend=vllm")["gpus_per_node"] == 1
    # the CPU backends ask for no GPU, so a CPU-only cluster takes them as they are
    assert launcher("hydra/launcher=slurm", "+model=smollm2_135m")["gpus_per_node"] == 0
    assert launcher("hydra/launcher=slurm", "backend=vllm_server")["gpus_per_node"] == 0
    assert launcher("hydra/launcher=slurm", "+model=smollm2_135m", "backend.device=cuda:0",
                    "model.tensor_parallel_size=2")["gpus_per_node"] == 2
    monkeypatch.delenv("EVALSUITE_SLURM_PARTITION")
    assert launcher("hydra/launcher=slurm")["partition"] is None
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # a machine without a GPU
    local = launcher("hydra/launcher=local", "+model=smollm2_135m")
    assert local["gpus_per_node"] == 0 and local["_target_"].endswith("LocalLauncher")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2")
    assert launcher("hydra/launcher=local", "+model=smollm2_135m",
                    "model.tensor_parallel_size=2")["gpus_per_node"] == 2
    parallel = launcher("hydra/launcher=parallel")
    assert parallel["n_jobs"] == 2 and parallel["_target_"].endswith("JoblibLauncher")


def test_slurm_batch_script(tmp_path: Path):
    """What sbatch gets, through a stand-in sbatch that keeps the script and refuses it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "sbatch").write_text(
        f"#!/bin/sh\ncp \"$1\" {tmp_path}/job.sh\necho 'not a cluster' >&2\nexit 1\n")
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    run = _fake_run(tmp_path / "run1", "checkpoint-500", "checkpoint-1000", "checkpoint-1500")
    proc = _run("-m", "hydra/launcher=slurm", "+model=smollm2_135m", f"checkpoints={run}",
                "backend=vllm", "model.tensor_parallel_size=2", "hydra.launcher.partition=gpu",
                f"output_root={tmp_path / 'out'}", tmp=tmp_path,
                path=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    # what sbatch refuses is one line with its own words, and nothing is left behind
    _one_line_error(proc, 2, "SLURM refused the job array", "not a cluster")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("multirun.yaml"))
    script = (tmp_path / "job.sh").read_text()
    for line in ("--array=0-2%3", "--gpus-per-node=2", "--partition=gpu", "--time=240",
                 "--job-name=evalsuite", "--cpus-per-task=8", "--mem=64GB"):
        assert f"#SBATCH {line}\n" in script, script


# --- real sweeps (SmolLM2-135M, two ARC-Easy questions per job) ---------------------------
# smollm2_dir converts the embedded model first: parallel jobs must not both convert it.

@pytest.mark.slow
def test_joblib_runs_two_jobs_into_one_root(tmp_path: Path, smollm2_dir: Path):
    out = tmp_path / "out"
    proc = _run("-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                "+model=smollm2_135m", "seed=1,2", *TINY, f"output_root={out}", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [p.name for p in out.iterdir()] == ["sweeps"]  # nothing else in the root
    sweep = _sweep_dir(out)
    assert sorted(p.name for p in sweep.iterdir()) == [
        "0_smollm2_135m", "1_smollm2_135m", "multirun.yaml"]
    seeds = [_assert_complete(sweep / f"{i}_smollm2_135m")["config"]["seed"] for i in (0, 1)]
    assert seeds == [1, 2]


@pytest.mark.slow
def test_submitit_local_runs_a_two_model_sweep(tmp_path: Path, smollm2_dir: Path):
    out = tmp_path / "out"
    proc = _run("-m", "hydra/launcher=local", "+model=smollm2_135m",
                f"model.path={smollm2_dir},null", *TINY, f"output_root={out}", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = _sweep_dir(out)
    assert sorted(p.name for p in sweep.iterdir()) == [
        ".submitit", "0_smollm2_135m", "1_smollm2_135m", "multirun.yaml"]
    paths = [_assert_complete(sweep / f"{i}_smollm2_135m")["config"]["model"]["path"]
             for i in (0, 1)]
    assert paths == [str(smollm2_dir), None]
    assert list((sweep / ".submitit").glob("*/*_0_log.out"))  # each job's own log


@pytest.mark.slow
def test_a_failed_job_does_not_stop_the_others(tmp_path: Path, smollm2_dir: Path):
    out = tmp_path / "out"
    proc = _run("-m", "hydra/launcher=parallel", "+model=smollm2_135m",
                f"model.path={tmp_path / 'nowhere'},{smollm2_dir}", *TINY,
                f"output_root={out}", tmp=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    errors = {ln for ln in proc.stderr.splitlines() if ln.startswith("evalsuite:")}
    assert errors == {"evalsuite: sweep job 0_smollm2_135m: model path "
                      f"{tmp_path / 'nowhere'} does not exist: set model.path to a checkpoint "
                      "directory (with config.json) or a hub id like org/name"}
    sweep = _sweep_dir(out)
    assert not (sweep / "0_smollm2_135m").exists()  # a job that never started leaves nothing
    _assert_complete(sweep / "1_smollm2_135m")


@pytest.mark.slow
def test_checkpoints_sweep_and_its_report(tmp_path: Path, smollm2_dir: Path):
    run = tmp_path / "run1"
    run.mkdir()
    for step in (1500, 500, 1000):  # the same weights under three training steps
        (run / f"checkpoint-{step}").symlink_to(smollm2_dir, target_is_directory=True)
    out = tmp_path / "out"
    proc = _run("-m", "+model=smollm2_135m", f"checkpoints={run}", *TINY,
                f"output_root={out}", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = _sweep_dir(out)
    paths = [_assert_complete(sweep / f"{i}_smollm2_135m")["config"]["model"]["path"]
             for i in range(3)]
    assert paths == [str(run / f"checkpoint-{s}") for s in (500, 1000, 1500)]

    report = tmp_path / "report"
    proc = _run(f"sweep={sweep}", f"out={report}", "n_boot=200", "embeddings=false",
                module="evalsuite.compare", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    drift = json.loads((report / "drift.json").read_text())
    assert drift["sweep"]["key"] == "model.path"
    from evalsuite.report.sweep_figure import _sweep_x

    xs, ticks = _sweep_x(list(drift["sweep"]["values"].values()))
    assert (xs, ticks) == ([500.0, 1000.0, 1500.0], None)  # a numeric axis: training steps
    assert (report / "figures" / "sweep.png").is_file()


@pytest.mark.parametrize(("sbatch_said", "fix"), [
    ("sbatch: error: invalid partition specified: gpu\nsbatch: error: Batch job submission "
     "failed: Invalid partition name specified", "hydra.launcher.partition"),
    ("sbatch: error: Memory specification can not be satisfied", "hydra.launcher.mem_gb"),
    ("sbatch: error: Batch job submission failed: Requested node configuration is not "
     "available", "hydra.launcher.cpus_per_task"),
    ("sbatch: error: Batch job submission failed: Requested time limit is invalid (missing "
     "or exceeds some limit)", "hydra.launcher.timeout_min"),
    ("something new", "check hydra.launcher.*"),
])
def test_each_sbatch_refusal_names_the_setting_behind_it(sbatch_said: str, fix: str):
    # sbatch 22.05's own messages (the real ones are exercised in tests/test_slurm.py)
    from evalsuite.cli.slurm import refusal

    line = refusal(f"Command '['sbatch', 'x.sh']' returned non-zero exit status 1.\n"
                   f"{sbatch_said}")
    assert "\n" not in line and fix in line, line
    assert sbatch_said.splitlines()[0].split("sbatch: ", 1)[-1] in line
