"""The request cache with a counting fake LM: hits, misses, keys, crashes, concurrency.

The real-model resume test (a SIGKILLed run continued) is in test_resume.py."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest
from lm_eval.api.instance import Instance
from lm_eval.api.model import LM

from evalsuite.models.generation import Generation
from evalsuite.models.reqcache import CachedLM, RequestStore


class FakeLM(LM):
    """Answers from the request text; records every batch it was sent."""

    def __init__(self, fail_after: int | None = None) -> None:
        super().__init__()
        self.batches: list[list[tuple]] = []
        self.fail_after = fail_after
        self.tokenizer = "fake-tokenizer"

    def _batch(self, requests: list[Instance]) -> None:
        if self.fail_after is not None and len(self.batches) >= self.fail_after:
            raise RuntimeError("killed")
        self.batches.append([tuple(map(str, r.args)) for r in requests])

    def loglikelihood(self, requests, disable_tqdm=False):
        self._batch(requests)
        return [(-float(len(c)), len(c) % 2 == 0) for _, c in (r.args for r in requests)]

    def loglikelihood_rolling(self, requests, disable_tqdm=False):
        self._batch(requests)
        return [-float(len(r.args[0])) for r in requests]

    def generate_until(self, requests, disable_tqdm=False):
        self._batch(requests)
        seen: dict[str, int] = {}
        out = []
        for r in requests:
            k = seen.get(r.args[0], 0)
            seen[r.args[0]] = k + 1
            # the answer carries its logprobs, as the vLLM engine's answers do
            out.append(Generation(f"{r.args[0]}|t={r.args[1].get('temperature', 0)}|k={k}",
                                  logprobs=[-0.5 * (k + 1)]))
        return out


def _gen(prompt: str, temperature: float = 0.0, i: int = 0) -> Instance:
    kw = {"until": ["\n"], "max_gen_toks": 8}
    if temperature:
        kw.update(do_sample=True, temperature=temperature)
    return Instance("generate_until", {}, (prompt, kw), i)


def _ll(ctx: str, cont: str, i: int = 0) -> Instance:
    return Instance("loglikelihood", {}, (ctx, cont), i)


def _cached(tmp_path: Path, inner: LM, fp: str = "sha256:aa", seed: int = 1,
            chunk: int = 4, logprobs: bool = False) -> CachedLM:
    store = RequestStore(tmp_path / "store.sqlite")
    return CachedLM(inner, store, {"fingerprint": fp, "backend": "fake"}, seed=seed,
                    chunk_size=chunk, keep_logprobs=logprobs)


def test_a_second_pass_calls_the_model_for_nothing(tmp_path):
    reqs = [_gen(f"prompt {i}", i=i) for i in range(10)]
    lls = [_ll(f"ctx {i}", f" c{i}" * (i + 1), i) for i in range(10)]
    first = _cached(tmp_path, FakeLM())
    out_gen, out_ll = first.generate_until(reqs), first.loglikelihood(lls)
    assert first.stats == {"requests": 20, "cached": 0}
    assert sum(len(b) for b in first.inner.batches) == 20

    again_inner = FakeLM()
    again = _cached(tmp_path, again_inner)
    assert again.generate_until(reqs) == out_gen
    assert again.loglikelihood(lls) == out_ll
    assert again_inner.batches == []
    assert again.stats == {"requests": 20, "cached": 20}


def test_keys_change_with_model_settings_and_sampling_seed(tmp_path):
    c = _cached(tmp_path, FakeLM())
    greedy, sampled = _gen("p").args, _gen("p", 0.7).args
    assert c.key("generate_until", greedy, 0) == c.key("generate_until", greedy, 0)
    other_model = _cached(tmp_path, FakeLM(), fp="sha256:bb")
    assert c.key("generate_until", greedy, 0) != other_model.key("generate_until", greedy, 0)
    other_seed = _cached(tmp_path, FakeLM(), seed=2)
    # a greedy answer does not depend on the seed; a sampled one does, and on the repeat
    assert c.key("generate_until", greedy, 0) == other_seed.key("generate_until", greedy, 0)
    assert c.key("generate_until", sampled, 0) != other_seed.key("generate_until", sampled, 0)
    assert c.key("generate_until", sampled, 0) != c.key("generate_until", sampled, 1)
    longer = ("p", {**greedy[1], "max_gen_toks": 9})
    assert c.key("generate_until", greedy, 0) != c.key("generate_until", longer, 0)
    assert c.key("loglikelihood", ("a", "b"), 0) != c.key("loglikelihood", ("a", "bb"), 0)


def test_a_crash_keeps_finished_chunks_and_the_resume_sends_the_same_batches(tmp_path):
    reqs = [_gen(f"prompt {i}", 0.7, i) for i in range(6) for _ in range(2)]  # 2 repeats
    reqs += [_gen(f"greedy {i}", 0.0, i) for i in range(7)]
    # what the backend answers without any cache: the k-th repeat of a prompt says k=...
    expected = FakeLM().generate_until(reqs)

    reference = FakeLM()
    assert _cached(tmp_path / "ref", reference).generate_until(reqs) == expected
    crashing = FakeLM(fail_after=2)
    with pytest.raises(RuntimeError, match="killed"):
        _cached(tmp_path, crashing).generate_until(reqs)
    done = sum(len(b) for b in crashing.batches)
    assert 0 < done < len(reqs)

    resumed_inner = FakeLM()
    resumed = _cached(tmp_path, resumed_inner)
    assert resumed.generate_until(reqs) == expected
    assert resumed.stats["cached"] == done
    assert sum(len(b) for b in resumed_inner.batches) == len(reqs) - done
    # no finished request was generated twice, and the rest went in the same batches
    assert crashing.batches + resumed_inner.batches == reference.batches


def test_a_partly_stored_group_of_repeats_is_sent_again_whole(tmp_path):
    # 2 repeats stored; then the task asks for 4: the backend numbers repeats within a
    # call, so sending only repeats 3 and 4 would draw repeats 1 and 2 again
    two = [_gen("p", 0.7, 0) for _ in range(2)]
    four = [_gen("p", 0.7, 0) for _ in range(4)]
    (tmp_path / "a").mkdir()
    _cached(tmp_path / "a", FakeLM()).generate_until(two)
    inner = FakeLM()
    out = _cached(tmp_path / "a", inner).generate_until(four)
    assert out == FakeLM().generate_until(four)
    assert len(set(out)) == 4 and len(inner.batches[0]) == 4


def test_logprobs_come_back_with_cached_answers(tmp_path):
    reqs = [_gen("p", 0.7, 0), _gen("p", 0.7, 1)]
    first = _cached(tmp_path, FakeLM(), logprobs=True)
    assert [a.logprobs for a in first.generate_until(reqs)] == [[-0.5], [-1.0]]
    without = _cached(tmp_path, FakeLM())  # stored with logprobs: another key
    assert without.key("generate_until", reqs[0].args, 0) != first.key(
        "generate_until", reqs[0].args, 0)
    again = _cached(tmp_path, FakeLM(), logprobs=True)
    answers = again.generate_until(reqs)
    assert again.inner.batches == []  # from the store, with each answer's own logprobs
    assert [a.logprobs for a in answers] == [[-0.5], [-1.0]]
    assert all(type(a) is str for a in without.generate_until(reqs))  # not asked: plain text


def test_unknown_attributes_come_from_the_wrapped_lm(tmp_path):
    c = _cached(tmp_path, FakeLM())
    assert c.tokenizer == "fake-tokenizer" and c.rank == 0 and c.world_size == 1
    with pytest.raises(AttributeError):
        c.no_such_attribute  # noqa: B018


def _writer(path: str, worker: int, n: int) -> None:
    store = RequestStore(Path(path))
    for i in range(n):
        store.put_many([(f"w{worker}-{i}-{j}", {"answer": [worker, i, j]}) for j in range(5)])
    store.close()


def test_concurrent_writers_do_not_corrupt_the_store(tmp_path):
    path = tmp_path / "shared.sqlite"
    RequestStore(path).close()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), w, 40)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    store = RequestStore(path)
    assert len(store) == 4 * 40 * 5
    got = store.get_many([f"w{w}-39-4" for w in range(4)])
    assert sorted(v["answer"][0] for v in got.values()) == [0, 1, 2, 3]


def _open_and_write(path: str, barrier) -> None:
    barrier.wait()  # every process opens the new store at the same moment
    RequestStore(Path(path)).put_many([("k", 1)])


def test_jobs_that_open_a_new_store_at_once_all_get_it(tmp_path: Path):
    """A SLURM array's jobs start together: SQLite's switch to WAL answered "database is
    locked" at once (no busy wait) to all but one of them, and their jobs failed."""
    ctx = mp.get_context("fork")  # the module is imported here once, not per process
    failed = 0
    for i in range(12):
        path = str(tmp_path / f"s{i}.sqlite")
        barrier = ctx.Barrier(4)
        procs = [ctx.Process(target=_open_and_write, args=(path, barrier)) for _ in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        failed += sum(p.exitcode != 0 for p in procs)
        assert RequestStore(Path(path)).get_many(["k"]) == {"k": 1}
    assert failed == 0
