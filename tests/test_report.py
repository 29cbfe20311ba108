"""Reports from a stored comparison: every table and figure is written, the LaTeX table
parses back to drift.json's numbers (and compiles where a TeX engine exists), figures
are real images of the size the style promises, and sweeps get their own figure."""

from __future__ import annotations

import csv
import json
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evalsuite.drift import CompareSettings, compare
from evalsuite.report import render_report
from evalsuite.report import style as report_style
from tests.stored_runs import IF_TASK, MC_TASK, write_run

TABLES = ("main", "main_ci", "categories", "distribution", "flips")
FIGURES = {"scores": report_style.FULL, "categories": report_style.COLUMN,
           "lengths": report_style.COLUMN, "patterns": report_style.COLUMN,
           "ngrams": report_style.COLUMN, "embeddings": report_style.COLUMN}
SETTINGS = CompareSettings(n_boot=2000)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("runs")
    base = write_run(tmp / "base", "base", seed=1, if_pass=0.8, mc_pass=0.5)
    # drifted: instruction following down, MC up, half the answers in a Q-A template
    cand = write_run(tmp / "cand", "tuned", seed=2, if_pass=0.35, mc_pass=0.7, qa_share=0.5,
                     length=12)
    return base, cand


@pytest.fixture(scope="module")
def rendered(runs, tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("report")
    drift = compare(*runs[:1], [runs[1]], SETTINGS)
    (out / "drift.json").write_text(json.dumps(drift))
    render_report(drift, out)
    return drift, out


def test_every_table_and_figure_is_written(rendered):
    drift, out = rendered
    for name in TABLES:
        for ext in ("tex", "md", "csv"):
            assert (out / "tables" / f"{name}.{ext}").stat().st_size > 100, (name, ext)
    for name in FIGURES:
        for ext in ("png", "pdf"):
            assert (out / "figures" / f"{name}.{ext}").stat().st_size > 2000, (name, ext)
    assert not (out / "figures" / "sweep.png").exists()  # one candidate is not a sweep
    md = (out / "report.md").read_text()
    for link in re.findall(r"\]\(((?:tables|figures)/[^)]+)\)", md):
        assert (out / link).is_file(), link
    assert md.count("![") == len(FIGURES)
    page = (out / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == len(FIGURES)
    assert 'src="http' not in page and "<table" in page


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_figures_are_non_empty_images_of_the_expected_width(rendered):
    import matplotlib.image as mpimg

    _, out = rendered
    for name, width in FIGURES.items():
        w, h = _png_size(out / "figures" / f"{name}.png")
        assert w == round(width * report_style.DPI), name
        assert 0.25 * w < h < 1.5 * w, name
        pixels = mpimg.imread(out / "figures" / f"{name}.png")
        assert pixels.std() > 0.05, f"{name} looks blank"
        assert (out / "figures" / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"


def _tex_rows(path: Path) -> list[list[str]]:
    """Body rows of a booktabs table: cells between \\midrule and \\bottomrule."""
    text = path.read_text()
    body = text.split(r"\midrule", 1)[1].split(r"\bottomrule", 1)[0]
    rows = []
    for line in body.splitlines():
        line = line.strip()
        if not line.endswith(r"\\") or line.startswith(r"\multicolumn"):
            continue
        rows.append([c.strip() for c in line[:-2].split("&")])
    return rows


def _numbers(cell: str) -> list[float]:
    return [float(x) for x in re.findall(r"[+-]?\d+\.\d+", cell)]


def test_latex_main_table_parses_back_to_the_numbers_in_drift_json(rendered):
    drift, out = rendered
    [comp] = drift["comparisons"].values()
    m = comp["tasks"]
    rows = _tex_rows(out / "tables" / "main.tex")
    assert [r[0] for r in rows] == ["base", "tuned"]
    # columns: MC headline (acc_norm), then the four IFEval metrics
    order = [(MC_TASK, "acc_norm")] + [(IF_TASK, k) for k in (
        "prompt_level_strict_acc", "inst_level_strict_acc", "prompt_level_loose_acc",
        "inst_level_loose_acc")]
    for j, (task, metric) in enumerate(order, start=1):
        r = m[task]["metrics"][metric]
        assert _numbers(rows[0][j]) == [round(100 * r["baseline"], 1)]
        value, delta = _numbers(rows[1][j])
        assert value == round(100 * r["candidate"], 1)
        assert delta == pytest.approx(round(100 * r["delta"], 1), abs=0.051)
        assert ("^{*}" in rows[1][j]) == bool(r["significant"])
    # the drop in instruction following is real and marked; bold marks the better run
    ps = m[IF_TASK]["metrics"]["prompt_level_strict_acc"]
    assert ps["significant"] and ps["delta"] < 0
    assert rows[0][2].startswith(r"\textbf") and not rows[1][2].startswith(r"\textbf")
    ci_rows = _tex_rows(out / "tables" / "main_ci.tex")
    lo, hi = _numbers(ci_rows[1][2])[1:]
    assert lo == pytest.approx(round(100 * ps["ci_low"], 1), abs=0.051)
    assert hi == pytest.approx(round(100 * ps["ci_high"], 1), abs=0.051)


def test_category_table_and_csv_carry_the_same_numbers(rendered):
    drift, out = rendered
    [comp] = drift["comparisons"].values()
    strict = {r["category"]: r for r in comp["categories"] if r["level"] == "strict"}
    rows = _tex_rows(out / "tables" / "categories.tex")
    assert sorted(r[0].replace(r"\_", "_") for r in rows) == sorted(
        c.replace("_", " ") for c in strict)
    for row in rows:
        r = strict[row[0].replace(" ", "_")]
        assert int(row[1]) == r["n_units"]
        assert _numbers(row[2]) == [round(100 * r["baseline"], 1)]
        assert _numbers(row[3])[0] == round(100 * r["candidate"], 1)
    with open(out / "tables" / "main.csv") as f:
        table = list(csv.DictReader(f))
    got = {(r["checkpoint"], r["task"], r["metric"]): float(r["value"]) for r in table}
    for task, t in comp["tasks"].items():
        for metric, r in t["metrics"].items():
            assert got[("base", task, metric)] == pytest.approx(r["baseline"], abs=1e-12)
            assert got[("tuned", task, metric)] == pytest.approx(r["candidate"], abs=1e-12)


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no TeX engine (pdflatex)")
def test_latex_tables_compile(rendered, tmp_path):
    _, out = rendered
    inputs = "\n".join(rf"\input{{{out / 'tables' / t}.tex}}" for t in TABLES)
    (tmp_path / "doc.tex").write_text(
        "\\documentclass{article}\n\\usepackage{booktabs}\n\\usepackage{graphicx}\n"
        f"\\begin{{document}}\n{inputs}\n\\end{{document}}\n")
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 1000


def test_summary_names_what_changed(rendered):
    drift, out = rendered
    md = (out / "report.md").read_text()
    summary = md.split("## Summary", 1)[1].split("## Tables", 1)[0]
    assert "changed significantly after Holm correction" in summary
    assert "IFEval prompt-level strict accuracy" in summary
    assert "template patterns moved" in summary and "writes_new_question" in summary
    assert "got shorter" in summary
    # what the unchanged metrics could have shown: their mde, as drift.json states it
    quiet = [r["mde"] for c in drift["comparisons"].values() for t in c["tasks"].values()
             for r in t["metrics"].values() if not r["significant"] and r["mde"]]
    assert "detectable with 80 % power" in summary
    assert any(f"\u00b1{100 * m:.1f}" in summary for m in quiet), (quiet, summary)


def test_identical_runs_report_no_change(runs, tmp_path):
    base, _ = runs
    twin = shutil.copytree(base, tmp_path / "twin")
    drift = compare(base, [twin], SETTINGS, names=["base", "twin"])
    render_report(drift, tmp_path / "out")
    md = (tmp_path / "out" / "report.md").read_text()
    assert "none of the 6 task metrics changed significantly" in md
    # identical answers: no resample varies, so no power is claimed either way
    assert "detectable with 80 % power" not in md
    assert "**" not in (tmp_path / "out" / "tables" / "main.md").read_text().split("\n\n")[1]


def test_rendering_is_byte_stable(rendered, tmp_path):
    drift, out = rendered
    render_report(drift, tmp_path)
    for name in ("scores.png", "categories.pdf"):
        assert (tmp_path / "figures" / name).read_bytes() == (out / "figures" / name).read_bytes()
    assert (tmp_path / "tables" / "main.tex").read_text() == (
        out / "tables" / "main.tex").read_text()


def _cli(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_compare_cli_renders_and_report_cli_rerenders(runs, tmp_path):
    base, cand = runs
    out = tmp_path / "cmp"
    proc = _cli("evalsuite.compare", f"baseline={base}", f"candidate={cand}", f"out={out}",
                "n_boot=500", "embeddings=false", "names=[before,after]", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"report: {out / 'report.md'}" in proc.stdout
    drift = json.loads((out / "drift.json").read_text())
    assert list(drift["comparisons"]) == ["after"]
    assert not (out / "figures" / "embeddings.png").exists()  # embeddings=false
    (out / "report.md").unlink()
    shutil.rmtree(out / "figures")
    proc = _cli("evalsuite.report", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "report.md").is_file() and (out / "figures" / "scores.png").is_file()


def test_report_cli_on_a_directory_without_drift_json_is_one_line(tmp_path):
    proc = _cli("evalsuite.report", str(tmp_path), cwd=tmp_path)
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "no drift.json" in proc.stderr and "evalsuite.compare" in proc.stderr


def test_sweep_report_plots_each_metric_against_the_swept_checkpoint(tmp_path):
    sweep = tmp_path / "sweep"
    for job, (step, p) in enumerate([(0, 0.8), (1000, 0.6), (2000, 0.4), (3000, 0.3)]):
        write_run(sweep / f"{job}_run", "tuned", seed=10 + job, if_pass=p,
                  mc_pass=0.5 + step / 10_000, qa_share=step / 6000,
                  model_path=f"/ckpts/run/checkpoint-{step}")
    out = tmp_path / "out"
    proc = _cli("evalsuite.compare", f"sweep={sweep}", f"out={out}", "n_boot=300",
                "embeddings=false", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    drift = json.loads((out / "drift.json").read_text())
    assert drift["baseline"]["path"] == str(sweep / "0_run")
    assert len(drift["comparisons"]) == 3
    assert drift["sweep"]["key"] == "model.path"
    assert sorted(drift["sweep"]["values"].values())[-1] == "/ckpts/run/checkpoint-3000"
    # labelled by the checkpoint, not by the model name they all share
    assert drift["baseline"]["label"] == "checkpoint-0"
    assert list(drift["comparisons"]) == [f"checkpoint-{s}" for s in (1000, 2000, 3000)]
    w, _ = _png_size(out / "figures" / "sweep.png")
    assert w == round(report_style.FULL * report_style.DPI)
    # another baseline by its job folder; a wrong name is one line
    proc = _cli("evalsuite.compare", f"sweep={sweep}", "baseline=2_run", f"out={tmp_path / 'b'}",
                "n_boot=100", "embeddings=false", "render=false", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    other = json.loads((tmp_path / "b" / "drift.json").read_text())
    assert other["baseline"]["path"] == str(sweep / "2_run")
    assert other["baseline"]["label"] == "checkpoint-2000"
    assert list(other["comparisons"]) == [f"checkpoint-{s}" for s in (0, 1000, 3000)]
    assert not (tmp_path / "b" / "report.md").exists()
    proc = _cli("evalsuite.compare", f"sweep={sweep}", "baseline=nope", f"out={tmp_path / 'c'}",
                cwd=tmp_path)
    assert proc.returncode != 0 and "baseline='nope' is none of the sweep's runs" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "c").exists()


def test_bootstrap_intervals_of_each_value_cover_it():
    from evalsuite.drift.stats import bootstrap_intervals

    rng = np.random.default_rng(0)
    b = (rng.random(400) < 0.3).astype(float)
    c = (rng.random(400) < 0.6).astype(float)
    ones = np.ones(400)
    [iv] = bootstrap_intervals([(b, ones, c, ones)], n_boot=4000, seed=1)
    for key, x in (("baseline", b.mean()), ("candidate", c.mean()), ("delta", c.mean() - b.mean())):
        lo, hi = iv[key]
        assert lo < x < hi
    se = np.sqrt(0.3 * 0.7 / 400)  # the normal interval's half width for the baseline
    assert iv["baseline"][1] - iv["baseline"][0] == pytest.approx(2 * 1.96 * se, rel=0.15)


def test_a_comparison_of_benchmarks_only_renders_what_applies(runs, tmp_path):
    base, cand = runs
    copies = []
    for run in (base, cand):
        dst = shutil.copytree(run, tmp_path / run.name)
        metrics = json.loads((dst / "metrics.json").read_text())
        del metrics[IF_TASK]  # a run of log-likelihood benchmarks only
        (dst / "metrics.json").write_text(json.dumps(metrics))
        copies.append(dst)
    drift = compare(copies[0], [copies[1]], SETTINGS)
    render_report(drift, tmp_path / "out")
    assert sorted(p.stem for p in (tmp_path / "out" / "tables").glob("*.tex")) == [
        "flips", "main", "main_ci"]
    assert sorted(p.stem for p in (tmp_path / "out" / "figures").glob("*.png")) == ["scores"]
    md = (tmp_path / "out" / "report.md").read_text()
    assert "ARC-E" in md and "IFEval" not in md and "On IFEval" not in md


def test_several_candidates_one_missing_a_task_and_a_raw_score(runs, tmp_path):
    base, cand = runs
    partial = shutil.copytree(cand, tmp_path / "partial")
    metrics = json.loads((partial / "metrics.json").read_text())
    del metrics[IF_TASK]  # this candidate only ran the benchmark
    (partial / "metrics.json").write_text(json.dumps(metrics))
    drift = compare(base, [partial, cand], SETTINGS, names=["base", "bench-only", "tuned"])
    # a judge-style score on a 1-10 scale must not be shown as a percentage
    for comp in drift["comparisons"].values():
        row = comp["tasks"][MC_TASK]["metrics"]["acc"]
        comp["tasks"][MC_TASK]["metrics"]["score"] = {
            **row, "baseline": 7.5, "candidate": 6.0, "delta": -1.5, "ci_low": -2.0,
            "ci_high": -1.0, "p_value": 1e-6, "p_holm": 1e-5, "significant": True}
    render_report(drift, tmp_path / "out")
    rows = _tex_rows(tmp_path / "out" / "tables" / "main.tex")
    assert [r[0] for r in rows] == ["base", "bench-only", "tuned"]
    assert len(rows[1]) == len(rows[2]) == 1 + 1 + 4  # MC headline + IFEval's four
    assert all(c == "--" for c in rows[1][2:])        # no IFEval for bench-only
    assert _numbers(rows[2][2])[0] == round(100 * drift["comparisons"]["tuned"]["tasks"][
        IF_TASK]["metrics"]["prompt_level_strict_acc"]["candidate"], 1)
    summary = (tmp_path / "out" / "report.md").read_text()
    assert "7.5 \u2192 6.0 (-1.5, 95 % CI [-2.0, -1.0]" in summary
    assert (tmp_path / "out" / "figures" / "patterns.png").is_file()


def test_sweep_axis_is_numeric_only_for_training_steps():
    from evalsuite.report.sweep_figure import _sweep_x

    assert _sweep_x(["/c/run/checkpoint-1000", "/c/run/checkpoint-500"]) == ([1000.0, 500.0],
                                                                            None)
    assert _sweep_x(["step2000", "step4000"])[0] == [2000.0, 4000.0]
    assert _sweep_x([0.1, 0.3])[0] == [0.1, 0.3]
    # model sizes are names, not positions: run order with the names as ticks
    assert _sweep_x(["pythia-160m", "pythia-410m", "pythia-1b"]) == (
        [0, 1, 2], ["pythia-160m", "pythia-410m", "pythia-1b"])


def test_too_few_answers_for_the_two_sample_auc_still_render(tmp_path: Path):
    """4 paired answers: the classifier's AUC is null (it needs 5 per class), and the
    comparison, the report and a re-render from drift.json still finish, saying n/a."""
    from evalsuite.report import load_drift

    few = ["Yes, it is.", "No, it is not.", "Maybe later today.", "I cannot say that."]
    base = write_run(tmp_path / "base", "base", seed=1, if_pass=0.8, mc_pass=0.5, responses=few)
    cand = write_run(tmp_path / "cand", "tuned", seed=2, if_pass=0.4, mc_pass=0.6,
                     responses=[f"Question: why?\nAnswer: {r}" for r in few])
    out = tmp_path / "cmp"
    out.mkdir()
    drift = compare(base, [cand], CompareSettings(n_boot=200))
    (out / "drift.json").write_text(json.dumps(drift))
    drift = load_drift(out)  # as `python -m evalsuite.report` reads it: the NaN is null now
    (comp,) = drift["comparisons"].values()
    emb = comp["distribution"][IF_TASK]["embeddings"]
    assert emb["classifier_two_sample"]["auc"] is None and emb["classifier_two_sample"]["n"] == 4
    render_report(drift, out)
    assert (out / "figures" / "embeddings.png").is_file()
    assert "two-sample AUC" not in (out / "report.md").read_text().split("## ")[1]  # summary
