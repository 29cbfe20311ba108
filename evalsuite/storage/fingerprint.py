"""A model fingerprint: a hash of its weight files, cached by (path, size, mtime)."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from filelock import FileLock

from evalsuite.storage.atomic import write_json

log = logging.getLogger(__name__)

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")


def weight_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES)


def fingerprint(directory: Path, cache: Path) -> str:
    """``sha256:<hex>`` over the names and bytes of every weight file in ``directory``.

    Hashing a 7B checkpoint takes tens of seconds, so results are remembered in the
    cache, keyed by each file's path, size and modification time.
    """
    files = weight_files(directory)
    if not files:
        raise FileNotFoundError(f"no weight files in {directory}")
    key = "|".join(f"{p.resolve()}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
    memo_path = cache / "fingerprints.json"
    known = _read_memo(memo_path).get(key)
    if known is not None:
        return known
    h = hashlib.sha256()
    for p in files:
        h.update(p.relative_to(directory).as_posix().encode() + b"\0")
        with open(p, "rb") as f:
            while chunk := f.read(1 << 22):
                h.update(chunk)
    digest = f"sha256:{h.hexdigest()}"
    # Parallel sweep jobs share the memo: read, add and write under one lock, so that
    # no job's entry is lost to another's write.
    memo_path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(memo_path) + ".lock"):
        memo = _read_memo(memo_path)
        memo[key] = digest
        write_json(memo_path, memo)
    return digest


def _read_memo(path: Path) -> dict[str, str]:
    try:
        memo = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return memo if isinstance(memo, dict) else {}  # a damaged memo is only a cache


def hub_fingerprint(repo_id: str, revision: str | None, cache: Path) -> str:
    """Fingerprint of a hub model from its local snapshot, or its id and revision."""
    try:
        from huggingface_hub import snapshot_download

        snap = Path(snapshot_download(repo_id, revision=revision, local_files_only=True))
        return fingerprint(snap, cache)
    except Exception as e:  # not in the local cache: the id is the best we have
        log.warning("no local snapshot of %s to hash (%s); fingerprint uses the id", repo_id, e)
        return f"hub:{repo_id}@{revision or 'main'}"
