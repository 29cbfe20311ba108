"""vLLM's own validation errors name its arguments (max_model_len), which the user never
typed: they become one line naming the evalsuite setting and vLLM's stated limit."""

from __future__ import annotations

import pytest

from evalsuite.models.backends.vllm_settings import explain, explain_error
from tests.conftest import require_vllm

# vLLM 0.32's own words (ModelConfig, SchedulerConfig), as its pydantic validators say them
LONG = ("User-specified max_model_len (100000) is greater than the derived max_model_len "
        "(max_position_embeddings=8192.0 or model_max_length=None in model's config.json). "
        "To allow overriding this maximum, set the env var VLLM_ALLOW_LONG_MAX_MODEL_LEN=1.")
SEQS = "max_num_batched_tokens (2048) must be greater than or equal to max_num_seqs (100000000)."


def test_the_setting_behind_vllms_words_is_named():
    line = explain(LONG, {"max_model_len": 100000})
    assert line.startswith("vLLM refused model.max_length=100000: User-specified")
    assert "8192" in line and line.endswith("change model.max_length to a value it allows")
    assert "\n" not in line and "VLLM_ALLOW" not in line  # vLLM's first sentence only
    assert explain(SEQS, {"max_num_seqs": 100000000}).startswith(
        "vLLM refused backend.max_num_seqs=100000000")
    assert explain("something else broke", {"max_model_len": 5}) is None
    assert explain_error(RuntimeError(LONG), {}) is None  # only validation errors


@pytest.mark.slow  # imports vLLM and reads the embedded model's config (no weights)
def test_a_real_vllm_validation_error_is_translated(smollm2_dir, monkeypatch):
    require_vllm()
    from vllm.engine.arg_utils import EngineArgs

    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
    kwargs = {"model": str(smollm2_dir), "max_model_len": 100000}
    with pytest.raises(Exception) as info:
        EngineArgs(**kwargs).create_engine_config()
    line = explain_error(info.value, kwargs)
    assert line is not None and line.startswith("vLLM refused model.max_length=100000"), line
