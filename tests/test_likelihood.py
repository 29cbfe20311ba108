"""Cross-likelihood with the real SmolLM2: the scorer agrees with transformers' own
generation scores, identical models find each other's responses exactly as likely as
their own, and a perturbed checkpoint's sampled answers give a positive Monte-Carlo
KL(candidate || baseline)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evalsuite.drift import CompareSettings, compare
from evalsuite.drift.likelihood import Scorer
from tests.stored_runs import IF_TASK, write_run

pytestmark = pytest.mark.slow
PROMPTS = ["Name three colours.", "Write one sentence about the sea.",
           "What is two plus two?", "Give a tip for sleeping well."]


def _chat(tok, text: str) -> str:
    return tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                   add_generation_prompt=True)


@pytest.fixture(scope="module")
def scorer(smollm2_dir) -> Scorer:
    return Scorer(str(smollm2_dir), batch_size=4)


def _sample(model, tok, prompts: list[str], n: int, seed: int) -> tuple[list[str], list[str]]:
    """n answers per prompt at temperature 1, and the chat prompts they answer."""
    import torch

    torch.manual_seed(seed)
    ctx, out = [], []
    for p in prompts:
        text = _chat(tok, p)
        enc = tok(text, return_tensors="pt", add_special_tokens=False)
        gen = model.generate(**enc, do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
                             max_new_tokens=20, num_return_sequences=n,
                             pad_token_id=tok.eos_token_id)
        for row in gen:
            out.append(tok.decode(row[enc["input_ids"].shape[1]:], skip_special_tokens=True))
            ctx.append(text)
    return ctx, out


def test_scorer_matches_the_scores_of_generation(scorer):
    import torch

    tok, model = scorer.tok, scorer.model
    text = _chat(tok, PROMPTS[1])
    enc = tok(text, return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        gen = model.generate(**enc, do_sample=False, max_new_tokens=16, output_scores=True,
                             return_dict_in_generate=True, pad_token_id=tok.eos_token_id)
        ref = model.compute_transition_scores(gen.sequences, gen.scores, normalize_logits=True)
    new = gen.sequences[0, enc["input_ids"].shape[1]:]
    response = tok.decode(new, skip_special_tokens=False)
    [got] = scorer.token_logprobs([text], [response])
    assert len(got) == len(new)
    np.testing.assert_allclose(got, ref[0].numpy(), atol=2e-4)


@pytest.mark.extended  # CI: test_scorer_matches_the_scores_of_generation
def test_identical_models_and_a_perturbed_one(scorer, smollm2_dir, tmp_path):
    import torch

    model, tok = scorer.model, scorer.tok
    ctx, base_resp = _sample(model, tok, PROMPTS, 3, seed=0)
    # a candidate checkpoint that really differs: every weight matrix nudged by noise
    perturbed = tmp_path / "perturbed"
    from transformers import AutoModelForCausalLM

    other = AutoModelForCausalLM.from_pretrained(str(smollm2_dir), dtype=torch.float32)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in other.parameters():
            if p.ndim == 2:
                p.add_(torch.randn(p.shape, generator=gen) * 0.3 * p.std())
    other.save_pretrained(perturbed)
    tok.save_pretrained(perturbed)
    _, cand_resp = _sample(other, tok, PROMPTS, 3, seed=1)
    del other

    base = write_run(tmp_path / "base", "base", seed=1, if_pass=0.5, mc_pass=0.5,
                     model_path=str(smollm2_dir), prompts=ctx, responses=base_resp,
                     temperature=1.0)
    twin = write_run(tmp_path / "twin", "twin", seed=1, if_pass=0.5, mc_pass=0.5,
                     model_path=str(smollm2_dir), prompts=ctx, responses=base_resp,
                     temperature=1.0)
    cand = write_run(tmp_path / "cand", "cand", seed=1, if_pass=0.5, mc_pass=0.5,
                     model_path=str(perturbed), prompts=ctx, responses=cand_resp,
                     temperature=1.0)
    settings = CompareSettings(n_boot=200, embeddings=False, cross_likelihood=True)
    drift = compare(base, [twin, cand], settings)
    same = drift["comparisons"]["twin"]["distribution"][IF_TASK]["cross_likelihood"]
    assert same["baseline_responses"]["under_baseline"] == pytest.approx(
        same["candidate_responses"]["under_baseline"], abs=1e-9)
    assert same["kl_candidate_baseline"]["mean_sequence_logratio"] == pytest.approx(0, abs=1e-6)
    diff = drift["comparisons"]["cand"]["distribution"][IF_TASK]["cross_likelihood"]
    # each model finds its own samples likelier than the other model does
    assert diff["candidate_responses"]["under_candidate"] > \
        diff["candidate_responses"]["under_baseline"]
    assert diff["baseline_responses"]["under_baseline"] > \
        diff["baseline_responses"]["under_candidate"]
    assert diff["kl_candidate_baseline"]["mean_sequence_logratio"] > 1.0
    assert diff["kl_baseline_candidate"]["mean_sequence_logratio"] > 1.0
    assert diff["kl_candidate_baseline"]["n"] == len(cand_resp)
    assert "temperature" not in diff["kl_note"]  # sampled at 1: a true KL estimate


def test_scorer_refuses_an_unknown_dtype_before_loading(smollm2_dir):
    from evalsuite.errors import UserError

    with pytest.raises(UserError, match="not a torch dtype"):
        Scorer(str(smollm2_dir), dtype="float33")


def test_cross_likelihood_without_the_checkpoint_is_one_line(tmp_path):
    base = write_run(tmp_path / "a", "a", seed=1, if_pass=0.5, mc_pass=0.5,
                     model_path=str(tmp_path / "gone"))
    cand = write_run(tmp_path / "b", "b", seed=2, if_pass=0.5, mc_pass=0.5,
                     model_path=str(tmp_path / "gone"))
    proc = subprocess.run([sys.executable, "-m", "evalsuite.compare", f"baseline={base}",
                           f"candidate={cand}", "cross_likelihood=true",
                           f"out={tmp_path / 'out'}"], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "cross_likelihood needs" in proc.stderr and "gone" in proc.stderr
    assert not Path(tmp_path / "out").exists()
    _ = json  # drift.json is never written on a refusal
