"""Cross-likelihood: how probable each checkpoint finds the other's responses.

Switched on by ``cross_likelihood=true`` in ``evalsuite.compare`` because it needs both
models. Each model scores, under its own prompt (its own chat template), the responses
of both runs; per response the mean per-token log-probability. With sampled responses
(do_sample, e.g. a probe set answered several times) the mean of
log p_cand(y) - log p_base(y) over the candidate's own responses is a Monte-Carlo
estimate of KL(candidate || baseline) per prompt (exact in expectation when the
responses were sampled at temperature 1 without truncation; otherwise it is the
estimate under the sampling distribution actually used, and the report says so).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evalsuite.errors import UserError

log = logging.getLogger(__name__)


class Scorer:
    """A causal LM on CPU (or the first GPU) that returns the per-token log-probabilities
    of a continuation given a context, as lm-eval's ``loglikelihood`` computes them."""

    def __init__(self, path: str, *, revision: str | None = None, dtype: str = "float32",
                 trust_remote_code: bool = False, max_length: int | None = None,
                 batch_size: int = 8) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self._torch = torch
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        if dtype in (None, "auto"):
            torch_dtype: Any = "auto"
        elif isinstance(getattr(torch, str(dtype), None), torch.dtype):
            torch_dtype = getattr(torch, str(dtype))
        else:
            raise UserError(f"model dtype {dtype!r} is not a torch dtype (float32, bfloat16, "
                            "float16 or auto)")
        try:
            self.tok = AutoTokenizer.from_pretrained(path, revision=revision,
                                                     trust_remote_code=trust_remote_code)
            self.model = AutoModelForCausalLM.from_pretrained(
                path, revision=revision, dtype=torch_dtype,
                trust_remote_code=trust_remote_code).to(self.device).eval()
        except (OSError, ValueError) as e:
            raise UserError(f"cross_likelihood needs the checkpoint {path} but it does not "
                            f"load ({str(e).splitlines()[0]}); make it reachable or set "
                            "cross_likelihood=false") from None
        self.max_length = max_length or getattr(self.model.config, "max_position_embeddings",
                                                2048)
        self.batch_size = batch_size
        self.pad_id = self.tok.pad_token_id if self.tok.pad_token_id is not None else (
            self.tok.eos_token_id or 0)

    def token_logprobs(self, contexts: Sequence[str], continuations: Sequence[str],
                       progress: str | None = None) -> list[np.ndarray]:
        """Per-token log p(continuation | context) for each pair (context left-truncated
        to fit the model)."""
        torch = self._torch
        pairs = []
        for ctx, cont in zip(contexts, continuations, strict=True):
            # Prompt and response tokenized apart and joined, as they were generated
            # (prompt ids, then the model's own tokens): tokenizing the joined text could
            # merge tokens across the boundary and score a different split. The prompt is
            # already rendered (chat template included), so no special tokens are added.
            ctx_ids = self.tok(ctx, add_special_tokens=False)["input_ids"]
            cont_ids = self.tok(cont, add_special_tokens=False)["input_ids"]
            whole = (ctx_ids + cont_ids)[-self.max_length:]
            pairs.append((whole, min(len(cont_ids), len(whole) - 1)))
        out: list[np.ndarray] = [np.zeros(0)] * len(pairs)
        order = np.argsort([-len(w) for w, _ in pairs], kind="stable")
        batches = range(0, len(order), self.batch_size)
        if progress:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc=progress, unit="batch", leave=False)
        with torch.inference_mode():
            for start in batches:
                idx = order[start:start + self.batch_size]
                width = max(len(pairs[i][0]) for i in idx)
                ids = torch.full((len(idx), width), self.pad_id, dtype=torch.long)
                mask = torch.zeros((len(idx), width), dtype=torch.long)
                for row, i in enumerate(idx):
                    seq = pairs[i][0]
                    ids[row, :len(seq)] = torch.tensor(seq)
                    mask[row, :len(seq)] = 1
                logits = self.model(input_ids=ids.to(self.device),
                                    attention_mask=mask.to(self.device)).logits.float()
                logp = torch.log_softmax(logits, dim=-1)
                for row, i in enumerate(idx):
                    seq, n_cont = pairs[i]
                    if n_cont <= 0:
                        out[i] = np.zeros(0)
                        continue
                    pos = torch.arange(len(seq) - n_cont - 1, len(seq) - 1)
                    target = torch.tensor(seq[len(seq) - n_cont:])
                    out[i] = logp[row, pos.to(self.device),
                                  target.to(self.device)].cpu().numpy().astype(float)
        return out


def model_key(run: Any) -> tuple[str, str | None, str]:
    """(path, revision, dtype) of a run's model: what makes two runs' models the same."""
    cfg = (run.manifest.config or {}).get("model") or {}
    path = run.manifest.model.path or cfg.get("path")
    return str(path), cfg.get("revision"), str(cfg.get("dtype") or "float32")


