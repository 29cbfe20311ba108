"""lm-eval's result structures -> evalsuite records (plumbing, no model)."""

from __future__ import annotations

from evalsuite.ingest.lm_eval_records import (
    instruction_categories,
    metric_key,
    sample_records,
    task_metrics,
)


def test_metric_key_drops_only_the_none_filter():
    assert metric_key("acc", "none") == "acc"
    assert metric_key("exact_match", "strict-match") == "exact_match,strict-match"


def test_task_metrics_splits_values_and_stderrs():
    metrics, stderrs = task_metrics({
        "name": "t", "alias": "t", "sample_len": 3,
        "acc,none": 0.5, "acc_stderr,none": 0.1,
        "inst_acc,none": 0.25, "inst_acc_stderr,none": "N/A",
        "exact_match,flex": 1.0, "exact_match_stderr,flex": 0.0,
    })
    assert metrics == {"acc": 0.5, "inst_acc": 0.25, "exact_match,flex": 1.0}
    assert stderrs == {"acc": 0.1, "inst_acc": None, "exact_match,flex": 0.0}


def _logged(doc_id: int, filt: str, value: float) -> dict:
    return {
        "doc_id": doc_id, "doc": {"q": f"q{doc_id}"}, "target": "a",
        "arguments": [(f"prompt {doc_id}", {"until": []})],
        "resps": [[f"resp {doc_id}"]], "filtered_resps": [f"f {doc_id}"],
        "filter": filt, "metrics": ["exact_match"], "exact_match": value,
        "doc_hash": f"d{doc_id}", "prompt_hash": f"p{doc_id}",
    }


def test_generation_samples_merge_filters_and_sort_by_id():
    logged = [_logged(1, "none", 0.0), _logged(0, "none", 1.0), _logged(0, "flex", 0.0)]
    recs = sample_records(logged, "generate_until")
    assert [r["sample_id"] for r in recs] == [0, 1]
    assert recs[0]["prompt"] == "prompt 0"
    assert recs[0]["response"] == "resp 0"
    assert recs[0]["scores"] == {"exact_match": 1.0, "exact_match,flex": 0.0}
    assert recs[0]["doc_hash"] == "d0" and recs[0]["prompt_hash"] == "p0"


def test_multiple_choice_response_is_the_most_likely_choice():
    logged = [{
        "doc_id": 3, "doc": {}, "target": 1, "filter": "none", "metrics": ["acc"], "acc": 1.0,
        "arguments": [("Q: 2+2?\nA:", " 3"), ("Q: 2+2?\nA:", " 4")],
        "resps": [[(-5.0, False)], [(-1.0, True)]],
    }]
    (rec,) = sample_records(logged, "multiple_choice")
    assert rec["choices"] == [" 3", " 4"]
    assert rec["loglikelihoods"] == [-5.0, -1.0]
    assert rec["response"] == " 4"
    assert rec["scores"] == {"acc": 1.0}


def _ifeval_sample(doc_id: int, ids: list[str], strict: list[bool], loose: list[bool]) -> dict:
    return {"doc_id": doc_id, "doc": {"instruction_id_list": ids}, "target": 0,
            "arguments": [["p", {}]], "resps": [["r"]], "filter": "none",
            "metrics": ["inst_level_strict_acc", "inst_level_loose_acc"],
            "inst_level_strict_acc": strict, "inst_level_loose_acc": loose}


def test_instruction_results_are_spelled_out_and_categories_add_up():
    logged = [
        _ifeval_sample(0, ["keywords:existence", "length_constraints:number_words"],
                       [True, False], [True, True]),
        _ifeval_sample(1, ["keywords:frequency"], [False], [False]),
    ]
    recs = sample_records(logged, "generate_until")
    assert recs[0]["instructions"] == [
        {"id": "keywords:existence", "category": "keywords", "strict": True, "loose": True},
        {"id": "length_constraints:number_words", "category": "length_constraints",
         "strict": False, "loose": True},
    ]
    cats = instruction_categories(recs)
    assert cats == {
        "keywords": {"n": 2, "inst_level_strict_acc": 0.5, "inst_level_loose_acc": 0.5},
        "length_constraints": {"n": 1, "inst_level_strict_acc": 0.0,
                               "inst_level_loose_acc": 1.0},
    }


def test_samples_without_instruction_lists_get_no_instruction_field():
    logged = [_ifeval_sample(0, ["a:b", "c:d"], [True], [True])]  # lengths disagree
    assert "instructions" not in sample_records(logged, "generate_until")[0]
    assert instruction_categories([{"scores": {}}]) == {}
