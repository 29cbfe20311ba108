"""``python -m evalsuite.ingest SRC out=RUN_DIR``: write a normal run directory
(manifest.json, metrics.json, samples/TASK.jsonl) from another harness's output, so every
later tool (compare, report, judge, sweep plots) reads it as its own."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from evalsuite.cli._common import fail
from evalsuite.errors import UserError

USAGE = ("python -m evalsuite.ingest SRC out=RUN_DIR [format=lm-eval|inspect|lighteval] "
         "(SRC: lm_eval's --output_path, an inspect log file or --log-dir, or lighteval's "
         "--output-dir)")


def ingest(src: Path, out: Path, fmt: str | None = None) -> Path:
    from evalsuite.ingest import detect, load
    from evalsuite.schema import dump
    from evalsuite.storage.atomic import write_json, write_jsonl
    from evalsuite.storage.paths import uncreatable

    if detect(src, fmt) == "evalsuite":
        raise UserError(f"{src} is an evalsuite run already: compare it as it is")
    if out.exists() and any(out.iterdir()):
        raise UserError(f"out={out} is not empty: name a new directory")
    problem = uncreatable(str(out))
    if problem:
        raise UserError(f"out={out} cannot be created ({problem}): choose a directory you "
                        "can write to")
    rec = load(src, fmt)
    # written beside the target and renamed at the end: no half-written run directory
    tmp = out.with_name(f".{out.name}.ingest")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for task, rows in rec.samples.items():
            write_jsonl(tmp / "samples" / f"{task}.jsonl", [dump(r) for r in rows])
        write_json(tmp / "metrics.json", rec.metrics)
        write_json(tmp / "manifest.json", dump(rec.manifest))
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    outs = [a.split("=", 1)[1] for a in args if a.startswith("out=")]
    fmts = [a.split("=", 1)[1] for a in args if a.startswith("format=")]
    srcs = [a for a in args if not a.startswith(("out=", "format="))]
    if len(srcs) != 1 or len(outs) != 1 or not outs[0] or len(fmts) > 1:
        fail(f"name one source and out=: {USAGE}", 2)
    try:
        out = ingest(Path(srcs[0]).expanduser(), Path(outs[0]).expanduser(),
                     fmts[0] if fmts else None)
    except UserError as e:
        fail(e.message, e.exit_code)
        return
    except KeyboardInterrupt:
        fail("interrupted; nothing was written", 130)
        return
    print(f"run directory: {out}")