def check_model(run: Any) -> None:
    """Refuse, before any slow work, a run whose model cannot be found."""
    path, _, _ = model_key(run)
    if path in ("", "None"):
        raise UserError(f"cross_likelihood needs the model of {run.path}, but its manifest "
                        "names no model path; set cross_likelihood=false")
    if path.startswith(("/", ".", "~")) and not Path(path).expanduser().exists():
        raise UserError(f"cross_likelihood needs {path} (the model of {run.path}) but it is "
                        "gone; restore it or set cross_likelihood=false")


def scorer_for(run: Any, cache: dict[Any, Scorer]) -> Scorer:
    """The run's model (from its manifest), loaded once per (path, revision, dtype)."""
    check_model(run)
    cfg = (run.manifest.config or {}).get("model") or {}
    key = model_key(run)
    if key not in cache:
        cache[key] = Scorer(key[0], revision=key[1], dtype=key[2],
                            trust_remote_code=bool(cfg.get("trust_remote_code")),
                            max_length=cfg.get("max_length"))
    return cache[key]


def _summary(own: list[np.ndarray], other: list[np.ndarray]) -> dict[str, Any]:
    keep = [i for i, (a, b) in enumerate(zip(own, other, strict=True)) if len(a) and len(b)]
    per_tok_own = np.array([own[i].mean() for i in keep])
    per_tok_other = np.array([other[i].mean() for i in keep])
    seq_gap = np.array([own[i].sum() - other[i].sum() for i in keep])
    return {"n": len(keep),
            "own_mean_token_logprob": float(per_tok_own.mean()) if keep else None,
            "other_mean_token_logprob": float(per_tok_other.mean()) if keep else None,
            "mean_sequence_logratio": float(seq_gap.mean()) if keep else None,
            "mean_token_logratio": float((per_tok_own - per_tok_other).mean()) if keep else None}


def cross_likelihood(base_rows: Sequence[dict[str, Any]], cand_rows: Sequence[dict[str, Any]],
                     base_model: Scorer, cand_model: Scorer, *, sampled: bool,
                     temperature: float | None, task: str = "",
                     base_sampled: bool | None = None) -> dict[str, Any]:
    """Each model's per-token log-probability of both runs' responses, and, for sampled
    responses, Monte-Carlo KL estimates in both directions (nats per response and per
    token)."""
    rb = [r.get("response") or "" for r in base_rows]
    rc = [r.get("response") or "" for r in cand_rows]
    pb = [r.get("prompt") or "" for r in base_rows]
    pc = [r.get("prompt") or "" for r in cand_rows]
    b_on_b = base_model.token_logprobs(pb, rb, progress=f"{task}: baseline model")
    c_under_b = base_model.token_logprobs(pb, rc)
    c_on_c = cand_model.token_logprobs(pc, rc, progress=f"{task}: candidate model")
    b_under_c = cand_model.token_logprobs(pc, rb)

    def mean_tok(x: list[np.ndarray]) -> float | None:
        v = [a.mean() for a in x if len(a)]
        return float(np.mean(v)) if v else None

    out: dict[str, Any] = {
        "n": len(rb),
        "baseline_responses": {"under_baseline": mean_tok(b_on_b),
                               "under_candidate": mean_tok(b_under_c)},
        "candidate_responses": {"under_candidate": mean_tok(c_on_c),
                                "under_baseline": mean_tok(c_under_b)},
        "unit": "mean per-token log-probability (nats), averaged over responses",
    }
    stored = [r.get("response_logprobs") for r in cand_rows]
    pairs = [(np.asarray(s, float), c) for s, c in zip(stored, c_on_c, strict=True)
             if isinstance(s, list) and len(s) == len(c) and len(c)]
    if pairs:  # the run's own logprobs (vLLM) against this recomputation: a sanity check
        out["stored_logprobs_max_abs_diff"] = float(max(np.max(np.abs(s - c))
                                                        for s, c in pairs))
    # each direction needs its own side's responses to be samples of its own model
    if base_sampled is None:
        base_sampled = sampled
    if base_sampled:
        out["kl_baseline_candidate"] = _summary(b_on_b, b_under_c)
    if sampled:
        out["kl_candidate_baseline"] = _summary(c_on_c, c_under_b)
        out["kl_note"] = (
            "Monte-Carlo estimate E_y~cand[log p_cand(y) - log p_base(y)] over the sampled "
            "responses" + ("" if temperature in (None, 1, 1.0) else
                           f"; responses were sampled at temperature {temperature}, so this "
                           "estimates the divergence under that sampling distribution, not "
                           "the models' KL at temperature 1"))
    return out
