"""compare's n_jobs: candidates compared in forked worker processes give exactly the
numbers of one process; a worker's error, Ctrl-C and bad values are handled. Stored runs,
no model (the one test with the embedding encoder is slow)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evalsuite.drift import CompareSettings, compare
from evalsuite.drift.parallel import map_pieces, workers
from tests.conftest import REPO
from tests.stored_runs import write_run

NAMES = ["base", "syn", "unl", "other"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Path]:
    tmp = tmp_path_factory.mktemp("parallel")
    return [write_run(tmp / "base", "base", seed=1, if_pass=0.8, mc_pass=0.5),
            write_run(tmp / "syn", "syn", seed=2, if_pass=0.4, mc_pass=0.7, qa_share=0.5),
            write_run(tmp / "unl", "unl", seed=3, if_pass=0.7, mc_pass=0.7, qa_share=0.1),
            write_run(tmp / "other", "other", seed=4, if_pass=0.6, mc_pass=0.4)]


def _without_run_facts(drift: dict) -> dict:
    return {k: v for k, v in drift.items() if k not in ("created_at", "settings")}


@pytest.mark.parametrize("n_jobs", [2, 3, -1])
def test_any_number_of_processes_gives_the_numbers_of_one(runs, n_jobs):
    def run(jobs: int) -> dict:
        return compare(runs[0], runs[1:], CompareSettings(n_boot=500, embeddings=False,
                                                          n_jobs=jobs),
                       names=NAMES, remedies={"unl": "syn"})

    one, many = run(1), run(n_jobs)
    assert _without_run_facts(many) == _without_run_facts(one)
    assert many["settings"]["n_jobs"] == n_jobs
    # not vacuous: the candidates differ from each other and from the baseline
    scores = [one["comparisons"][n]["tasks"] for n in NAMES[1:]]
    assert scores[0] != scores[1] != scores[2]
    assert one["remedies"]["unl"]["comparison"]["tasks"]


def test_pieces_run_in_worker_processes_in_order():
    got = map_pieces(lambda i: (i, os.getpid()), 5, 2)
    assert [i for i, _ in got] == list(range(5))
    assert os.getpid() not in {pid for _, pid in got}
    assert [pid for _, pid in map_pieces(lambda i: (i, os.getpid()), 3, 1)] == [os.getpid()] * 3


def test_a_workers_error_reaches_the_caller_and_no_worker_is_left():
    import multiprocessing as mp

    def piece(i: int) -> int:
        if i == 2:
            raise ValueError("piece 2 broke")
        return i

    with pytest.raises(ValueError, match="piece 2 broke"):
        map_pieces(piece, 4, 2)
    assert mp.active_children() == []


def test_the_number_of_processes():
    assert workers(1, 10) == 1
    assert workers(4, 2) == 2  # never more than pieces
    assert 1 <= workers(-1, 100) <= (os.cpu_count() or 1)
    for bad in (0, -2):
        with pytest.raises(ValueError, match="n_jobs must be -1"):
            workers(bad, 3)


@pytest.mark.parametrize("value", [0, -2, 1.5, "many", True])
def test_a_bad_n_jobs_is_refused(runs, value):
    from omegaconf import OmegaConf

    from evalsuite.cli.compare import settings_from
    from evalsuite.errors import UserError
    from evalsuite.resources import CONF_DIR

    cfg = OmegaConf.load(CONF_DIR / "compare.yaml")
    cfg.baseline, cfg.candidate, cfg.n_jobs = str(runs[0]), str(runs[1]), value
    with pytest.raises(UserError, match="n_jobs must be -1"):
        settings_from(cfg)
    cfg.n_jobs = 3
    assert settings_from(cfg)[2].n_jobs == 3


def test_a_bad_n_jobs_is_one_line_and_writes_nothing(runs, tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "evalsuite.compare", f"baseline={runs[0]}",
         f"candidate={runs[1]}", f"out={tmp_path / 'cmp'}", "n_jobs=0"],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.strip().splitlines()[-1].startswith("evalsuite: n_jobs must be -1"), \
        r.stderr[-2000:]
    assert not (tmp_path / "cmp").exists()


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d.name))
    return out


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process table in /proc")
def test_ctrl_c_during_a_parallel_compare_is_one_line_and_ends_every_worker(runs, tmp_path):
    out = tmp_path / "cmp"
    # a terminal's Ctrl-C goes to the whole process group: the workers get it too
    proc = subprocess.Popen(
        [sys.executable, "-m", "evalsuite.compare", f"baseline={runs[0]}",
         f"candidate=[{runs[1]},{runs[2]},{runs[3]}]", f"out={out}", "n_boot=3000000",
         "n_jobs=2", "embeddings=false"], cwd=REPO, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env={**os.environ, "HYDRA_FULL_ERROR": "0"},
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 90
    workers_seen: list[int] = []
    while len(workers_seen) < 2 and proc.poll() is None and time.time() < deadline:
        workers_seen = _children(proc.pid)
        time.sleep(0.1)
    assert len(workers_seen) >= 2, "the comparison never started its workers"
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("evalsuite: interrupted before drift.json"), \
        err[-3000:]
    assert not out.exists()
    time.sleep(0.5)
    alive = [p for p in workers_seen if Path(f"/proc/{p}").exists()
             and "Z" not in (Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[:1])]
    assert alive == []


@pytest.mark.slow
def test_embeddings_after_the_workers_match_one_process(runs):
    """The encoder runs in the parent after the pool (torch is never forked): the same
    vectors, so the same AUC and Frechet distance, as with one process."""
    settings = {"n_boot": 200, "embeddings": True, "embedding_cache": False}
    one = compare(runs[0], runs[1:3], CompareSettings(**settings, n_jobs=1))
    two = compare(runs[0], runs[1:3], CompareSettings(**settings, n_jobs=2))
    assert _without_run_facts(two) == _without_run_facts(one)
    emb = one["comparisons"]["syn"]["distribution"]
    assert all("embeddings" in d for d in emb.values()) and emb
