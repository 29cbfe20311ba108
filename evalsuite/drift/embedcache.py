"""Embeddings kept on disk, one file per embedded list of responses.

A sweep compares every checkpoint with the same baseline, and a comparison is often
run again with other settings: the baseline's responses of a task are the same list
each time, so their embeddings are read back instead of computed again. A file is
named by a hash of the embedding model's tag and every text, in order, so a changed
response, model or precision misses. The files are untrusted input: one that does not
load without pickle, or holds anything but unit vectors of the expected shape, is
ignored and written again. The folder is kept under ``max_bytes`` (2 GiB by default,
about 1.4 million answers): past it, the files read or written longest ago go first.
Delete ``CACHE/embeddings`` at any time.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

DIM = 384
MAX_BYTES = 2 * 1024**3


def _key(tag: str, texts: Sequence[str]) -> str:
    h = hashlib.sha256(tag.encode())
    for t in texts:  # length-prefixed, so no two lists of texts share a stream of bytes
        b = t.encode("utf-8", "surrogatepass")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def _valid(a: np.ndarray, n: int) -> bool:
    if a.dtype != np.float32 or a.shape != (n, DIM) or not np.isfinite(a).all():
        return False
    return bool(np.all(np.abs(np.linalg.norm(a, axis=1) - 1.0) < 1e-3)) if n else True


class EmbeddingCache:
    """``get``/``put`` embeddings of a list of texts under ``ROOT/embeddings/TAG/``."""

    def __init__(self, root: str | os.PathLike[str], max_bytes: int = MAX_BYTES) -> None:
        self.root = Path(root) / "embeddings"
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0

    def _path(self, tag: str, texts: Sequence[str]) -> Path:
        return self.root / tag / f"{_key(tag, texts)}.npy"

    def get(self, tag: str, texts: Sequence[str]) -> np.ndarray | None:
        path = self._path(tag, texts)
        try:
            # mapped, not read: a header claiming more rows than the file holds fails
            # here instead of allocating them
            a = np.load(path, allow_pickle=False, mmap_mode="r")
        except Exception:  # absent, truncated, a zip, not an .npy file at all
            self.misses += 1
            return None
        try:
            if not isinstance(a, np.ndarray) or not _valid(a, len(texts)):
                self.misses += 1
                return None
            out = np.array(a, dtype=np.float32)  # out of the map, which then closes
        finally:
            if hasattr(a, "close"):  # an .npz opened by its zip header
                a.close()
        self.hits += 1
        with contextlib.suppress(OSError):  # used now: the last to be evicted
            os.utime(path)
        return out

    def put(self, tag: str, texts: Sequence[str], a: np.ndarray) -> None:
        """Store ``a``; a cache that cannot be written costs only the saving."""
        path = self._path(tag, texts)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # written beside its place and renamed: a crash leaves no half file
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    np.save(f, np.ascontiguousarray(a, dtype=np.float32), allow_pickle=False)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            self._evict(keep=path)
        except OSError:
            pass

    def _evict(self, keep: Path) -> None:
        """Delete the least recently used files until the folder fits ``max_bytes``."""
        files = []
        for f in self.root.glob("*/*.npy"):
            try:
                st = f.stat()
            except OSError:  # removed meanwhile by another comparison
                continue
            files.append((st.st_mtime, st.st_size, f))
        total = sum(size for _, size, _ in files)
        for _, size, f in sorted(files, key=lambda x: x[0]):
            if total <= self.max_bytes:
                break
            if f == keep:
                continue
            f.unlink(missing_ok=True)
            total -= size
