"""A durable cache of model answers, one row per lm-eval request.

Every request a task sends (a log-likelihood, a rolling log-likelihood, a generation) is
looked up by a key that hashes everything that changes its answer: the model's weight
fingerprint, the backend kind and the settings that change numerics (dtype, context
length), the request itself (prompt, continuation, generation settings) and, for
sampled generations, the run's seed and which repeat of the prompt it is. Misses go to
the model in chunks, and each chunk's answers are committed before the next starts, so a
run that crashes or is killed keeps all but the chunk in flight; the same command run
again only computes what is missing, and a finished run run again calls the model for
nothing.

The store is SQLite in WAL mode under the evalsuite cache (one file per model
fingerprint), so concurrent jobs on one machine read and write it safely.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import sqlite3
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lm_eval.api.model import LM

from evalsuite.models.backends.genparams import is_sampled
from evalsuite.models.generation import Generation
from evalsuite.models.wrap import WrappedLM

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
METHODS = ("loglikelihood", "loglikelihood_rolling", "generate_until")


class RequestStore:
    """SQLite key -> JSON value; every ``put_many`` is one committed transaction."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, timeout=120, isolation_level=None)
        self._setup()

    def _setup(self, wait_s: float = 120.0) -> None:
        # Two jobs opening a new store at once (a SLURM array's tasks start together):
        # the switch to WAL and the CREATE can answer "database is locked" at once,
        # without SQLite's busy wait, so they are retried here for as long as it waits.
        deadline = time.monotonic() + wait_s
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.execute("CREATE TABLE IF NOT EXISTS answers "
                                 "(key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL)")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        unique = list(dict.fromkeys(keys))
        for i in range(0, len(unique), 500):  # SQLite's host-parameter limit
            part = unique[i:i + 500]
            marks = ",".join("?" * len(part))
            for key, value in self._db.execute(
                    f"SELECT key, value FROM answers WHERE key IN ({marks})", part):
                out[key] = json.loads(value)
        return out

    def put_many(self, items: Sequence[tuple[str, Any]]) -> None:
        now = time.time()
        rows = [(k, json.dumps(v), now) for k, v in items]
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany("INSERT OR REPLACE INTO answers VALUES (?, ?, ?)", rows)
            self._db.execute("COMMIT")
        except BaseException as e:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            if isinstance(e, sqlite3.OperationalError) and "full" in str(e):
                raise OSError(errno.ENOSPC, f"request cache {self.path}: {e}") from e
            raise

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        self._db.close()


def store_path(root: Path, fingerprint: str, separate: bool = False) -> Path:
    """``ROOT/requests/FP.sqlite`` under the cache, ``ROOT/FP.sqlite`` in a directory of
    its own (``request_cache_dir``)."""
    name = f"{fingerprint.split(':')[-1][:24]}.sqlite"
    return root / name if separate else root / "requests" / name


def _sampled(args: Sequence[Any]) -> bool:
    kw = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
    return is_sampled(kw)


