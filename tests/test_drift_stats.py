"""Each drift statistic against a library or hand-computed value on small fixed data."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from evalsuite.drift import distribution as dist
from evalsuite.drift import stats


@pytest.mark.parametrize("lost,gained,same", [(7, 2, 30), (0, 5, 10), (12, 12, 3), (1, 0, 0)])
def test_mcnemar_exact_matches_statsmodels(lost, gained, same):
    from statsmodels.stats.contingency_tables import mcnemar

    base = [True] * lost + [False] * gained + [True] * same + [False] * same
    cand = [False] * lost + [True] * gained + [True] * same + [False] * same
    table = [[same, lost], [gained, same]]
    expected = mcnemar(table, exact=True).pvalue
    assert stats.mcnemar_exact(base, cand) == pytest.approx(expected)
    assert stats.flips(base, cand) == {"lost": lost, "gained": gained, "kept": same,
                                       "never": same}


def test_mcnemar_without_discordant_pairs_is_one():
    assert stats.mcnemar_exact([True, False], [True, False]) == 1.0


def test_wilcoxon_matches_scipy_and_ties_give_one():
    from scipy.stats import wilcoxon

    rng = np.random.default_rng(3)
    a = rng.normal(size=40)
    b = a + rng.normal(0.3, 1.0, size=40)
    assert stats.wilcoxon_p(a, b) == pytest.approx(wilcoxon(b - a).pvalue)
    assert stats.wilcoxon_p(a, a) == 1.0


def test_holm_by_hand():
    # sorted: 0.01*3 = 0.03; 0.03*2 = 0.06; 0.04*1 = 0.04 -> raised to the running max 0.06
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    out = stats.holm([0.2, float("nan")])
    assert out[0] == pytest.approx(0.2) and np.isnan(out[1])


def test_chance_adjusted_forgetting_by_hand():
    base = [True, True, True, False, False, True, False, True, True, False]   # acc 0.6
    cand = [True, False, False, False, True, True, False, True, False, False]  # acc 0.4
    lost_rate = 3 / 10
    expected = lost_rate - (1 - 0.6) * (1 - 0.4) / (4 - 1)
    assert stats.chance_adjusted_forgetting(base, cand, 4) == pytest.approx(expected)


def test_bootstrap_ci_is_the_paired_percentile_interval():
    base = [[1.0], [0.0], [1.0], [1.0]]
    cand = [[1.0], [1.0], [1.0], [1.0]]
    lo, hi = stats.paired_bootstrap_ci(base, cand, n_boot=2000, seed=1)
    # the delta is 1/4 times the share of sample 2 in a resample: between 0 and 1
    assert 0.0 <= lo <= 0.25 <= hi <= 1.0
    same = stats.paired_bootstrap_ci(base, base, n_boot=500, seed=1)
    assert same == (0.0, 0.0)


def test_bootstrap_is_seeded_and_handles_clusters():
    base = [[1, 0, 1], [0], [1, 1]]
    cand = [[1, 1, 1], [0], [0, 1]]
    a = stats.paired_bootstrap_ci(base, cand, n_boot=3000, seed=7)
    b = stats.paired_bootstrap_ci(base, cand, n_boot=3000, seed=7)
    assert a == b
    # the point estimate (5/6 - 4/6) lies inside
    assert a[0] <= 1 / 6 <= a[1]


def test_bootstrap_coverage_is_close_to_95_percent():
    """Simulated paired pass/fail data with a known true delta of 0.1."""
    rng = np.random.default_rng(0)
    n, trials, hits = 300, 300, 0
    for t in range(trials):
        base = rng.random(n) < 0.5
        # a pass is lost with chance 0.1, a fail gained with chance 0.3:
        # P(cand) = 0.5 * 0.9 + 0.5 * 0.3 = 0.6, so the true delta is 0.1
        u = rng.random(n)
        cand = np.where(base, u > 0.1, u < 0.3)
        true_delta = 0.1
        lo, hi = stats.paired_bootstrap_ci([[x] for x in base.astype(float)],
                                           [[x] for x in cand.astype(float)],
                                           n_boot=1000, seed=t)
        hits += lo <= true_delta <= hi
    assert 0.91 <= hits / trials <= 0.98


def test_length_shift_matches_scipy():
    from scipy.stats import ks_2samp, wasserstein_distance

    a = [10, 12, 15, 30, 31, 8, 9]
    b = [20, 22, 25, 40, 41, 18, 19, 60]
    out = dist.length_shift(a, b)
    ks = ks_2samp(a, b)
    assert out["ks_statistic"] == pytest.approx(ks.statistic)
    assert out["ks_p_value"] == pytest.approx(ks.pvalue)
    assert out["wasserstein"] == pytest.approx(wasserstein_distance(a, b))
    assert out["baseline"]["mean"] == pytest.approx(np.mean(a))
    assert out["delta_mean"] == pytest.approx(np.mean(b) - np.mean(a))


def test_distinct_n_and_js_divergence_by_hand():
    toks = [["a", "b", "a"], ["a", "c"]]
    assert dist.distinct_n(toks, 1) == pytest.approx(3 / 5)  # a, b, c of a b a a c
    assert dist.distinct_n(toks, 2) == pytest.approx(3 / 3)  # ab, ba, ac
    assert dist.jensen_shannon(Counter(x=1), Counter(y=1)) == pytest.approx(1.0)
    assert dist.jensen_shannon(Counter(x=2, y=2), Counter(x=1, y=1)) == pytest.approx(0.0)
    # P=(1,0), Q=(1/2,1/2): JSD = H(M) - (H(P)+H(Q))/2 with M=(3/4,1/4)
    h = lambda p: -sum(x * np.log2(x) for x in p if x > 0)  # noqa: E731
    expected = h([0.75, 0.25]) - (h([1.0]) + h([0.5, 0.5])) / 2
    assert dist.jensen_shannon(Counter(x=2), Counter(x=1, y=1)) == pytest.approx(expected)


def test_injected_qa_template_is_detected_at_its_rate():
    """Positive control: 30 of 100 candidate responses carry a synthetic Q-A format."""
    rng = np.random.default_rng(5)
    words = ["the", "model", "writes", "a", "short", "answer", "about", "cats", "today"]
    base = [" ".join(rng.choice(words, size=12)) for _ in range(100)]
    cand = list(base)
    injected = rng.choice(100, size=30, replace=False)
    for i in injected:
        cand[i] = f"Answer: {base[i]}\nQuestion: What else?\nAnswer: more {base[i]}"
    rows = {r["pattern"]: r for r in dist.pattern_rates(base, cand)}
    for name in ("starts_with_answer", "writes_new_question", "qa_turns", "answer_label_line"):
        assert rows[name]["baseline"] == 0.0
        assert rows[name]["candidate"] == pytest.approx(0.30), name
        assert rows[name]["flips"]["gained"] == 30
        assert rows[name]["p_value"] < 1e-6
    assert rows["the_answer_is"]["candidate"] == 0.0


def test_user_pattern_measures_a_custom_template():
    rows = dist.pattern_rates(["### Reply: x", "plain"], ["### Reply: y", "### Reply: z"],
                              [dist.Pattern("mine", r"^### Reply:")])
    assert rows[0]["baseline"] == 0.5 and rows[0]["candidate"] == 1.0


def test_self_bleu_equals_sacrebleu_sentence_bleu_against_the_others():
    import sacrebleu

    from evalsuite.drift.lexical import self_bleu

    texts = ["the cat sat on the mat today", "the cat sat on a mat", "a dog ran in the park",
             "the dog sat on the mat", "cats and dogs", "the the the", "on the mat the cat sat"]
    toks = [dist.word_tokens(t) for t in texts]
    expected = np.mean([
        sacrebleu.sentence_bleu(" ".join(h), [" ".join(r) for j, r in enumerate(toks) if j != i],
                                tokenize="none").score
        for i, h in enumerate(toks)])
    assert self_bleu(toks) == pytest.approx(expected)
    assert self_bleu([["a", "b", "c", "d"]] * 3) == pytest.approx(100.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_self_bleu_matches_sacrebleu_on_random_sets_with_ties_and_empty_answers(seed):
    """Small vocabularies make shared n-grams, tied counts and tied reference lengths;
    empty and one-word answers have no higher-order n-grams at all."""
    import sacrebleu

    from evalsuite.drift.lexical import _closest_other_lengths, self_bleu

    rng = np.random.default_rng(seed)
    words = ["a", "b", "c", "d", "e"]
    toks = [list(rng.choice(words, size=int(rng.integers(0, 9)))) for _ in range(25)]
    toks += [["a"], [], toks[3]]
    expected = np.mean([
        sacrebleu.sentence_bleu(" ".join(h), [" ".join(r) for j, r in enumerate(toks) if j != i],
                                tokenize="none").score
        for i, h in enumerate(toks)])
    assert self_bleu(toks) == pytest.approx(expected, abs=1e-9)
    lengths = np.array([3, 5, 8, 5, 1])
    assert _closest_other_lengths(lengths).tolist() == [1, 5, 5, 5, 3]


def test_fightin_words_by_hand():
    from evalsuite.drift.lexical import fightin_words

    base = [["x", "y"], ["x", "y"], ["x", "z"]]
    cand = [["y", "y"], ["y", "z"], ["x", "y"]]
    out = fightin_words(base, cand, n=1, min_count=1, top=5)
    # counts: base x3 y2 z1 (N=6); cand x1 y4 z1 (N=6); prior a_w = pooled: x4 y6 z2, a0=12
    a0, n = 12.0, 6.0

    def z(yb, yc, a):
        d = np.log((yc + a) / (n + a0 - yc - a)) - np.log((yb + a) / (n + a0 - yb - a))
        return d / np.sqrt(1 / (yc + a) + 1 / (yb + a))

    more = {r["ngram"]: r["z"] for r in out["more_frequent"]}
    less = {r["ngram"]: r["z"] for r in out["less_frequent"]}
    assert set(more) == {"y"} and set(less) == {"x"}
    assert more["y"] == pytest.approx(z(2, 4, 6))
    assert less["x"] == pytest.approx(z(3, 1, 4))


def test_frechet_distance_by_hand_for_diagonal_covariances():
    from evalsuite.drift.embeddings import frechet_distance

    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, size=(4000, 3)) * np.array([1.0, 2.0, 0.5])
    b = rng.normal(0, 1, size=(4000, 3)) * np.array([2.0, 1.0, 0.5]) + np.array([1.0, 0, 0])
    # exact for the sample moments when covariances are diagonal: mean term + sum of
    # (sqrt(var_a) - sqrt(var_b))^2; sample covariances are only nearly diagonal
    va, vb = np.var(a, axis=0, ddof=1), np.var(b, axis=0, ddof=1)
    expected = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.sum((np.sqrt(va) - np.sqrt(vb)) ** 2)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=0.02)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_classifier_two_sample_auc_separates_shifted_sets_only():
    from evalsuite.drift.embeddings import classifier_two_sample_auc

    rng = np.random.default_rng(1)
    a = rng.normal(size=(200, 8))
    same = classifier_two_sample_auc(a, rng.normal(size=(200, 8)))["auc"]
    shifted = classifier_two_sample_auc(a, rng.normal(size=(200, 8)) + 1.0)["auc"]
    assert abs(same - 0.5) < 0.1
    assert shifted > 0.95
    assert classifier_two_sample_auc(a, a)["auc"] == pytest.approx(0.5)


def test_sign_flip_permutation_p_approaches_the_exact_value():
    # seven non-zero differences of +-1 with sum 5: |sum| >= 5 under random signs when
    # at most one sign is negative, or at most one positive: 2 * (1 + 7) of 2^7 patterns
    d = [1, 1, 1, 1, 0, 1, -1, 1]
    assert stats.sign_flip_p(d, n_perm=40_000, seed=3) == pytest.approx(16 / 128, abs=0.01)
    assert stats.sign_flip_p([0, 0, 0]) == 1.0
    assert stats.sign_flip_p(d, seed=5) == stats.sign_flip_p(d, seed=5)


def test_instruction_level_metrics_use_the_prompt_as_unit():
    """IFEval's inst-level accuracy has several correlated verdicts per prompt: the test
    permutes prompts, while prompt-level accuracy (one verdict each) gets McNemar."""
    from evalsuite.drift.pairing import PairedTask
    from evalsuite.drift.scores import task_changes

    def rec(i, verdicts):
        return {"sample_id": i, "scores": {"inst_level_strict_acc": verdicts,
                                           "prompt_level_strict_acc": all(verdicts)}}

    base = [rec(i, [True, True, False]) for i in range(6)]
    cand = [rec(i, [False, False, False]) if i < 2 else rec(i, [True, True, False])
            for i in range(6)]
    paired = PairedTask("t", 1, base, cand, "generate_until")
    rows = {r["metric"]: r for r in task_changes(
        paired, ["inst_level_strict_acc", "prompt_level_strict_acc"], n_boot=500)["metrics"]}
    inst = rows["inst_level_strict_acc"]
    assert inst["test"] == "sign_flip_permutation"
    assert inst["flips"]["lost"] == 4 and inst["n_units"] == 18
    assert inst["delta"] == pytest.approx(-4 / 18)
    # 2 of 6 prompts changed (both down): exact p = 2 * (1/2)^2 = 0.5, not McNemar's
    # p for 4 independent losses (0.125)
    assert inst["p_value"] == pytest.approx(0.5, abs=0.03)
    assert rows["prompt_level_strict_acc"]["test"] == "mcnemar_exact"


def test_labels_tell_runs_of_the_same_model_apart():
    from pathlib import Path

    from evalsuite.drift.analysis import labels
    from evalsuite.drift.runs import Run
    from evalsuite.schema import Manifest, ModelInfo

    def run(path: str, name: str) -> Run:
        manifest = Manifest(schema_version=2, status="complete", model=ModelInfo(name=name),
                            backend={"name": "hf"}, suite="quick")
        return Run(Path(path), manifest, {}, {})

    assert labels([run("/r/a/run", "m"), run("/r/b/run", "m"), run("/r/c", "k")]) == [
        "m (a/run)", "m (b/run)", "k"]
    assert labels([run("/r/1", "m"), run("/r/2", "n")]) == ["m", "n"]
    assert len(set(labels([run("/r/x", "m"), run("/r/x", "m")]))) == 2
