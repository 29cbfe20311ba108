"""The embedding cache's files are untrusted: anything but unit vectors of the right
shape, loaded without pickle, is a miss; the key follows every text, their order and
the model's tag. Fast: no model is loaded."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from evalsuite.drift.embedcache import DIM, EmbeddingCache
from evalsuite.drift.embeddings import PRECISIONS, native_bf16, resolve_precision

TAG = "minilm-test-fp32-256"


def _unit(n: int, seed: int = 0) -> np.ndarray:
    a = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def test_stored_vectors_come_back_for_the_same_texts_only(tmp_path):
    cache = EmbeddingCache(tmp_path)
    texts, a = ["one", "two", ""], _unit(3)
    assert cache.get(TAG, texts) is None
    cache.put(TAG, texts, a)
    assert np.array_equal(cache.get(TAG, texts), a)
    assert cache.get(TAG, ["two", "one", ""]) is None  # order is part of the key
    assert cache.get(TAG, ["one", "two"]) is None
    assert cache.get(TAG, ["onetwo", ""]) is None  # no two lists share a byte stream
    assert cache.get("minilm-test-bf16-256", texts) is None
    assert (cache.hits, cache.misses) == (1, 5)
    assert not list(tmp_path.rglob("*.tmp"))


def _poison(cache: EmbeddingCache, texts: list[str], write) -> None:
    path = cache._path(TAG, texts)
    path.parent.mkdir(parents=True, exist_ok=True)
    write(path)


@pytest.mark.parametrize("bad", ["truncated", "pickle", "shape", "nan", "not unit", "dtype",
                                 "text", "zip", "npz", "huge"])
def test_a_tampered_file_is_a_miss_and_is_written_again(tmp_path, bad):
    cache = EmbeddingCache(tmp_path)
    texts, good = ["a", "b"], _unit(2)
    cache.put(TAG, texts, good)
    path = cache._path(TAG, texts)
    if bad == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    elif bad == "pickle":
        path.write_bytes(pickle.dumps({"boom": 1}))
    elif bad == "text":
        path.write_text("not numpy at all")
    elif bad == "zip":  # numpy opens anything with a zip header as an .npz
        path.write_bytes(b"PK\x03\x04" + b"junk" * 50)
    elif bad == "npz":
        with path.open("wb") as f:
            np.savez(f, good)
    elif bad == "huge":  # a header claiming 2**40 rows that the file does not hold
        with path.open("wb") as f:
            np.lib.format.write_array_header_1_0(
                f, {"descr": "<f4", "fortran_order": False, "shape": (2**40, DIM)})
    else:
        a = {"shape": _unit(3), "nan": np.full((2, DIM), np.nan, np.float32),
             "not unit": 2 * good, "dtype": good.astype(np.float64)}[bad]
        with path.open("wb") as f:
            np.save(f, a)
    assert cache.get(TAG, texts) is None
    cache.put(TAG, texts, good)
    assert np.array_equal(cache.get(TAG, texts), good)


def test_an_object_array_is_refused_without_unpickling(tmp_path):
    cache = EmbeddingCache(tmp_path)
    _poison(cache, ["x"], lambda p: np.save(p, np.array([object()], dtype=object),
                                            allow_pickle=True))
    assert cache.get(TAG, ["x"]) is None


def test_an_unwritable_cache_costs_only_the_saving(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    cache = EmbeddingCache(blocker)  # its embeddings/ folder cannot be made
    cache.put(TAG, ["a"], _unit(1))
    assert cache.get(TAG, ["a"]) is None


def test_precision_auto_follows_the_cpu():
    assert resolve_precision("auto") == ("bf16" if native_bf16() else "fp32")
    assert resolve_precision("fp32") == "fp32" and resolve_precision("bf16") == "bf16"
    assert PRECISIONS == ("auto", "fp32", "bf16")
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("fp16")


def test_the_folder_keeps_under_its_size_the_least_recently_used_going_first(tmp_path):
    import os

    one = _unit(4).nbytes + 128  # an .npy of 4 vectors, header included
    cache = EmbeddingCache(tmp_path, max_bytes=3 * one)
    lists = [[f"{i}-{j}" for j in range(4)] for i in range(4)]
    for i, texts in enumerate(lists[:3]):
        cache.put(TAG, texts, _unit(4, i))
        os.utime(cache._path(TAG, texts), (1000 + i, 1000 + i))  # put in this order
    assert cache.get(TAG, lists[0]) is not None  # read now: the newest use
    cache.put(TAG, lists[3], _unit(4, 3))
    assert cache.get(TAG, lists[1]) is None  # the least recently used went
    for texts in (lists[0], lists[2], lists[3]):
        assert cache.get(TAG, texts) is not None
    assert sum(f.stat().st_size for f in tmp_path.rglob("*.npy")) <= 3 * one


def test_a_file_larger_than_the_whole_cache_is_still_kept_for_this_run(tmp_path):
    cache = EmbeddingCache(tmp_path, max_bytes=1)
    cache.put(TAG, ["a"], _unit(1))
    cache.put(TAG, ["b"], _unit(1, 1))
    assert cache.get(TAG, ["b"]) is not None and cache.get(TAG, ["a"]) is None


def test_the_in_memory_memo_is_bounded_oldest_first():
    from evalsuite.drift.embeddings import SentenceEmbedder

    emb = object.__new__(SentenceEmbedder)  # the memo's plumbing, without the model
    emb._memo, emb.memo_size, emb.cache = {}, 3, None
    encoded: list[str] = []

    def encode(texts):
        encoded.extend(texts)
        return np.stack([_unit(1, sum(map(ord, t)))[0] for t in texts])

    emb.encode = encode
    first = emb.embed(["a", "b", "c", "a"])
    assert encoded == ["a", "b", "c"] and len(emb._memo) == 3
    emb.embed(["d"])  # "a" is the oldest: it goes
    assert len(emb._memo) == 3
    again = emb.embed(["a", "c"])
    assert encoded == ["a", "b", "c", "d", "a"]  # "c" still remembered, "a" encoded again
    assert np.array_equal(again, first[[0, 2]])
