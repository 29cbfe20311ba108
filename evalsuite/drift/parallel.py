"""The independent pieces of one comparison (one per candidate) on several cores.

Workers are forked, not spawned: they inherit the runs already read and paired, so
nothing large is sent to them, and only each piece's result (a few kilobytes of
statistics) comes back. The statistics are numpy on one core each, so processes, not
threads, are what uses a second core. Where fork is not available (Windows) the pieces
run one after another, with the same results: every piece draws its resamples from the
comparison's seed, not from a shared generator.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

_PIECE: Callable[[int], Any] | None = None


def cores() -> int:
    """The cores this process may run on (a SLURM job's or taskset's, not the machine's)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def workers(n_jobs: int, pieces: int) -> int:
    """Processes for ``pieces`` pieces: ``n_jobs`` -1 is every core this process may use."""
    if n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs must be -1 (every core) or at least 1, got {n_jobs}")
    return max(1, min(cores() if n_jobs == -1 else n_jobs, pieces))


def map_pieces(piece: Callable[[int], Any], n: int, n_jobs: int) -> list[Any]:
    """``[piece(0), ..., piece(n - 1)]``, in forked worker processes where it helps."""
    procs = workers(n_jobs, n)
    if procs == 1 or "fork" not in mp.get_all_start_methods():
        return [piece(i) for i in range(n)]
    global _PIECE
    _PIECE = piece
    log.info("comparing %d candidates in %d processes", n, procs)
    try:
        # leaving the block terminates the workers, also on Ctrl-C or an error in one
        with mp.get_context("fork").Pool(procs, initializer=_worker_signals) as pool:
            return pool.map(_run, range(n), chunksize=1)
    finally:
        _PIECE = None


def _run(i: int) -> Any:
    assert _PIECE is not None  # set before the fork
    return _PIECE(i)


def _worker_signals() -> None:
    # Ctrl-C reaches the whole process group: the parent reports it once and ends the
    # workers; a worker must not print a traceback of its own. SIGTERM from the parent's
    # Pool.terminate() ends a worker at once (the CLI's handler would raise instead).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
