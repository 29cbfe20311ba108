"""lm-eval's own output directories as runs: compared with evalsuite's runs, ingested as
run directories, and refused in one line when they cannot be paired (issue 16). Every
file here is written by the real lm-eval CLI on the real SmolLM2."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli

TASKS = "ifeval_offline,arc_easy_offline"
LIMIT = 3


def _lm_eval(out: Path, model: Path, tasks: str, include: str, max_gen_toks: int,
             limit: int = LIMIT, chat: bool = True) -> Path:
    env = {k: v for k, v in os.environ.items() if k != "NLTK_DATA"}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", OMP_NUM_THREADS="2")
    proc = subprocess.run(
        ["lm-eval", "run", "--model", "hf", "--model_args",
         f"pretrained={model},dtype=float32", "--tasks", tasks,
         "--include_path", include, "--batch_size", "2", "--limit", str(limit),
         "--device", "cpu", "--gen_kwargs", f"max_gen_toks={max_gen_toks}",
         *(["--apply_chat_template"] if chat else []), "--log_samples",
         "--output_path", str(out)],
        cwd=out.parent, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def lm_eval_out(tmp_path_factory, smollm2_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("lm_eval") / "out"
    return _lm_eval(out, smollm2_dir, TASKS, str(REPO / "tasks"), 16)


@pytest.fixture(scope="module")
def lm_eval_longer(tmp_path_factory, smollm2_dir: Path) -> Path:
    """The same model with other settings (answers up to 32 tokens), and IFEval also under
    a task name of its own, the way a team keeps its own copy of the stock task."""
    tmp = tmp_path_factory.mktemp("lm_eval_longer")
    tasks = shutil.copytree(REPO / "tasks", tmp / "tasks")  # lm-eval takes one include path
    (tasks / "ifeval_copy.yaml").write_text(
        f"include: {tasks / 'ifeval_offline' / 'ifeval_offline.yaml'}\ntask: ifeval_copy\n")
    return _lm_eval(tmp / "out", smollm2_dir, TASKS + ",ifeval_copy", str(tasks), 32)


@pytest.fixture(scope="module")
def evalsuite_run(tmp_path_factory, smollm2_dir: Path) -> Path:
    run = tmp_path_factory.mktemp("evalsuite") / "run"
    r = run_cli("+model=smollm2_135m", "backend=hf", f"tasks=[{TASKS}]", f"limit={LIMIT}",
                "max_gen_toks=16", f"hydra.run.dir={run}", timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    return run


def _model_dir(out: Path) -> Path:
    (results,) = out.rglob("results_*.json")
    return results.parent


def test_an_lm_eval_directory_reads_as_the_run_lm_eval_scored(lm_eval_out: Path):
    from evalsuite.drift.runs import load_run

    run = load_run(lm_eval_out)  # the --output_path itself; its one model folder is found
    assert run.path == _model_dir(lm_eval_out)
    results = json.loads(next(lm_eval_out.rglob("results_*.json")).read_text())
    assert run.manifest.model.source == "lm-eval" and run.manifest.model.fingerprint is None
    assert run.manifest.versions["lm_eval"] == results["lm_eval_version"]
    for task in TASKS.split(","):
        assert run.task_info(task).version == results["versions"][task]
        assert len(run.samples[task]) == LIMIT
        for key, value in results["results"][task].items():
            metric, _, filt = key.partition(",")
            if metric in run.metrics[task] and filt == "none":
                assert run.metrics[task][metric] == value
    ifeval = run.samples["ifeval_offline"][0]
    ids = ifeval["doc"]["instruction_id_list"]
    assert [i["id"] for i in ifeval["instructions"]] == ids  # the verdicts, per instruction
    assert ifeval["scores"]["inst_level_strict_acc"] == [i["strict"] for i in
                                                          ifeval["instructions"]]
    mc = run.samples["arc_easy_offline"][0]
    assert len(mc["loglikelihoods"]) == len(mc["choices"]) == 4
    assert all(isinstance(x, float) for x in mc["loglikelihoods"])
    assert mc["response"] == mc["choices"][mc["loglikelihoods"].index(max(mc["loglikelihoods"]))]


def test_an_lm_eval_baseline_pairs_with_an_evalsuite_candidate(lm_eval_out: Path,
                                                               evalsuite_run: Path,
                                                               tmp_path: Path):
    # lm-eval applied the chat template to ARC too, evalsuite does not: the prompts differ,
    # and that is refused in one line naming the task
    r = run_cli(f"baseline={lm_eval_out}", f"candidate={evalsuite_run}", f"out={tmp_path / 'x'}",
                module="evalsuite.compare", cwd=tmp_path)
    assert r.returncode == 2 and "arc_easy_offline" in r.stderr and "prompt" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "x").exists()
    out = tmp_path / "cmp"
    r = run_cli(f"baseline={_model_dir(lm_eval_out)}", f"candidate={evalsuite_run}",
                f"out={out}", "n_boot=200", "embeddings=false", "allow_prompt_mismatch=true",
                module="evalsuite.compare", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    drift = json.loads((out / "drift.json").read_text())
    assert drift["baseline"]["source"] == "lm-eval"
    assert drift["candidates"][0]["source"] == "evalsuite"
    (comp,) = drift["comparisons"].values()
    for task in TASKS.split(","):
        for row in comp["tasks"][task]["metrics"].values():
            assert row["n"] == LIMIT and row["matches_stored"]  # lm-eval's own numbers
    assert "an lm-eval output: no model fingerprint recorded" in (out / "report.md").read_text()
    # IFEval was asked the same way by both (chat template, 16 tokens, greedy): nothing moved
    ifeval = comp["tasks"]["ifeval_offline"]["metrics"]
    assert all(m["delta"] == 0 for m in ifeval.values()), ifeval


def test_two_lm_eval_outputs_compare_with_lm_eval_s_own_numbers(lm_eval_out: Path,
                                                                lm_eval_longer: Path,
                                                                tmp_path: Path):
    out, junit = tmp_path / "cmp", tmp_path / "gate.xml"
    r = run_cli(f"baseline={lm_eval_out}", f"candidate={lm_eval_longer}", f"out={out}",
                "n_boot=200", "embeddings=false", "gate={inst_level_strict_acc:0.0}",
                f"junit={junit}", module="evalsuite.compare", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]  # 3 prompts: no drop can be significant
    assert "gate passed" in r.stdout and junit.is_file()
    drift = json.loads((out / "drift.json").read_text())
    (comp,) = drift["comparisons"].values()
    assert set(comp["tasks"]) == set(TASKS.split(","))  # ifeval_copy is not paired by name
    for side, d in (("baseline", lm_eval_out), ("candidate", lm_eval_longer)):
        results = json.loads(next(d.rglob("results_*.json")).read_text())["results"]
        for task in TASKS.split(","):
            for metric, row in comp["tasks"][task]["metrics"].items():
                assert row[side] == pytest.approx(results[task][f"{metric},none"]), (side, metric)
    flips = comp["tasks"]["ifeval_offline"]["metrics"]["prompt_level_strict_acc"]["flips"]
    base = load_samples(lm_eval_out, "ifeval_offline")
    cand = load_samples(lm_eval_longer, "ifeval_offline")
    lost = sum(b["prompt_level_strict_acc"] and not c["prompt_level_strict_acc"]
               for b, c in zip(base, cand, strict=True))
    assert flips["lost"] == lost
    assert any(p != q for p, q in zip([b["resps"] for b in base], [c["resps"] for c in cand],
                                      strict=True))  # the settings did change the answers
    assert (out / "report.md").is_file() and (out / "report.html").is_file()


def test_task_map_pairs_a_copy_of_the_task_on_purpose(lm_eval_longer: Path,
                                                      evalsuite_run: Path, tmp_path: Path):
    out = tmp_path / "cmp"
    r = run_cli(f"baseline={evalsuite_run}", f"candidate={lm_eval_longer}", f"out={out}",
                "n_boot=100", "embeddings=false", "render=false", "format={candidate:lm-eval}",
                "task_map={ifeval_copy:ifeval_offline}", module="evalsuite.compare",
                cwd=tmp_path)
    assert r.returncode == 2 and "holds both" in r.stderr  # lm_eval_longer has both names
    mine = tmp_path / "copy_only"
    shutil.copytree(_model_dir(lm_eval_longer), mine)
    results = next(mine.glob("results_*.json"))
    data = json.loads(results.read_text())
    for key in ("results", "configs", "versions", "n-shot", "higher_is_better", "n-samples"):
        (data.get(key) or {}).pop("ifeval_offline", None)
    results.write_text(json.dumps(data))
    for f in mine.glob("samples_ifeval_offline_*.jsonl"):
        f.unlink()
    r = run_cli(f"baseline={evalsuite_run}", f"candidate={mine}", f"out={out}",
                "n_boot=100", "embeddings=false", "render=false", "allow_prompt_mismatch=true",
                "task_map={ifeval_copy:ifeval_offline}", module="evalsuite.compare",
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    (comp,) = json.loads((out / "drift.json").read_text())["comparisons"].values()
    assert comp["tasks"]["ifeval_offline"]["metrics"]["inst_level_strict_acc"]["n"] == LIMIT
    assert any("paired by task_map with ifeval_copy (candidate)" in w for w in comp["warnings"])


@pytest.fixture(scope="module")
def mmlu_pair(tmp_path_factory, smollm2_dir: Path) -> tuple[Path, Path]:
    """MMLU (a group: 57 subjects), one question each, by lm-eval and by evalsuite."""
    tmp = tmp_path_factory.mktemp("mmlu")
    lm = _lm_eval(tmp / "lm", smollm2_dir, "mmlu_offline", str(REPO / "tasks"), 16, limit=1,
                  chat=False)
    r = run_cli("+model=smollm2_135m", "backend=hf", "tasks=[mmlu_offline]", "limit=1",
                "model.chat_template=false",
                f"hydra.run.dir={tmp / 'es'}", timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    return lm, tmp / "es"


def test_a_group_reads_as_one_task_and_pairs_with_evalsuite_s_run_of_it(mmlu_pair, tmp_path):
    from evalsuite.drift.runs import load_run

    lm, es = mmlu_pair
    run, mine = load_run(lm), load_run(es)
    results = json.loads(next(lm.rglob("results_*.json")).read_text())
    assert list(run.samples) == ["mmlu_offline"]  # the group, not 57 subject tasks
    assert run.metrics["mmlu_offline"]["acc"] == results["results"]["mmlu_offline"]["acc,none"]
    subjects = results["group_subtasks"]
    info = run.task_info("mmlu_offline")
    assert info.version == results["versions"]["mmlu_offline"] == mine.task_info(
        "mmlu_offline").version
    assert set(info.subtasks) == set(mine.task_info("mmlu_offline").subtasks)
    assert {t for ts in subjects.values() for t in ts} <= set(info.subtasks)
    assert sorted(r["sample_id"] for r in run.samples["mmlu_offline"]) == sorted(
        r["sample_id"] for r in mine.samples["mmlu_offline"])  # SUBJECT/DOC_ID, 57 of them
    out = tmp_path / "cmp"
    r = run_cli(f"baseline={lm}", f"candidate={es}", f"out={out}", "n_boot=100",
                "embeddings=false", "render=false", module="evalsuite.compare", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    (comp,) = json.loads((out / "drift.json").read_text())["comparisons"].values()
    acc = comp["tasks"]["mmlu_offline"]["metrics"]["acc"]
    assert acc["n"] == 57 and acc["matches_stored"] and acc["delta"] == 0


def load_samples(d: Path, task: str) -> list[dict]:
    (f,) = d.rglob(f"samples_{task}_*.jsonl")
    return [json.loads(x) for x in f.read_text().splitlines() if x.strip()]


def test_ingest_writes_a_run_directory_every_tool_reads(lm_eval_out: Path, tmp_path: Path):
    from evalsuite.drift.runs import load_run

    out = tmp_path / "ingested"
    r = run_cli(str(lm_eval_out), f"out={out}", module="evalsuite.ingest", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (out / "manifest.json").is_file()
    assert (out / "samples" / "ifeval_offline.jsonl").is_file()
    a, b = load_run(lm_eval_out), load_run(out)
    assert a.metrics == b.metrics and a.samples == b.samples
    assert json.loads((out / "manifest.json").read_text())["source"]["format"] == "lm-eval"
    cmp = tmp_path / "cmp"
    r = run_cli(f"baseline={out}", f"candidate={lm_eval_out}", f"out={cmp}", "n_boot=100",
                "embeddings=false", "render=false", module="evalsuite.compare", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    (comp,) = json.loads((cmp / "drift.json").read_text())["comparisons"].values()
    assert all(m["delta"] == 0 for t in comp["tasks"].values() for m in t["metrics"].values())
    again = run_cli(str(lm_eval_out), f"out={out}", module="evalsuite.ingest", cwd=tmp_path)
    assert again.returncode == 2 and "is not empty" in again.stderr


def test_lm_eval_outputs_it_cannot_use_are_one_line(lm_eval_out: Path, tmp_path: Path):
    src = _model_dir(lm_eval_out)
    (results,) = src.glob("results_*.json")
    # written without --log_samples: results only
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(results, bare / results.name)
    r = run_cli(str(bare), f"out={tmp_path / 'o1'}", module="evalsuite.ingest", cwd=tmp_path)
    assert r.returncode == 2 and "--log_samples" in r.stderr, r.stderr
    # a samples file cut mid-line (a crash, a full disk)
    cut = tmp_path / "cut"
    shutil.copytree(src, cut)
    f = next(cut.glob("samples_ifeval_offline_*.jsonl"))
    f.write_text(f.read_text()[:-40])
    r = run_cli(str(cut), f"out={tmp_path / 'o2'}", module="evalsuite.ingest", cwd=tmp_path)
    assert r.returncode == 2 and f.name in r.stderr and "cut short" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "o2").exists()
    # two lm-eval runs in one folder: the newest is read, and the log says so
    two = tmp_path / "two"
    shutil.copytree(src, two)
    date = results.name[len("results_"):-len(".json")]
    for p in list(two.iterdir()):
        p.rename(p.with_name(p.name.replace(date, "2000-01-01T00-00-00.000000")))
    shutil.copytree(src, two, dirs_exist_ok=True)
    (two / results.name).write_text(results.read_text())
    r = run_cli(str(two), f"out={tmp_path / 'o3'}", module="evalsuite.ingest", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    manifest = json.loads((tmp_path / "o3" / "manifest.json").read_text())
    assert manifest["source"]["results_file"] == results.name
    assert manifest["source"]["runs_in_directory"] == 2
    # neither format
    r = run_cli(str(tmp_path / "bare" / results.name), f"out={tmp_path / 'o4'}",
                module="evalsuite.ingest", cwd=tmp_path)
    assert r.returncode == 2 and "is not a run directory (no manifest.json" in r.stderr
