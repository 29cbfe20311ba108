"""inspect_ai eval logs as runs (issue 16): two logs the real `inspect eval` CLI wrote on
the real SmolLM2 (through inspect's own hf provider) compared by evalsuite.compare,
ingested as a run directory, and refused in one line when they cannot be used."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.slow
TASK = "quiz"


def _inspect(log_dir: Path, model: Path, max_tokens: int) -> Path:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "2"}
    proc = subprocess.run(
        ["inspect", "eval", f"{REPO / 'tests' / 'inspect_tasks.py'}@{TASK}",
         "--model", "hf/smollm2", "-M", f"model_path={model}", "-M", "do_sample=false",
         "-M", "device=cpu", "--max-tokens", str(max_tokens), "--log-dir", str(log_dir),
         "--display", "plain"],
        cwd=log_dir.parent, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return log_dir


@pytest.fixture(scope="module")
def logs(tmp_path_factory, smollm2_dir: Path) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("inspect")
    return (_inspect(tmp / "short", smollm2_dir, 8), _inspect(tmp / "long", smollm2_dir, 32))


def _read(log_dir: Path):
    from inspect_ai.log import list_eval_logs, read_eval_log

    (info,) = list_eval_logs(str(log_dir))
    return read_eval_log(info.name)


def test_two_inspect_logs_compare_with_inspect_s_own_numbers(logs, tmp_path):
    out = tmp_path / "cmp"
    r = run_cli(f"baseline={logs[0]}", f"candidate={logs[1]}", f"out={out}", "n_boot=200",
                "embeddings=false", module="evalsuite.compare", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    drift = json.loads((out / "drift.json").read_text())
    assert drift["baseline"]["source"] == drift["candidates"][0]["source"] == "inspect"
    (comp,) = drift["comparisons"].values()
    metrics = comp["tasks"][TASK]["metrics"]
    for side, d in (("baseline", logs[0]), ("candidate", logs[1])):
        lg = _read(d)
        own = {s.name: s.metrics["accuracy" if "accuracy" in s.metrics else "mean"].value
               for s in lg.results.scores}
        assert metrics["includes"][side] == pytest.approx(own["includes"])
        assert metrics["answer_words"][side] == pytest.approx(own["answer_words"])
    short, long = _read(logs[0]), _read(logs[1])
    pairs = {s.id: [s.scores["includes"].value] for s in short.samples}
    for s in long.samples:
        pairs[s.id].append(s.scores["includes"].value)
    assert metrics["includes"]["flips"]["gained"] == sum(a == "I" and b == "C"
                                                        for a, b in pairs.values())
    assert metrics["includes"]["n"] == len(short.samples) == 6
    assert metrics["answer_words"]["delta"] > 0  # 32 tokens say more than 8
    md = (out / "report.md").read_text()
    assert "an inspect eval log: no model fingerprint recorded" in md


def test_an_inspect_log_ingests_as_a_run_directory(logs, tmp_path):
    from evalsuite.drift.runs import load_run

    (log_file,) = logs[0].glob("*.eval")
    out = tmp_path / "run"
    r = run_cli(str(log_file), f"out={out}", module="evalsuite.ingest", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = load_run(log_file), load_run(out)
    assert a.metrics == b.metrics and a.samples == b.samples
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["source"]["format"] == "inspect"
    assert manifest["versions"]["inspect_ai"] == _read(logs[0]).eval.packages["inspect_ai"]
    assert manifest["tasks"][TASK]["version"] == 2
    assert manifest["tasks"][TASK]["generation_kwargs"]["max_tokens"] == 8
    cmp = tmp_path / "cmp"
    r = run_cli(f"baseline={out}", f"candidate={logs[0]}", f"out={cmp}", "n_boot=100",
                "embeddings=false", "render=false", module="evalsuite.compare", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    (comp,) = json.loads((cmp / "drift.json").read_text())["comparisons"].values()
    assert all(m["delta"] == 0 for m in comp["tasks"][TASK]["metrics"].values())


def test_dict_scores_and_failed_samples_read_as_inspect_wrote_them(logs, tmp_path):
    from inspect_ai.log import EvalError, write_eval_log
    from inspect_ai.scorer import Score

    from evalsuite.drift.runs import load_run
    from evalsuite.ingest import load

    lg = _read(logs[0])  # edited and written back by inspect's own writer
    lg.samples[0].scores["parts"] = Score(value={"said": 1.0, "verdict": "C"})
    lg.samples[2].error = EvalError(message="RuntimeError: a tool broke", traceback="",
                                    traceback_ansi="")
    out = tmp_path / "edited"
    out.mkdir()
    write_eval_log(lg, str(out / "edited.eval"))
    rec = load(out)
    by_id = {r.sample_id: r for r in rec.samples[TASK]}
    assert by_id["q0"].scores["parts.said"] == 1.0 and by_id["q0"].scores["parts.verdict"] == 1
    assert by_id["q2"].error == "RuntimeError: a tool broke"
    assert "q2" not in {r["sample_id"] for r in load_run(out).samples[TASK]}  # not compared


def test_inspect_logs_it_cannot_use_are_one_line(logs, tmp_path):
    (log_file,) = logs[0].glob("*.eval")
    # a log cut short (a crash, a full disk)
    cut = tmp_path / "cut"
    cut.mkdir()
    data = log_file.read_bytes()
    (cut / log_file.name).write_bytes(data[: len(data) // 2])
    r = run_cli(str(cut), f"out={tmp_path / 'o1'}", module="evalsuite.ingest", cwd=tmp_path)
    assert r.returncode == 2 and "cannot be read as an inspect log" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "o1").exists()
    # a log that did not finish
    bad = tmp_path / "unfinished"
    bad.mkdir()
    with zipfile.ZipFile(log_file) as z, zipfile.ZipFile(bad / log_file.name, "w") as w:
        for item in z.infolist():
            body = z.read(item)
            if item.filename in ("header.json", "_journal/start.json"):
                doc = json.loads(body)
                if "status" in doc:
                    doc["status"] = "cancelled"
                body = json.dumps(doc).encode()
            w.writestr(item, body)
    r = run_cli(f"baseline={bad}", f"candidate={logs[1]}", f"out={tmp_path / 'o2'}",
                module="evalsuite.compare", cwd=tmp_path)
    assert r.returncode == 2 and "ended with status cancelled" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "o2").exists()
    # named as another format
    r = run_cli(f"baseline={logs[0]}", f"candidate={logs[1]}", "format=lm-eval",
                f"out={tmp_path / 'o3'}", module="evalsuite.compare", cwd=tmp_path)
    assert r.returncode == 2 and "as format=lm-eval says" in r.stderr
    # a directory of something else
    other = tmp_path / "other"
    shutil.copytree(logs[0], other)
    for f in other.glob("*.eval"):
        f.rename(f.with_suffix(".txt"))
    r = run_cli(str(other), f"out={tmp_path / 'o4'}", module="evalsuite.ingest", cwd=tmp_path)
    assert r.returncode == 2 and "no inspect log" in r.stderr
