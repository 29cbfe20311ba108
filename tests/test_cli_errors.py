"""Bad input: one clear line on stderr, a non-zero exit, and no run directory left."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli


def _one_line_error(proc, *needles: str) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("evalsuite:")]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_unknown_model_name(tmp_path: Path):
    proc = run_cli("+model=no_such_model", f"hydra.run.dir={tmp_path / 'run'}")
    line = _one_line_error(proc, "unknown model 'no_such_model'", "smollm2_135m")
    assert "model/no_such_model.yaml" in line and "--config-dir" in line
    assert not (tmp_path / "run").exists()


def test_unknown_suite_name_in_a_sweep(tmp_path: Path):
    proc = run_cli("-m", "+model=smollm2_135m", "suite=quick,nope",
                   f"hydra.sweep.dir={tmp_path / 'sweep'}")
    _one_line_error(proc, "unknown suite 'nope'")
    assert not (tmp_path / "sweep").exists()


def test_no_model_named(tmp_path: Path):
    proc = run_cli(f"hydra.run.dir={tmp_path / 'run'}")
    _one_line_error(proc, "+model=NAME")
    assert not (tmp_path / "run").exists()


def test_model_path_that_does_not_exist(tmp_path: Path):
    proc = run_cli("+model=smollm2_135m", f"model.path={tmp_path / 'nowhere'}",
                   f"hydra.run.dir={tmp_path / 'run'}")
    _one_line_error(proc, "does not exist", "model.path")
    assert not (tmp_path / "run").exists()


def test_unknown_task_name(tmp_path: Path):
    proc = run_cli("+model=smollm2_135m", "tasks=[ifevall_offline]",
                   f"hydra.run.dir={tmp_path / 'run'}")
    _one_line_error(proc, "unknown task 'ifevall_offline'", "did you mean ifeval_offline")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("override,needle", [("seed=notanumber", "seed must be an integer"),
                                             ("backend.batch_size=[1", "cannot parse")])
def test_unparsable_override_is_one_line(tmp_path: Path, override: str, needle: str):
    proc = run_cli("+model=smollm2_135m", override, f"hydra.run.dir={tmp_path / 'run'}")
    _one_line_error(proc, needle)
    assert not (tmp_path / "run" / "manifest.json").exists()


def test_few_shot_on_an_offline_task_without_train_split(tmp_path: Path):
    proc = run_cli("+model=smollm2_135m", "+suite.tasks.arc_easy_offline.num_fewshot=5",
                   f"hydra.run.dir={tmp_path / 'run'}")
    _one_line_error(proc, "arc_easy_offline", "5-shot", "at most 0 shots")
    assert not (tmp_path / "run").exists()


def test_a_setting_out_of_range_is_one_line_before_the_model_loads(tmp_path: Path):
    proc = run_cli("+model=smollm2_135m", "suite=quick", "limit=0",
                   f"hydra.run.dir={tmp_path / 'run'}")
    _one_line_error(proc, "limit must be at least 1, got 0")
    assert proc.returncode == 2 and not (tmp_path / "run").exists()


def test_a_directory_that_cannot_be_made_is_one_line_before_work(tmp_path: Path):
    from evalsuite.storage.paths import uncreatable

    blocker = tmp_path / "a_file"
    blocker.write_text("")
    proc = run_cli("+model=smollm2_135m", "suite=quick", f"hydra.run.dir={blocker}/run")
    _one_line_error(proc, f"hydra.run.dir={blocker}/run cannot be created",
                    "is a file, not a directory")
    assert proc.returncode == 2
    proc = run_cli("baseline=x", "candidate=y", f"out={blocker}/cmp", module="evalsuite.compare")
    _one_line_error(proc, f"out={blocker}/cmp cannot be created")
    # the check itself: what may be made, and nothing is left behind by asking
    assert uncreatable(tmp_path / "new" / "deeper") is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]
    assert uncreatable(blocker) == f"{blocker} is a file, not a directory"


def test_a_sweep_dir_that_cannot_be_used_is_one_line_before_hydra(tmp_path: Path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    proc = run_cli("-m", "+model=smollm2_135m", "suite=quick", f"sweep_dir={blocker}/s")
    _one_line_error(proc, f"sweep_dir={blocker}/s cannot be created")
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "multirun.yaml").write_text(
        "hydra:\n  overrides:\n    task: ['+model=smollm2_135m', 'seed=1,2']\n")
    proc = run_cli("-m", "+model=smollm2_135m", "seed=1,2,3", f"sweep_dir={sweep}")
    _one_line_error(proc, f"sweep_dir={sweep} holds a different sweep (only there: seed=1,2; "
                    "only here: seed=1,2,3)")
    assert proc.returncode == 2
    assert sorted(p.name for p in sweep.iterdir()) == ["multirun.yaml"]  # nothing ran


def test_a_checkpoint_cut_short_is_one_line_before_it_loads(tmp_path: Path):
    import torch
    from safetensors.torch import save_file

    from evalsuite.errors import UserError
    from evalsuite.models.checkpoint import check_weights

    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text('{"model_type": "llama"}')
    save_file({"w": torch.zeros(64, 64), "b": torch.ones(64)}, str(ckpt / "model.safetensors"))
    check_weights(ckpt)  # whole: passes
    data = (ckpt / "model.safetensors").read_bytes()
    (ckpt / "model.safetensors").write_bytes(data[: len(data) - 100])  # a failed copy
    with pytest.raises(UserError, match=rf"is cut short \({len(data) - 100} of {len(data)}"):
        check_weights(ckpt)
    proc = run_cli("+model=smollm2_135m", "suite=quick", "backend=hf", f"model.path={ckpt}",
                   f"hydra.run.dir={tmp_path / 'run'}")
    _one_line_error(proc, "model.safetensors is cut short", "copy or download the checkpoint")
    assert proc.returncode == 2 and not (tmp_path / "run").exists()
    (ckpt / "model.safetensors").write_bytes(data[:4])
    with pytest.raises(UserError, match="too short for a safetensors header"):
        check_weights(ckpt)
    (ckpt / "config.json").write_text('{"model_type": "lla')
    with pytest.raises(UserError, match="config.json is not valid JSON"):
        check_weights(ckpt)


def test_an_interrupted_compare_leaves_no_folder_and_says_so_last(tmp_path: Path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import REPO
    from tests.stored_runs import write_run

    base = write_run(tmp_path / "base", "base", seed=1, if_pass=0.8, mc_pass=0.5)
    cand = write_run(tmp_path / "cand", "cand", seed=2, if_pass=0.6, mc_pass=0.6)
    out = tmp_path / "cmp"
    # enough resamples that the comparison is still computing when the signal comes
    proc = subprocess.Popen(
        [sys.executable, "-m", "evalsuite.compare", f"baseline={base}", f"candidate={cand}",
         f"out={out}", "n_boot=2000000"], cwd=REPO, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env={**os.environ, "HYDRA_FULL_ERROR": "0"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    while not (out / ".hydra").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)
    assert proc.poll() is None, "the comparison ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err
    # the line is the last thing on stderr: no progress bar redrawn after it
    assert err.strip().splitlines()[-1].startswith("evalsuite: interrupted before drift.json"), \
        err[-3000:]
    assert not out.exists(), sorted(p.name for p in out.iterdir())


def test_a_ctrl_c_caught_inside_generated_code_still_exits_130(tmp_path: Path):
    import subprocess
    import sys

    # dataclasses build their methods with exec(str); a Ctrl-C landing there, caught by
    # our handler, used to end a `python -m` process by SIGINT (-2) after the one line
    (tmp_path / "interrupted.py").write_text(
        "from evalsuite.cli._common import fail\n"
        "try:\n    exec('raise KeyboardInterrupt')\n"
        "except KeyboardInterrupt:\n    fail('interrupted; nothing was kept', 130)\n")
    r = subprocess.run([sys.executable, "-m", "interrupted"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 130, r.stderr
    assert r.stderr.strip() == "evalsuite: interrupted; nothing was kept"


def test_no_progress_bar_redraws_after_the_one_line():
    import subprocess
    import sys

    # a loop broken by an interrupt leaves its bar open (lm-eval's and vLLM's do); without
    # closing it first, it redraws at exit, after the line that has to be the last
    code = ("from tqdm import tqdm\nfrom evalsuite.cli._common import fail\n"
            "bar = tqdm(total=10, desc='generating'); bar.update(3)\n"
            "fail('interrupted; finished tasks are kept', 130)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 130
    assert "generating" in r.stderr  # the bar was drawn...
    last = r.stderr.replace("\r", "\n").strip().splitlines()[-1]
    assert last == "evalsuite: interrupted; finished tasks are kept", r.stderr  # ...then ours