class CachedLM(WrappedLM):
    """Wraps an lm-eval ``LM``: answers come from the store when they can, else from it.

    Attributes it does not define (tokenizer, chat templates, ...) are the wrapped LM's.
    """

    def __init__(self, inner: LM, store: RequestStore, namespace: dict[str, Any],
                 seed: int, chunk_size: int = 64, keep_logprobs: bool = False) -> None:
        super().__init__(inner)
        self.store = store
        # whether answers carry their logprobs is part of the key: a store filled without
        # them must not answer a run that wants them
        self.namespace = {"schema": SCHEMA_VERSION, **namespace, "logprobs": keep_logprobs}
        self.keep_logprobs = keep_logprobs
        self.seed = seed
        self.chunk_size = max(1, chunk_size)
        self.stats: dict[str, int] = {"requests": 0, "cached": 0}

    def reset_stats(self) -> None:
        self.stats = {"requests": 0, "cached": 0}

    # lm-eval's three request types
    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[Any]:
        return self._answer("loglikelihood", requests, disable_tqdm)

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[Any]:
        return self._answer("loglikelihood_rolling", requests, disable_tqdm)

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[Any]:
        return self._answer("generate_until", requests, disable_tqdm)

    def key(self, method: str, args: Sequence[Any], repeat: int) -> str:
        sampled = method == "generate_until" and _sampled(args)
        blob = json.dumps({"ns": self.namespace, "method": method, "args": list(args),
                           # a sampled answer depends on the seed and on which repeat of
                           # the prompt it is (the vLLM engine seeds the k-th repeat apart)
                           "sample": [self.seed, repeat] if sampled else None},
                          sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def _answer(self, method: str, requests: list[Any], disable_tqdm: bool) -> list[Any]:
        # Requests are grouped the way the vLLM engine numbers repeats (the k-th request
        # with one context gets its own seed): by context for generations.
        seen: dict[str, int] = defaultdict(int)
        keys, groups = [], []
        for req in requests:
            ident = (req.args[0] if method == "generate_until"
                     else json.dumps(list(req.args), sort_keys=True, default=str))
            keys.append(self.key(method, req.args, seen[ident]))
            groups.append(ident)
            seen[ident] += 1
        members: dict[str, list[int]] = defaultdict(list)
        for i, g in enumerate(groups):
            members[g].append(i)
        found = self.store.get_many(keys)

        def complete(i: int) -> bool:  # a group is answered whole or sent again whole
            return all(keys[j] in found for j in members[groups[i]])

        n_cached = sum(complete(i) for i in range(len(requests)))
        self.stats["requests"] += len(requests)
        self.stats["cached"] += n_cached
        if n_cached:
            log.info("%s: %d of %d requests answered from the cache", method, n_cached,
                     len(requests))

        # Chunks are cut from the whole request list, not from the misses, so a resumed
        # run sends the backend exactly the batches an uninterrupted run would have.
        size = self.chunk_size * (1 if method == "generate_until" else 8)
        chunks = [c for c in _chunks(list(range(len(requests))), groups, size)
                  if not all(complete(i) for i in c)]
        for n, chunk in enumerate(chunks, 1):
            todo = [i for i in chunk if not complete(i)]
            if len(chunks) > 1:  # the backend's own progress bar covers one chunk
                log.info("%s: chunk %d of %d (%d requests)", method, n, len(chunks),
                         len(todo))
            answers = getattr(self.inner, method)([requests[i] for i in todo],
                                                  disable_tqdm=disable_tqdm)
            values = [self._value(method, a) for a in answers]
            self.store.put_many([(keys[i], v) for i, v in zip(todo, values, strict=True)])
            for i, v in zip(todo, values, strict=True):
                found[keys[i]] = v
        out = []
        for k in keys:
            value = found[k]
            answer = _decode(method, value["answer"])
            if method == "generate_until" and self.keep_logprobs:
                # a stored answer brings its logprobs back, as the backend handed them over
                answer = Generation(answer, logprobs=value.get("logprobs"))
            out.append(answer)
        return out

    def _value(self, method: str, answer: Any) -> dict[str, Any]:
        if method == "generate_until":
            value: dict[str, Any] = {"answer": str(answer)}
            if self.keep_logprobs:
                value["logprobs"] = getattr(answer, "logprobs", None)
            return value
        return {"answer": answer}



def _decode(method: str, answer: Any) -> Any:
    if method == "loglikelihood":
        logprob, greedy = answer
        return (float(logprob), bool(greedy))
    if method == "loglikelihood_rolling":
        return float(answer)
    return answer


def _chunks(todo: list[int], groups: list[str], size: int) -> list[list[int]]:
    """Chunks of about ``size`` of the ``todo`` indices. Repeats of one request stay in
    one chunk, so a backend that seeds the k-th repeat by its number sees them as in an
    uncached run."""
    by_group: dict[str, list[int]] = defaultdict(list)
    for i in todo:
        by_group[groups[i]].append(i)
    chunks: list[list[int]] = []
    current: list[int] = []
    for members in by_group.values():
        if current and len(current) + len(members) > size:
            chunks.append(current)
            current = []
        current.extend(members)
    if current:
        chunks.append(current)
    return chunks


