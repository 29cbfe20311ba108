"""The fast paths of the analysis at scale give what the direct ones give: resampling by
distinct rows against resampling indices, the sign flips by distinct differences, the
vectorised score columns, and the plain-row reader against the typed one."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from evalsuite.drift import stats
from evalsuite.errors import UserError


def _binary_columns(n: int, seed: int) -> list[stats.Column]:
    rng = np.random.default_rng(seed)
    base = (rng.random(n) < 0.5).astype(float)
    cand = np.where(rng.random(n) < 0.15, 1 - base, base)
    other = np.where(rng.random(n) < 0.3, 1 - base, base)
    ones = np.ones(n)
    return [(base, ones, cand, ones), (base, ones, other, ones)]


def _cluster_columns(n: int, seed: int) -> list[stats.Column]:
    """IFEval-shaped: 1-3 verdicts per prompt, the sums and counts per prompt."""
    rng = np.random.default_rng(seed)
    k = rng.integers(1, 4, size=n).astype(float)
    b = rng.binomial(k.astype(int), 0.6).astype(float)
    c = np.minimum(k, np.maximum(0, b + rng.integers(-1, 2, size=n))).astype(float)
    return [(b, k, c, k)]


@pytest.mark.parametrize("make", [_binary_columns, _cluster_columns])
def test_resampling_distinct_rows_gives_the_index_bootstrap(make):
    """Two ways of drawing the same resampling distribution: their intervals and standard
    errors agree within the Monte-Carlo error of 20,000 resamples."""
    cols = make(2000, 1)
    a = stats.bootstrap_intervals(cols, n_boot=20_000, seed=3, scheme="indices")
    b = stats.bootstrap_intervals(cols, n_boot=20_000, seed=4, scheme="classes")
    for x, y in zip(a, b, strict=True):
        assert y["se"] == pytest.approx(x["se"], rel=0.03)
        for key in ("delta", "baseline", "candidate"):
            for u, v in zip(x[key], y[key], strict=True):
                assert v == pytest.approx(u, abs=0.15 * x["se"] + 1e-12)
    # the interval centres on the observed delta for both
    b_sum, b_cnt, c_sum, c_cnt = cols[0]
    delta = c_sum.sum() / c_cnt.sum() - b_sum.sum() / b_cnt.sum()
    assert b[0]["delta"][0] < delta < b[0]["delta"][1]


def test_auto_picks_the_scheme_by_distinct_rows_and_is_seeded():
    cols = _binary_columns(400, 2)
    auto = stats.bootstrap_intervals(cols, n_boot=2000, seed=5)
    assert auto == stats.bootstrap_intervals(cols, n_boot=2000, seed=5, scheme="classes")
    assert auto == stats.bootstrap_intervals(cols, n_boot=2000, seed=5)
    # continuous values: every row distinct, so the index bootstrap
    rng = np.random.default_rng(0)
    x, ones = rng.random(50), np.ones(50)
    cont = [(x, ones, x + rng.normal(0, 0.1, 50), ones)]
    assert stats.bootstrap_intervals(cont, n_boot=500, seed=1) == \
        stats.bootstrap_intervals(cont, n_boot=500, seed=1, scheme="indices")
    with pytest.raises(ValueError, match="scheme"):
        stats.bootstrap_intervals(cols, scheme="poisson")


def test_a_comparison_does_not_depend_on_the_other_columns():
    """A metric's interval is the same whether it is bootstrapped alone or beside others
    whose rows are distinct (classes are formed per call, over all its columns)."""
    cols = _binary_columns(1000, 3)
    together = stats.bootstrap_intervals(cols, n_boot=3000, seed=2)
    alone = stats.bootstrap_intervals(cols[:1], n_boot=3000, seed=2)
    # not the same draws, the same distribution
    assert alone[0]["se"] == pytest.approx(together[0]["se"], rel=0.08)


@pytest.mark.parametrize("scheme", ["indices", "classes"])
def test_coverage_of_each_scheme_is_close_to_95_percent(scheme):
    """Paired pass/fail data with a known true delta of 0.1 (as in test_drift_stats)."""
    rng = np.random.default_rng(10)
    n, trials, hits = 300, 300, 0
    for t in range(trials):
        base = rng.random(n) < 0.5
        u = rng.random(n)
        cand = np.where(base, u > 0.1, u < 0.3)
        ones = np.ones(n)
        [iv] = stats.bootstrap_intervals([(base.astype(float), ones, cand.astype(float), ones)],
                                         n_boot=1000, seed=t, scheme=scheme)
        hits += iv["delta"][0] <= 0.1 <= iv["delta"][1]
    assert 0.91 <= hits / trials <= 0.98


def test_sign_flips_by_distinct_values_give_the_exact_p():
    # 2 prompts lost 2 verdicts each, 1 gained 1, 5 unchanged: exact p by enumeration
    d = [-2.0, -2.0, 1.0, 0, 0, 0, 0, 0]
    nz = [x for x in d if x]
    exact = sum(abs(sum(s * x for s, x in zip(signs, nz, strict=True))) >= 3 - 1e-12
                for signs in np.array(np.meshgrid(*[[-1, 1]] * 3)).T.reshape(-1, 3)) / 8
    for scheme in ("indices", "classes"):
        p = stats.sign_flip_p(d, n_perm=40_000, seed=1, scheme=scheme)
        assert p == pytest.approx(exact, abs=0.01)
    big = np.random.default_rng(0).integers(-2, 3, size=5000).astype(float)
    big[:40] -= 1  # a small shift
    pi = stats.sign_flip_p(big, n_perm=20_000, seed=1, scheme="indices")
    pc = stats.sign_flip_p(big, n_perm=20_000, seed=2)  # auto: 5 distinct |values|
    assert pc == pytest.approx(pi, abs=0.02)


def test_mcnemar_equals_scipy_binomtest_everywhere():
    from scipy.stats import binomtest

    for lost in range(0, 40):
        for gained in range(0, 40):
            b = [True] * lost + [False] * gained
            c = [False] * lost + [True] * gained
            want = binomtest(lost, lost + gained, 0.5).pvalue if lost + gained else 1.0
            assert stats.mcnemar_exact(b, c) == pytest.approx(want, rel=1e-9, abs=1e-300)


def test_min_detectable_effect_is_the_normal_approximation():
    from scipy.stats import norm

    want = (norm.ppf(1 - 0.05 / 6) + norm.ppf(0.8)) * 0.02
    assert stats.min_detectable_effect(0.02, 0.05, tests=3) == pytest.approx(want)


def test_vectorised_columns_match_the_sample_by_sample_reading():
    """Scalar, list and missing scores, NaN and unequal list lengths: the rows task_changes
    gives are those of the per-sample rule (a sample counts where both runs scored it with
    the same number of values)."""
    from evalsuite.drift.pairing import PairedTask
    from evalsuite.drift.scores import _as_cluster, task_changes

    rng = np.random.default_rng(4)
    base, cand = [], []
    for i in range(300):
        def score(flip, i=i):
            k = int(rng.integers(1, 4))
            return {"acc": bool(rng.random() < 0.5) ^ flip,
                    "inst": [bool(rng.random() < 0.6) for _ in range(k)],
                    "bleu": float(rng.random()) if i % 7 else math.nan}
        b, c = score(False), score(bool(rng.random() < 0.2))
        if i % 11 == 0:
            del c["acc"]
        if i % 13 == 0:
            c["inst"] = c["inst"] + [True]  # lengths differ: not paired
        base.append({"sample_id": i, "scores": b})
        cand.append({"sample_id": i, "scores": c})
    paired = PairedTask("t", 1, base, cand, "generate_until")
    rows = {r["metric"]: r for r in task_changes(paired, ["acc", "inst", "bleu"],
                                                 n_boot=200)["metrics"]}
    for metric, row in rows.items():
        bs = bc = cs = cc = 0.0
        n = 0
        for b, c in zip(base, cand, strict=True):
            bv, cv = _as_cluster(b["scores"].get(metric)), _as_cluster(c["scores"].get(metric))
            if bv is not None and cv is not None and len(bv) == len(cv):
                bs, bc, cs, cc, n = bs + sum(bv), bc + len(bv), cs + sum(cv), cc + len(cv), n + 1
        assert row["n"] == n and row["n_units"] == bc
        assert row["baseline"] == pytest.approx(bs / bc)
        assert row["candidate"] == pytest.approx(cs / cc)
    assert rows["acc"]["test"] == "mcnemar_exact"
    assert rows["inst"]["test"] == "sign_flip_permutation"
    assert rows["bleu"]["test"] == "wilcoxon"


def _write(path, lines):
    path.write_bytes(b"".join(x if isinstance(x, bytes) else (x + "\n").encode()
                              for x in lines))


def test_plain_rows_are_the_typed_records_dumped(tmp_path):
    """Records strict validation takes are kept as parsed; the others (a 1 for True, a
    NaN orjson refuses, undecodable bytes in a string) go through the lax model: either
    way each row equals what the typed reader dumps."""
    from evalsuite.schema import dump, read_sample_rows, read_samples

    recs = [
        {"sample_id": 0, "doc_hash": "a", "scores": {"acc": 1.0}, "choices": ["x", "y"],
         "loglikelihoods": [-1, -2.5]},
        {"sample_id": "sub/1", "scores": {"inst": [True, False]},
         "instructions": [{"id": "k:x", "category": "k", "strict": 1, "loose": True}]},
        {"sample_id": 2, "response": "free", "extra_field": {"kept": True}},
        {"schema_version": 2, "sample_id": 3, "error": "malformed row"},
    ]
    file = tmp_path / "t.jsonl"
    _write(file, [json.dumps(r) for r in recs]
           + ['{"sample_id": 4, "scores": {"bleu": NaN}}', b'{"sample_id": 5, "prompt": "\xff"}\n',
              "", "  "])
    rows = read_sample_rows(file)
    typed = [dump(r) for r in read_samples(file)]
    assert rows == typed
    assert rows[1]["instructions"][0]["strict"] is True  # coerced as the model does
    assert rows[2]["extra_field"] == {"kept": True}
    assert len(rows) == 6


@pytest.mark.parametrize("line,problem", [
    ('{"sample_id": 1, "scores": {"acc": 1}', "line 2 is not valid JSON"),
    ('{"sample_id": [1]}', "line 2.*sample_id"),
    ('{"schema_version": 99, "sample_id": 1}', "newer than this evalsuite reads"),
    ('[1, 2]', "not a valid sample record"),
])
def test_plain_rows_refuse_what_the_typed_reader_refuses(tmp_path, line, problem):
    from evalsuite.schema import read_sample_rows, read_samples

    file = tmp_path / "t.jsonl"
    _write(file, ['{"sample_id": 0}', line])
    for reader in (read_sample_rows, read_samples):
        with pytest.raises(UserError, match=problem):
            reader(file)


def test_the_baselines_lexical_counts_are_computed_once_for_all_candidates(tmp_path,
                                                                           monkeypatch):
    from evalsuite.drift import CompareSettings, compare
    from evalsuite.drift import distribution as dist
    from evalsuite.schema import load_run_rows

    from .stored_runs import IF_TASK, write_run

    base = write_run(tmp_path / "a", "base", seed=0, if_pass=0.6, mc_pass=0.5)
    cands = [write_run(tmp_path / n, n, seed=s, if_pass=0.5, mc_pass=0.5, qa_share=0.3)
             for n, s in (("b", 1), ("c", 2))]
    settings = CompareSettings(n_boot=200, embeddings=False, examples=0)
    alone = compare(base, cands[1:], settings)
    calls: list[int] = []
    real = dist.lexical_side
    monkeypatch.setattr(dist, "lexical_side", lambda texts: calls.append(len(texts)) or
                        real(texts))
    both = compare(base, cands, settings)
    assert len(calls) == 3  # the baseline once, each candidate once
    got = both["comparisons"]["c"]["distribution"][IF_TASK]["lexical"]
    assert got == alone["comparisons"]["c"]["distribution"][IF_TASK]["lexical"]
    _, _, samples = load_run_rows(base)
    answers = [r.get("response") or "" for r in samples[IF_TASK]]
    assert got["self_bleu"]["baseline"] == pytest.approx(real(answers).self_bleu)


@pytest.mark.parametrize("sep", [b"\r\n", b"\r", b"\n"])
def test_plain_rows_split_lines_as_the_typed_reader_does(tmp_path, sep):
    """LF, CRLF and a lone CR all end a line for both readers, with the same numbers in
    their errors (a raw CR cannot be inside a JSON string: it is written escaped)."""
    from evalsuite.schema import dump, read_sample_rows, read_samples

    file = tmp_path / "t.jsonl"
    lines = [b'{"sample_id": 0, "response": "a\\rb"}', b'{"sample_id": 1}', b"",
             b'{"sample_id": 2}']
    file.write_bytes(sep.join(lines) + sep)
    rows = read_sample_rows(file)
    assert [r["sample_id"] for r in rows] == [0, 1, 2]
    assert rows[0]["response"] == "a\rb"
    assert rows == [dump(r) for r in read_samples(file)]
    file.write_bytes(sep.join([*lines, b'{"sample_id": 3']) + sep)
    for reader in (read_sample_rows, read_samples):
        with pytest.raises(UserError, match="line 5 is not valid JSON"):
            reader(file)


def test_records_are_frozen_only_where_the_command_asks(tmp_path):
    """A library caller (a notebook reading runs in a loop) gets no gc.freeze: frozen
    objects are never freed. The compare command asks for it."""
    import gc

    from evalsuite.schema import freeze_after_reading, read_sample_rows

    file = tmp_path / "t.jsonl"
    file.write_text('{"sample_id": 0}\n')
    gc.unfreeze()
    read_sample_rows(file)
    assert gc.get_freeze_count() == 0
    try:
        freeze_after_reading()
        read_sample_rows(file)
        assert gc.get_freeze_count() > 0
    finally:
        freeze_after_reading(False)
        gc.unfreeze()
