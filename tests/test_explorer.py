"""explorer.html: every paired sample in one page, checked in a real browser (Debian's
chromium driven by Selenium through the system chromedriver; issue 18)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.stored_runs import IF_TASK, MC_TASK, write_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def compared(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("explorer")
    base = write_run(root / "base", "base", seed=1, if_pass=0.8, mc_pass=0.5)
    cand = write_run(root / "cand", "cand", seed=2, if_pass=0.55, mc_pass=0.6, qa_share=0.3)
    out = root / "cmp"
    r = run_cli(f"baseline={base}", f"candidate={cand}", f"out={out}", "n_boot=100",
                "embeddings=false", module="evalsuite.compare", cwd=root)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"explorer: {out / 'explorer.html'}" in r.stdout
    return out


def _data(out: Path) -> dict:
    page = (out / "explorer.html").read_text()
    m = re.search(r'<script id="data" type="application/json">(.*?)</script>', page, re.S)
    assert m, "the page carries its data"
    return json.loads(m.group(1))


def test_the_page_holds_every_pair_with_the_flips_drift_json_counts(compared: Path):
    drift = json.loads((compared / "drift.json").read_text())
    data = _data(compared)
    comp = drift["comparisons"]["cand"]
    assert len(data["pairs"]) == sum(m["n"] for t in comp["tasks"].values()
                                     for m in list(t["metrics"].values())[:1])
    assert data["tasks"] == {IF_TASK: "prompt_level_strict_acc", MC_TASK: "acc"}
    for task, metric in data["tasks"].items():
        flips = comp["tasks"][task]["metrics"][metric]["flips"]
        mine = [p["f"] for p in data["pairs"] if p["t"] == task]
        assert mine.count("lost") == flips["lost"] and mine.count("gained") == flips["gained"]
    page = (compared / "explorer.html").read_text()
    assert "http://" not in page and "https://" not in page  # no CDN: opens offline


def test_an_answer_cannot_break_out_of_the_page(tmp_path: Path):
    hostile = "</script><script>window.pwned=1</script><!--"
    base = write_run(tmp_path / "b", "base", seed=1, if_pass=0.8, mc_pass=0.5)
    cand = write_run(tmp_path / "c", "cand", seed=2, if_pass=0.5, mc_pass=0.5,
                     responses=[hostile] * 60)
    out = tmp_path / "cmp"
    r = run_cli(f"baseline={base}", f"candidate={cand}", f"out={out}", "n_boot=50",
                "embeddings=false", "render=false", module="evalsuite.compare", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    page = (out / "explorer.html").read_text()
    assert hostile not in page
    assert [p["rc"] for p in _data(out)["pairs"] if p["t"] == IF_TASK][0] == hostile


def test_without_the_runs_the_report_cli_keeps_going_and_says_why(compared: Path,
                                                                   tmp_path: Path):
    copy = tmp_path / "copy"
    shutil.copytree(compared, copy)
    drift = json.loads((copy / "drift.json").read_text())
    drift["baseline"]["path"] = str(tmp_path / "gone")
    (copy / "drift.json").write_text(json.dumps(drift))
    (copy / "explorer.html").unlink()
    r = run_cli(str(copy), module="evalsuite.report", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "no explorer.html" in r.stderr and (copy / "report.md").is_file()
    assert not (copy / "explorer.html").exists()


def _browser():
    missing = [n for n, ok in (("chromium", CHROMIUM), ("chromedriver", DRIVER)) if not ok]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium")
    if missing:
        # CI installs them (.ci/run): there a missing browser is a failure, not a skip
        if os.environ.get("EVALSUITE_CI"):
            pytest.fail(f"{', '.join(missing)} missing: apt-get install chromium "
                        "chromium-driver; pip install selenium")
        pytest.skip(f"{', '.join(missing)} not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--allow-file-access-from-files"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=DRIVER), options=opts)


def test_filters_in_a_real_browser_count_what_drift_json_counts(compared: Path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    drift = json.loads((compared / "drift.json").read_text())
    comp = drift["comparisons"]["cand"]
    data = _data(compared)
    driver = _browser()
    try:
        driver.get((compared / "explorer.html").as_uri())
        WebDriverWait(driver, 30).until(
            lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")

        def count(name: str = "count") -> int:
            return int(driver.find_element(By.ID, name).text)

        def choose(select_id: str, value: str) -> None:
            Select(driver.find_element(By.ID, select_id)).select_by_value(value)

        assert count("total") == count() == len(data["pairs"])
        assert len(driver.find_elements(By.CSS_SELECTOR, "#list .pair")) == 50  # a page
        assert driver.find_element(By.ID, "pages").text == str(-(-len(data["pairs"]) // 50))
        driver.find_element(By.ID, "next").click()
        assert driver.find_element(By.ID, "page").text == "2"
        for task, metric in data["tasks"].items():
            flips = comp["tasks"][task]["metrics"][metric]["flips"]
            choose("f-task", task)
            assert count("count-lost") == flips["lost"]
            for flip in ("lost", "gained"):
                choose("f-flip", flip)
                assert count() == flips[flip], (task, flip)
                badges = driver.find_elements(By.CSS_SELECTOR, f"#list .badge.f-{flip}")
                assert len(badges) == min(flips[flip], 50)
            choose("f-flip", "")
        choose("f-task", IF_TASK)
        # a category filter keeps the prompts that carry an instruction of that category
        row = next(r for r in comp["categories"] if r["task"] == IF_TASK)
        choose("f-cat", row["category"])
        with_cat = [p for p in data["pairs"] if p["t"] == IF_TASK
                    and any(i[1] == row["category"] for i in p["ib"])]
        assert count() == len(with_cat)
        choose("f-cat", "")
        # the pattern filter agrees with drift.json's pattern rate
        rate = next(p for p in comp["distribution"][IF_TASK]["patterns"]
                    if p["pattern"] == "writes_new_question")
        choose("f-pat", "writes_new_question")
        assert count() == round(rate["candidate"] * rate["n"]) > 0
        choose("f-pat", "")
        # text search finds the one pair whose prompt holds it
        box = driver.find_element(By.ID, "f-q")
        box.send_keys("topic 17.")
        assert count() == 1
        first = driver.find_element(By.CSS_SELECTOR, "#list .pair")
        assert first.get_attribute("data-id") == "17"
        # both answers side by side, differences marked
        assert first.find_elements(By.CSS_SELECTOR, "del") or \
            first.find_elements(By.CSS_SELECTOR, "ins")
        assert driver.execute_script("return window.pwned") is None
    finally:
        driver.quit()
