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
