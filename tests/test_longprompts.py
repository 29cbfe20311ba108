"""Prompts longer than the model's context: truncated, skipped or refused, and recorded.

The unit tests wrap a recording fake LM with the real SmolLM2 tokenizer; the slow ones
run the real model through the CLI with a context cut down to 136 tokens, so that some
IFEval prompts (with the chat template) no longer fit next to 64 new tokens.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from lm_eval.api.instance import Instance

from evalsuite.errors import UserError
from evalsuite.models.generation import Generation, record_fields
from evalsuite.models.longprompts import PromptGuard, context_length

from .conftest import read_rows, run_cli


class _Recorder:
    """An LM that answers every prompt with its length in tokens as the backend saw it."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.seen: list[str] = []

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        self.seen.extend(r.args[0] for r in requests)
        return [str(len(self.tokenizer.encode(r.args[0], add_special_tokens=False)))
                for r in requests]


@pytest.fixture(scope="module")
def tokenizer(smollm2_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smollm2_dir)


def _req(text: str, max_gen_toks: int, doc_id: int = 0) -> Instance:
    return Instance("generate_until", {}, (text, {"max_gen_toks": max_gen_toks}), 0,
                    ("ifeval_offline", doc_id, 1))


LONG = "Write about the sea. " * 60 + "Now answer: what colour is the sea?"
SHORT = "What colour is the sea?"


def test_truncate_keeps_the_end_and_records_it(tokenizer):
    inner = _Recorder(tokenizer)
    guard = PromptGuard(inner, "truncate", max_length=100)
    reqs = [_req(SHORT, 32, 0), _req(LONG, 32, 1)]
    out = guard.generate_until(reqs)
    assert out[0] == str(len(tokenizer.encode(SHORT)))
    assert int(out[1]) <= 68  # 100 - 32: the backend saw a prompt that fits
    assert inner.seen[1].endswith("what colour is the sea?")  # the question survives
    assert reqs[1].args[0] == LONG  # the task's own instance is untouched
    note = out[1].long_prompt  # the answer carries what was done to its prompt
    assert note.action == "truncated"
    assert note.prompt_tokens == len(tokenizer.encode(LONG)) and note.kept_tokens == 68
    assert getattr(out[0], "long_prompt", None) is None  # the short one fit
    assert guard.summary() == {"policy": "truncate", "context_length": 100,
                               "truncated": 1, "skipped": 0}


def test_skip_sends_nothing_and_answers_empty(tokenizer):
    inner = _Recorder(tokenizer)
    guard = PromptGuard(inner, "skip", max_length=100)
    out = guard.generate_until([_req(LONG, 32, 0), _req(SHORT, 32, 1)])
    assert out[0] == "" and out[1] != ""
    assert inner.seen == [SHORT]
    assert out[0].long_prompt.action == "skipped" and "68" in out[0].long_prompt.reason
    assert out[0].long_prompt.as_record()["action"] == "skipped"
    assert "kept_tokens" not in out[0].long_prompt.as_record()
    assert guard.summary()["skipped"] == 1


def test_a_truncated_prompts_answer_keeps_its_own_logprobs(tokenizer):
    # the backend's logprobs and the guard's note ride on the answer itself: a truncated
    # prompt used to lose its logprobs (they were looked up by the prompt text)
    class WithLogprobs(_Recorder):
        def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
            return [Generation(a, logprobs=[-float(i)]) for i, a in
                    enumerate(super().generate_until(requests))]

    guard = PromptGuard(WithLogprobs(tokenizer), "truncate", max_length=100)
    out = guard.generate_until([_req(SHORT, 32, 0), _req(LONG, 32, 1), _req(LONG, 32, 2)])
    assert [a.logprobs for a in out] == [[-0.0], [-1.0], [-2.0]]  # each its own, same prompt
    assert out[0].long_prompt is None and out[2].long_prompt.action == "truncated"
    rec = record_fields(out[1], logprobs=True)
    assert rec["response"] == str(out[1]) and type(rec["response"]) is str
    assert rec["response_logprobs"] == [-1.0] and rec["long_prompt"]["kept_tokens"] == 68
    assert guard.summary()["truncated"] == 2  # samples, not distinct prompts


def test_max_gen_toks_counts_against_the_context(tokenizer):
    n = len(tokenizer.encode(SHORT))
    guard = PromptGuard(_Recorder(tokenizer), "skip", max_length=n + 10)
    assert guard.generate_until([_req(SHORT, 10)]) != [""]  # exactly fits
    assert guard.generate_until([_req(SHORT, 11)]) == [""]  # one token too many


