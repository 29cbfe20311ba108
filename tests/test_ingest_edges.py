"""Edge cases of the other harnesses' readers and of the gate, found in review (issue 16):
each failed before its fix. The real files are in test_lm_eval_outputs and
test_inspect_logs; these are the plumbing."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from evalsuite.drift import gate
from evalsuite.errors import UserError


def test_a_scored_group_under_a_score_less_tag_is_one_task():
    from evalsuite.ingest.lm_eval_dir import _entries

    results = {"results": {"openllm": {"alias": "openllm"}, "mmlu": {"acc,none": 0.3},
                           "mmlu_a": {"acc,none": 0.2}, "mmlu_b": {"acc,none": 0.4},
                           "gsm8k": {"exact_match,none": 0.1}},
               "group_subtasks": {"openllm": ["mmlu", "gsm8k"], "mmlu": ["mmlu_a", "mmlu_b"]}}
    # no "configs": lm-eval versions and edited files without them still read
    assert _entries(results, lambda t: t in {"mmlu_a", "mmlu_b", "gsm8k"}) == [
        ("mmlu", ["mmlu_a", "mmlu_b"]), ("gsm8k", ["gsm8k"])]


def test_the_same_chat_input_hashes_the_same_in_every_run():
    from inspect_ai.model import ChatMessageUser

    from evalsuite.ingest.inspect_log import _plain, _sha

    assert _sha(_plain([ChatMessageUser(content="hi")])) == \
        _sha(_plain([ChatMessageUser(content="hi")]))


def test_epochs_of_one_sample_are_one_record_with_a_cluster_of_scores():
    from evalsuite.ingest.inspect_log import _by_sample

    recs = [{"sample_id": "a", "error": None, "scores": {"m": 1.0}},
            {"sample_id": "a", "error": None, "scores": {"m": 0.0}},
            {"sample_id": "b", "error": "broke", "scores": {}},
            {"sample_id": "b", "error": None, "scores": {"m": 1.0}}]
    out = {r["sample_id"]: r for r in _by_sample(recs)}
    assert out["a"]["scores"]["m"] == [1.0, 0.0] and out["b"]["scores"]["m"] == [1.0]


def test_a_dict_scorer_s_metrics_are_named_like_its_sample_scores():
    from inspect_ai.log import EvalMetric, EvalScore

    from evalsuite.ingest.inspect_log import _metrics

    scores = [EvalScore(name="said", scorer="parts",
                        metrics={"mean": EvalMetric(name="mean", value=0.5)}),
              EvalScore(name="includes", scorer="includes",
                        metrics={"accuracy": EvalMetric(name="accuracy", value=0.25),
                                 "stderr": EvalMetric(name="stderr", value=0.1)})]
    values, stderr = _metrics(SimpleNamespace(results=SimpleNamespace(scores=scores)))
    assert values == {"parts.said": 0.5, "includes": 0.25} and stderr == {"includes": 0.1}


def _drift(**comparisons) -> dict:
    return {"comparisons": {c: {"tasks": {"t": {"metrics": m}}} for c, m in comparisons.items()}}


def test_a_candidate_that_lacks_the_gated_metric_is_not_passed_silently():
    drift = _drift(a={"acc": {"delta": 0.0, "significant": False}},
                   b={"f1": {"delta": 0.0, "significant": False}})
    with pytest.raises(UserError, match="acc matches no compared metric of b"):
        gate.check(drift, gate.parse_rules({"acc": 0.1}))


def test_the_task_s_own_direction_decides_what_a_drop_is():
    drift = _drift(a={"ter": {"delta": 0.3, "significant": True}})
    (c,) = gate.check(drift, gate.parse_rules({"ter": 0.1}), {("t", "ter"): False})
    assert c.drop == 0.3 and not c.passed  # ter rose: worse, though its name says nothing


def test_lm_eval_samples_with_unicode_line_separators_in_a_response_are_read(tmp_path):
    # lm-eval writes non-ASCII as is: a response holding U+0085 or U+2028 is one line
    import json

    from evalsuite.ingest.lm_eval_dir import _jsonl

    rows = [{"doc_id": 0, "resps": [["a\x85b"]]}, {"doc_id": 1, "resps": [["c\u2028d"]]}]
    f = tmp_path / "samples_x.jsonl"
    f.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                 encoding="utf-8")
    assert [r for _, r in _jsonl(f)] == rows
