"""docs/ builds as a site with `mkdocs build --strict`: a broken link or a page left out
of the navigation fails (issue 18)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import REPO


def _build(root: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                           "-f", str(root / "mkdocs.yml"), "-d", str(site)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})


def _nav_pages(nav: list) -> set[str]:
    pages: set[str] = set()
    for item in nav:
        for value in item.values():
            pages |= _nav_pages(value) if isinstance(value, list) else {value}
    return pages


def test_the_docs_build_strictly_with_every_page_in_the_nav(tmp_path: Path):
    r = _build(REPO, tmp_path / "site")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "site" / "comparing" / "index.html").is_file()
    nav = yaml.safe_load((REPO / "mkdocs.yml").read_text())["nav"]
    assert _nav_pages(nav) == {p.name for p in (REPO / "docs").glob("*.md")}


def test_a_broken_link_fails_the_build(tmp_path: Path):
    shutil.copytree(REPO / "docs", tmp_path / "docs")
    shutil.copy(REPO / "mkdocs.yml", tmp_path / "mkdocs.yml")
    page = tmp_path / "docs" / "demo.md"
    page.write_text(page.read_text() + "\nSee [the missing page](nowhere.md).\n")
    r = _build(tmp_path, tmp_path / "site")
    assert r.returncode != 0 and "nowhere.md" in r.stdout + r.stderr


HEADLINE = [("arc_easy_offline", "acc_norm", "ARC-Easy acc_norm"),
            (None, None, "Benchmark average (8)"),
            ("ifeval_offline", "inst_level_strict_acc", "IFEval instruction-level strict"),
            ("ifeval_offline", "prompt_level_strict_acc", "IFEval prompt-level strict")]
REMEDY = "synthetic_qa+unlearn"


def _cell(value: float, iv: list, mark: str = "") -> str:
    return f"{100 * value:.1f} [{100 * iv[0]:.1f}, {100 * iv[1]:.1f}]{mark}"


def headline_table(drift: dict) -> str:
    """The README's demo table, computed from the committed reports/demo/drift.json: the
    three checkpoints with 95 % intervals, * where a change is significant (Holm) against
    the checkpoint before it, and the share of each change the remedy undid."""
    rec = drift["remedies"][REMEDY]
    treated = rec["treated"]
    base = drift["baseline"]["label"]
    lines = [f"| | {base} | {treated} | {REMEDY} | share of the change undone |",
             "|---|---|---|---|---|"]
    for task, metric, label in HEADLINE:
        if task is None:
            r, sig_t, sig_r = rec["benchmark_average"], "", ""
        else:
            r = next(m for m in rec["metrics"] if (m["task"], m["metric"]) == (task, metric))
            before = drift["comparisons"][treated]["tasks"][task]["metrics"][metric]
            after = rec["comparison"]["tasks"][task]["metrics"][metric]
            sig_t = " *" if before["significant"] else ""
            sig_r = " *" if after["significant"] else ""
        what = {"lost": "recovered", "gained": "kept"}.get(r["kind"], "")
        share = (f"{what} {100 * r['share']:.0f} % [{100 * r['share_ci'][0]:.0f}, "
                 f"{100 * r['share_ci'][1]:.0f}]" if r["estimable"] else "(no change shown)")
        lines.append(f"| {label} | {_cell(r['baseline'], r['baseline_ci'])} | "
                     f"{_cell(r['treated'], r['treated_ci'], sig_t)} | "
                     f"{_cell(r['remedy'], r['remedy_ci'], sig_r)} | {share} |")
    from evalsuite.demo._controls import pattern_tests

    p = next(p for p in rec["patterns"] if p["pattern"] == "writes_new_question")
    rose = next(q for q in pattern_tests(drift["comparisons"][treated],
                                         drift["settings"]["alpha"])
                if (q["task"], q["pattern"]) == (p["task"], p["pattern"]))
    lines.append(f"| IFEval answers that write a new `Question:` (%) | {100 * p['baseline']:.1f} "
                 f"| {100 * p['treated']:.1f}{' *' if rose['significant'] else ''} | "
                 f"{100 * p['remedy']:.1f}{' *' if p['significant'] else ''} | |")
    return "\n".join(lines)


def test_the_readmes_demo_table_is_the_committed_reports_numbers():
    import json
    import re

    drift = json.loads((REPO / "reports" / "demo" / "drift.json").read_text())
    readme = (REPO / "README.md").read_text()
    m = re.search(r"<!-- demo-headline -->\n(.*?)\n<!-- /demo-headline -->", readme, re.S)
    assert m, "README.md has no <!-- demo-headline --> block"
    expected = headline_table(drift)
    assert m.group(1).strip() == expected, f"README's demo table is stale; it is:\n{expected}"
    assert "reports/demo/figures/remedy.png" in readme
