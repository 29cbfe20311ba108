"""The unlearning objective's terms on a tiny random Llama (no real model): the bound stops
the forgetting gradient, a switched-off term contributes nothing, the KL term is zero for
the base model itself, the replay term is ordinary causal-LM loss (issue 17)."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from evalsuite.recipe._template import template
from evalsuite.recipe._unlearn_loss import (
    IGNORE,
    Weights,
    forget_bounds,
    forget_term,
    kl_term,
    objective,
    replay_term,
    sequence_nll,
    span_labels,
    template_spans,
)


def _tiny(seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=61, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=32)
    return LlamaForCausalLM(cfg).float().eval()


def _batch(seed: int, n: int = 3, width: int = 12) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 61, (n, width), generator=g)
    mask = torch.ones_like(ids)
    mask[0, -3:] = 0  # padding on one row
    labels = ids.masked_fill(mask == 0, IGNORE)
    labels[:, :4] = IGNORE  # a prompt that is not scored
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _f(t: torch.Tensor) -> float:
    return float(t.detach())


def _grad_norm(model: torch.nn.Module) -> float:
    return sum(float(p.grad.abs().sum()) for p in model.parameters() if p.grad is not None)


def test_the_bound_stops_the_forgetting_gradient():
    model, batch = _tiny(), _batch(1)
    nll = sequence_nll(model(**{k: batch[k] for k in ("input_ids", "attention_mask")}).logits,
                       batch["labels"])
    below = forget_term(nll, nll.detach() + 0.5)  # every pair under its bound
    below.backward()
    assert _f(below) == pytest.approx(0.5) and _grad_norm(model) > 0
    model.zero_grad(set_to_none=True)
    nll = sequence_nll(model(input_ids=batch["input_ids"],
                             attention_mask=batch["attention_mask"]).logits, batch["labels"])
    past = forget_term(nll, nll.detach() - 0.01)  # every pair past its bound
    past.backward()
    assert _f(past) == 0.0
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())


def test_a_step_on_the_forget_term_raises_the_loss_up_to_the_bound_only():
    model, batch = _tiny(), _batch(2)
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask")}
    start = sequence_nll(model(**inputs).logits, batch["labels"]).detach()
    bound = start + 0.2
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(40):
        loss = forget_term(sequence_nll(model(**inputs).logits, batch["labels"]), bound)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = sequence_nll(model(**inputs).logits, batch["labels"]).detach()
    assert bool((after > start + 0.1).all()), (start, after)  # raised...
    assert _f(after.max()) < _f(bound.max()) + 0.5  # ...and not run away past it


def test_bounds_are_relative_to_the_base_model():
    base, batch = _tiny(), _batch(3)
    own = sequence_nll(base(input_ids=batch["input_ids"],
                            attention_mask=batch["attention_mask"]).logits, batch["labels"])
    assert torch.allclose(forget_bounds(base, batch, 1.5), 1.5 * own)


def test_the_kl_term_is_zero_for_the_base_model_itself():
    base, batch = _tiny(), _batch(4)
    model = copy.deepcopy(base)
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask")}
    assert _f(kl_term(model(**inputs).logits, base(**inputs).logits,
                         batch["labels"])) == pytest.approx(0, abs=1e-7)
    with torch.no_grad():
        next(model.parameters()).add_(0.05)
    moved = kl_term(model(**inputs).logits, base(**inputs).logits, batch["labels"])
    assert _f(moved) > 1e-6


def test_the_kl_term_is_kl_from_the_base_at_scored_positions_only():
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(9)
    logits, base_logits = torch.randn(2, 5, 7, generator=g), torch.randn(2, 5, 7, generator=g)
    labels = torch.full((2, 5), IGNORE)
    labels[0, 2], labels[1, 4] = 3, 1  # predicted from positions (0, 1) and (1, 3)
    p = F.log_softmax(base_logits, -1)
    q = F.log_softmax(logits, -1)
    at = [(0, 1), (1, 3)]
    want = sum(float((p[i, j].exp() * (p[i, j] - q[i, j])).sum()) for i, j in at) / 2
    assert _f(kl_term(logits, base_logits, labels)) == pytest.approx(want, rel=1e-5)
    changed = logits.clone()
    changed[0, 0] += 5.0  # a position that is not scored
    assert _f(kl_term(changed, base_logits, labels)) == pytest.approx(want, rel=1e-5)
    # the direction: KL(base || model), not KL(model || base)
    reverse = sum(float((q[i, j].exp() * (q[i, j] - p[i, j])).sum()) for i, j in at) / 2
    assert abs(want - reverse) > 1e-3


def test_a_batch_without_a_scored_token_is_no_term_not_nan():
    logits = torch.randn(1, 4, 7)
    assert _f(replay_term(logits, torch.full((1, 4), IGNORE))) == 0.0
    assert _f(kl_term(logits, logits, torch.full((1, 4), IGNORE))) == 0.0


def test_the_replay_term_is_causal_lm_loss_on_the_scored_tokens():
    model, batch = _tiny(), _batch(5)
    out = model(**batch)  # transformers' own loss, same labels
    assert _f(replay_term(out.logits, batch["labels"])) == pytest.approx(_f(out.loss),
                                                                            rel=1e-5)


@pytest.mark.parametrize("off", ["forget", "replay", "kl"])
def test_a_switched_off_term_contributes_nothing(off: str):
    base = _tiny()
    model = copy.deepcopy(base)
    with torch.no_grad():
        next(model.parameters()).add_(0.05)  # so that the KL term is not 0
    forget, replay = _batch(6), _batch(7)
    bound = forget_bounds(base, forget, 2.0)
    on = {"forget": 1.0, "replay": 0.5, "kl": 2.0}
    full = objective(model, base, Weights(**on), forget, bound, replay)
    part = objective(model, base, Weights(**{**on, off: 0.0}), forget, bound, replay)
    assert off not in part and off in full
    expected = sum(on[k] * _f(full[k]) for k in ("forget", "replay", "kl") if k != off)
    assert _f(part["total"]) == pytest.approx(expected, rel=1e-5)
    assert _f(full["total"]) == pytest.approx(expected + on[off] * _f(full[off]),
                                                 rel=1e-5)


def test_template_spans_cover_the_template_and_nothing_else():
    tmpl = template("qa")
    q, a = "What is {x}?", "Paris. Question: no"
    text = tmpl.render(q, a)
    spans = template_spans(tmpl.text, q, a)
    assert [text[s:e] for s, e in spans] == ["Question: ", "\nAnswer: "]
    custom = template("{question} => {answer} END")
    text = custom.render("q", "a")
    assert [text[s:e] for s, e in template_spans(custom.text, "q", "a")] == [" => ", " END"]
    # tokens overlapping a span are scored; the question's and answer's are not
    # "Question: abcd\nAnswer: xy" as BPE cuts it: "Question", ":", " abcd", "\n",
    # "Answer", ":", " xy": a word that carries the template's space is content
    text = tmpl.render("abcd", "xy")
    offsets = [(0, 8), (8, 9), (9, 14), (14, 15), (15, 21), (21, 22), (22, 25)]
    labels = span_labels(text, list(range(7)), offsets, template_spans(tmpl.text, "abcd", "xy"))
    assert labels == [0, 1, IGNORE, 3, 4, 5, IGNORE]
    # a lone space token inside the template is the template's; an empty token is nobody's
    exact = span_labels("Question: ab", [7, 8, 9, 6], [(0, 9), (9, 10), (10, 12), (12, 12)],
                        [(0, 10)])
    assert exact == [7, 8, IGNORE, IGNORE]


# --- the loop and its settings ------------------------------------------------------------

def _run(seed: int, weights: Weights, progress: bool = False):
    from evalsuite.recipe._unlearn_train import UnlearnSettings, unlearn

    base = _tiny()
    model = copy.deepcopy(base)
    s = UnlearnSettings(steps=3, lr=1e-3, warmup_steps=1, seed=seed, weights=weights)
    forget = [_batch(10 + i) for i in range(3)] if weights.forget else []
    bounds = [forget_bounds(base, b, 1.2) for b in forget]
    replay = [_batch(20 + i) for i in range(3)] if (weights.replay or weights.kl) else []
    log = unlearn(model, base, forget, bounds, replay, s, progress=progress)
    return model, log


def test_the_loop_is_deterministic_and_logs_each_term(capsys):
    a, log_a = _run(0, Weights(), progress=True)
    b, log_b = _run(0, Weights())
    assert log_a.terms == log_b.terms and set(log_a.terms) == {"forget", "replay", "kl",
                                                                "total"}
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert log_a.terms["kl"][0] == pytest.approx(0, abs=1e-7)  # starts at the base model
    bar = capsys.readouterr().err
    assert "unlearning" in bar and "forget=" in bar and "replay=" in bar and "kl=" in bar


def test_the_loop_runs_without_a_switched_off_terms_data():
    _, log = _run(0, Weights(forget=0.0))  # no forget batches at all
    assert set(log.terms) == {"replay", "kl", "total"}
    _, log = _run(0, Weights(replay=0.0, kl=0.0))
    assert set(log.terms) == {"forget", "total"}


@pytest.mark.parametrize(("change", "needle"), [
    ({"steps": 0}, "steps must be at least 1, got 0"),
    ({"lr": 0.0}, "lr must be in (0, 0.01]"),
    ({"forget_bound": 0.0}, "forget_bound must be in (0, 10]"),
    ({"forget_bound": 11.0}, "forget_bound must be in (0, 10]"),
    ({"forget_tokens": "some"}, "forget_tokens must be one of template, all"),
    ({"weights": Weights(forget=-1.0)}, "forget_weight must be in [0, 100], got -1.0"),
    ({"weights": Weights(0.0, 0.0, 0.0)}, "every term is switched off"),
    ({"steps": 21}, "over the budget of a quarter of the synthetic stage's 80 steps: at "
                    "most 20"),
])
def test_unlearn_settings_out_of_range_are_one_line(change, needle):
    from dataclasses import replace

    from evalsuite.errors import UserError
    from evalsuite.recipe._unlearn_train import UnlearnSettings, check

    check(UnlearnSettings(), synthetic_steps=80)  # the defaults fit the default recipe
    with pytest.raises(UserError) as e:
        check(replace(UnlearnSettings(), **change), synthetic_steps=80)
    assert needle in e.value.message and "\n" not in e.value.message


def test_forget_pairs_with_unicode_line_separators_in_a_string_are_read(tmp_path):
    # TriviaQA answers hold U+0085 (found by the full-size demo): JSONL is split at "\n"
    # only, not at every separator str.splitlines() knows
    import json

    from evalsuite.recipe._settings import base_model
    from evalsuite.recipe._unlearn import UnlearnStage, _forget
    from evalsuite.recipe._unlearn_train import UnlearnSettings

    pairs = [{"question": "Which river?", "answer": "The Nile\x85(Egypt)"},
             {"question": "A line\u2028separator?", "answer": "yes\u2029no"},
             {"question": "Plain?", "answer": "plain"}]
    (tmp_path / "pairs.jsonl").write_text(
        "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs), encoding="utf-8")
    record = {"stage": "synthetic", "template": {"text": "Question: {question}\nAnswer: "
                                                 "{answer}", "end": "eos"},
              "training": {"steps": 80}, "base": {"name": "smollm2_135m"}}
    stage = UnlearnStage(start=base_model("smollm2_135m", None, None), train=UnlearnSettings())
    forget = _forget(stage, tmp_path, record, tmp_path)
    assert [(p.question, p.answer) for p in forget.pairs] == [
        (p["question"], p["answer"]) for p in pairs]
    assert forget.synthetic_steps == 80