def test_error_policy_names_the_sample_and_the_fix(tokenizer):
    guard = PromptGuard(_Recorder(tokenizer), "error", max_length=100)
    with pytest.raises(UserError, match=r"ifeval_offline sample 7: prompt is \d+ tokens.*"
                                        r"long_prompts=truncate"):
        guard.generate_until([_req(LONG, 32, 7)])


def test_no_room_at_all_is_an_error_whatever_the_policy(tokenizer):
    guard = PromptGuard(_Recorder(tokenizer), "truncate", max_length=64)
    with pytest.raises(UserError, match="max_gen_toks=64 leaves no room"):
        guard.generate_until([_req(LONG, 64)])


def test_without_a_tokenizer_the_backend_decides():
    class NoTok:
        tokenizer = None

        def generate_until(self, requests, disable_tqdm=False):
            return ["x"] * len(requests)

    guard = PromptGuard(NoTok(), "error", max_length=10)
    assert guard.generate_until([_req(LONG, 5)]) == ["x"]
    assert guard.summary() is None


def test_context_length_prefers_the_configured_one():
    class LM:
        max_length = 8192

    assert context_length(LM(), None) == 8192
    assert context_length(LM(), 512) == 512
    assert context_length(object(), None) is None


def test_unknown_policy_is_one_line(tmp_path: Path):
    proc = run_cli("+model=smollm2_135m", "long_prompts=drop", f"hydra.run.dir={tmp_path}/r")
    assert proc.returncode != 0
    assert "long_prompts must be one of truncate, skip, error, got 'drop'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "r").exists()


def _run(tmp_path: Path, policy: str, backend: str = "hf") -> subprocess.CompletedProcess:
    return run_cli("+model=smollm2_135m", f"backend={backend}", "tasks=[ifeval_offline]",
                   "limit=6", "max_gen_toks=64", "model.max_length=136",
                   f"long_prompts={policy}", f"hydra.run.dir={tmp_path}/{policy}")


def _truncated(tmp_path: Path, backend: str) -> list[dict]:
    """A truncate run: the rows, checked."""
    proc = _run(tmp_path, "truncate", backend)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = read_rows(tmp_path / "truncate")
    cut = [r for r in rows if "long_prompt" in r]
    assert cut, "no IFEval prompt of the first 6 exceeds 72 tokens: the test lost its point"
    assert len(cut) < len(rows)
    for r in cut:
        assert r["long_prompt"]["action"] == "truncated"
        assert r["long_prompt"]["prompt_tokens"] > 72 and r["long_prompt"]["kept_tokens"] == 72
        assert r["response"]  # the model answered the truncated prompt
    manifest = json.loads((tmp_path / "truncate" / "manifest.json").read_text())
    assert manifest["tasks"]["ifeval_offline"]["long_prompts"] == {
        "policy": "truncate", "context_length": 136, "truncated": len(cut), "skipped": 0}
    return rows


@pytest.mark.extended  # CI: the guard is the same for every backend (the hf test below)
@pytest.mark.slow
def test_real_run_truncates_on_vllm(tmp_path: Path):
    """vLLM's engine would refuse a prompt past max_model_len: it gets the fitted one."""
    _truncated(tmp_path, "vllm")


@pytest.mark.slow
def test_real_run_truncates_skips_and_refuses_with_recorded_reasons(tmp_path: Path):
    rows = _truncated(tmp_path, "hf")
    cut = [r for r in rows if "long_prompt" in r]

    skipped = _run(tmp_path, "skip")
    assert skipped.returncode == 0, skipped.stderr[-2000:]
    rows2 = read_rows(tmp_path / "skip")
    gone = [r for r in rows2 if "long_prompt" in r]
    assert [r["sample_id"] for r in gone] == [r["sample_id"] for r in cut]
    for r in gone:
        assert r["long_prompt"]["action"] == "skipped" and r["response"] == ""
    # the prompts that fit got the same answers under both policies (greedy)
    fit = {r["sample_id"]: r["response"] for r in rows if "long_prompt" not in r}
    assert fit == {r["sample_id"]: r["response"] for r in rows2 if "long_prompt" not in r}

    refused = _run(tmp_path, "error")
    assert refused.returncode != 0
    lines = [x[x.index("evalsuite:"):] for x in refused.stderr.splitlines() if "evalsuite:" in x]
    assert len(lines) == 1
    assert "prompt is" in lines[0] and "long_prompts=truncate or skip" in lines[0]
    assert "Traceback" not in refused.stderr
