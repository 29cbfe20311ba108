"""The vLLM adapter turns token ids into text exactly as lm-eval's HFLM does.

A fake engine returns fixed token ids; the tokenizer is SmolLM2's real one."""

from __future__ import annotations

from types import SimpleNamespace

from tests.conftest import require_vllm

require_vllm()


class FakeEngine:
    def __init__(self, token_ids: list[int]) -> None:
        self.token_ids = token_ids

    def generate(self, prompts, params, use_tqdm=False):
        comp = SimpleNamespace(token_ids=self.token_ids, text="ignored", logprobs=None)
        return [SimpleNamespace(outputs=[comp]) for _ in prompts]


def _generate(tok, token_ids: list[int], until: list[str]) -> str:
    from evalsuite.models.backends.vllm_engine import VLLMEngineLM

    lm = VLLMEngineLM(FakeEngine(token_ids), tok, max_model_len=2048, seed=0)
    req = SimpleNamespace(args=("Hi", {"until": until, "max_gen_toks": 8, "do_sample": False}))
    (text,) = lm.generate_until([req], disable_tqdm=True)
    return text


def test_a_character_cut_by_max_tokens_decodes_like_hf(smollm2_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    ids = tok.encode("Waves 🌊🌊", add_special_tokens=False)
    cut = ids[:-1]  # drop the last byte-token of the final emoji
    expected = tok.decode(cut, skip_special_tokens=True)  # what HFLM returns
    assert expected.endswith("\ufffd")
    assert _generate(tok, cut, []) == expected


def test_stop_strings_and_eos_cut_like_hf(smollm2_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    ids = tok.encode("Answer: 4\n\nQuestion: next", add_special_tokens=False)
    assert _generate(tok, ids, ["\n\n"]) == "Answer: 4"
    with_eos = tok.encode("Done.", add_special_tokens=False) + [tok.eos_token_id]
    assert _generate(tok, with_eos, []) == "Done."
