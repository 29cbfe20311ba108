"""Sample explorer at scale: write explorer.html for 1k to 35k paired samples (a full
``suite=paper`` comparison holds about 35,000) and time it in Debian's chromium.

For each size: two run directories (bench_compare's IFEval-shaped generations with
instruction lists and 4-way multiple choice), the comparison (in process, no embeddings,
no report), then ``write_explorer``; in the browser (Selenium, system chromedriver): the
load until the page is ready, a flip filter, a text search and a page turn, each timed
inside the page. Prints a table, writes JSON.

    python bench/bench_explorer.py [--sizes 1000,10000,35000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_compare import make_run  # noqa: E402

from evalsuite.drift.analysis import CompareSettings, compare  # noqa: E402
from evalsuite.report.explorer import write_explorer  # noqa: E402

TIMED = {
    "flip filter": "const s=document.getElementById('f-flip'); s.value='lost';"
                   "s.dispatchEvent(new Event('change'));",
    "text search": "const q=document.getElementById('f-q'); q.value='the';"
                   "q.dispatchEvent(new Event('input'));",
    "next page": "document.getElementById('next').click();",
}


def _driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "chromium"
    # precise-memory-info: performance.memory otherwise reports coarse buckets
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--enable-precise-memory-info"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "chromedriver"),
                            options=opts)


def _long_mc_prompts(path: Path) -> None:
    rows = [json.loads(x) for x in path.read_text().splitlines() if x]
    for r in rows:
        stem = f"Question {r['sample_id']}: which of these statements about the topic is true? "
        r["prompt"] = stem + " ".join(f"({c}) option {c} says something about it." * 6
                                      for c in "ABCD") + "\nAnswer:"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def measure(size: int, root: Path, driver) -> dict:
    n_gen = max(1, round(size * 0.15))  # suite=paper: mostly multiple choice
    n_mc = size - n_gen
    base = make_run(root, f"base{size}", n_gen, n_mc, seed=1, drift=0.0)
    cand = make_run(root, f"cand{size}", n_gen, n_mc, seed=2, drift=0.3)
    for run in (base, cand):  # multiple-choice prompts of MMLU's length (about 600 chars)
        _long_mc_prompts(run / "samples" / "arc_easy_offline.jsonl")
    drift = compare(base, [cand], CompareSettings(n_boot=200, embeddings=False, examples=0))
    out = root / f"cmp{size}"
    out.mkdir()
    t = time.perf_counter()
    page = write_explorer(drift, out)
    write_s = time.perf_counter() - t
    assert page is not None
    t = time.perf_counter()
    driver.get(page.as_uri())
    driver.execute_script("return 1")
    while driver.execute_script("return document.body.dataset.ready") != "1":
        time.sleep(0.05)
    load_s = time.perf_counter() - t
    row = {"pairs": size, "generations": n_gen, "file_mb": round(page.stat().st_size / 1e6, 1),
           "write_s": round(write_s, 2), "browser_load_s": round(load_s, 2),
           "shown": int(driver.find_element("id", "count").text)}
    for name, js in TIMED.items():
        ms = driver.execute_script(f"const t=performance.now(); {js} return performance.now()-t;")
        row[f"{name} ms"] = round(ms)
    heap = driver.execute_script("return performance.memory ? performance.memory.usedJSHeapSize"
                                 " : null")
    row["js_heap_mb"] = None if heap is None else round(heap / 1e6)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,35000")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "explorer.json"))
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    driver = _driver()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for size in sizes:
                rows.append(measure(size, Path(tmp), driver))
                print(rows[-1], flush=True)
        version = driver.capabilities.get("browserVersion")
    finally:
        driver.quit()
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    result = {"chromium": version, "rows": rows,
              "note": "times inside the page (performance.now) include the re-render of "
                      "one page of 50 pairs with word differences marked"}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
