"""The demo's steps as the commands a user would type, each in its own process.

Evaluations run as ``python -m evalsuite ...`` (a fresh process frees the model and
vLLM's engine before the next one starts) into a folder named by a hash of the command,
so a finished evaluation is reused and a partial one is run again. The comparison runs
as ``python -m evalsuite.compare ...`` into a temporary folder that replaces the report
folder only once it is complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from evalsuite.errors import UserError
from evalsuite.storage.atomic import write_text

log = logging.getLogger("evalsuite.demo")


def command_line(module: str, args: list[str]) -> str:
    return " ".join(["python", "-m", module, *(shlex.quote(a) for a in args)])


def _run(module: str, args: list[str], what: str) -> None:
    print(f"\n== {what}\n$ {command_line(module, args)}", flush=True)
    started = time.perf_counter()
    # Output goes straight through (progress bars included); a failure's own one-line
    # message is the last thing the user saw, so ours only says which step it was.
    proc = subprocess.Popen([sys.executable, "-m", module, *args])
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        # Ctrl-C in a terminal reaches the child too (same process group); a SIGTERM
        # sent to the demo alone (or SIGINT where the child ignores it, as in a background
        # job) is passed on as SIGTERM, which evalsuite treats like Ctrl-C. Either way the
        # child gets to stop its engine and mark its run partial before the demo goes.
        for sig, grace in ((None, 5), (signal.SIGTERM, 120)):
            if sig is not None and proc.poll() is None:
                proc.send_signal(sig)
            try:
                proc.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        raise
    if code != 0:
        raise UserError(f"{what} failed (exit {code}); see the lines above. "
                        "Finished steps are kept: run the demo again to continue")
    print(f"== {what}: done in {time.perf_counter() - started:.0f} s", flush=True)


def _path(p: Path) -> str:
    """A path as a Hydra override value (quoted when the grammar needs it)."""
    from evalsuite.config.sweeps import quote_override

    return quote_override(str(p))


def run_key(args: list[str], extra: dict[str, Any]) -> str:
    blob = json.dumps({"args": args, **extra}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def finished(run_dir: Path) -> bool:
    """Whether a complete run is there (read through the typed manifest; anything
    unreadable or damaged counts as not finished, and the step runs again)."""
    from evalsuite.errors import UserError
    from evalsuite.schema import read_manifest

    if not (run_dir / "manifest.json").is_file():
        return False
    try:
        return read_manifest(run_dir).status == "complete"
    except (OSError, UserError):
        return False


def evaluate(label: str, args: list[str], runs_dir: Path, key_extra: dict[str, Any]) -> Path:
    """``python -m evalsuite ARGS`` into ``runs_dir/LABEL-HASH``, unless already finished."""
    run_dir = (runs_dir / f"{label}-{run_key(args, key_extra)}").resolve()
    if finished(run_dir):
        print(f"\n== evaluate {label}: reusing the finished run {run_dir} "
              "(remove it to evaluate again)", flush=True)
        return run_dir
    if run_dir.exists():  # partial: its finished tasks are redone (no task-level resume yet)
        shutil.rmtree(run_dir)
    _run("evalsuite", [*args, f"hydra.run.dir={_path(run_dir)}"], f"evaluate {label}")
    if not finished(run_dir):
        raise UserError(f"evaluation of {label} ended without a complete run in {run_dir}")
    return run_dir


def compare(baseline: Path, candidates: list[Path], names: list[str], out: Path,
            extra: list[str]) -> Path:
    """``python -m evalsuite.compare`` into a temp folder, then swapped in for ``out``."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    cand = (_path(candidates[0]) if len(candidates) == 1
            else "[" + ",".join(_path(c) for c in candidates) + "]")
    args = [f"baseline={_path(baseline)}", f"candidate={cand}",
            f"names=[{','.join(names)}]", f"out={_path(tmp)}", *extra]
    try:
        _run("evalsuite.compare", args, "compare")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


TEXT_SUFFIXES = (".json", ".md", ".html", ".yaml", ".log", ".csv", ".tex")


def portable(folder: Path, root: Path, cache: Path) -> int:
    """Name no path of this machine in a report folder that gets committed: the evalsuite
    cache becomes ``CACHE``, paths under ``root`` (the working directory, where the demo
    keeps runs/ and reports/) become relative to it. Returns the files changed."""
    swaps = [(str(cache.resolve()), "CACHE"), (str(root.resolve()) + "/", ""),
             (str(root.resolve()), ".")]
    changed = 0
    for f in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES):
        text = f.read_text(encoding="utf-8")
        new = text
        for old, rel in swaps:
            new = new.replace(old, rel)
        if new != text:
            write_text(f, new)
            changed += 1
    return changed


def publish(tmp: Path, out: Path) -> None:
    """Replace ``out`` with the finished ``tmp``; the old report is kept as ``.NAME.old``
    until the new one is in place (and put back first if a crash came in between)."""
    out = out.resolve()
    old = out.with_name(f".{out.name}.old")
    if old.exists() and not out.exists():  # an earlier publish stopped between renames
        old.rename(out)
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)
