"""Frozen-embedding diagnostics: linear-probe R² to task features, and collapse indicators."""
from __future__ import annotations

import numpy as np
import torch


def ridge_r2(train_x, train_y, test_x, test_y, alpha: float = 1e-2) -> np.ndarray:
    """Closed-form ridge regression from embeddings to targets; per-target R² on the test set.

    R² = 1 − test MSE / variance of the target over train and test.

    Inputs are standardized with train statistics so alpha means the same at any embedding scale.
    """
    tx, ty = np.asarray(train_x, np.float64), np.asarray(train_y, np.float64)
    vx, vy = np.asarray(test_x, np.float64), np.asarray(test_y, np.float64)
    mx, sx = tx.mean(0), tx.std(0) + 1e-8
    my = ty.mean(0)
    a = (tx - mx) / sx
    b = (vx - mx) / sx
    a1 = np.concatenate([a, np.ones((len(a), 1))], 1)
    b1 = np.concatenate([b, np.ones((len(b), 1))], 1)
    reg = alpha * len(a) * np.eye(a1.shape[1])
    reg[-1, -1] = 0.0  # do not shrink the intercept
    w = np.linalg.solve(a1.T @ a1 + reg, a1.T @ (ty - my))
    pred = b1 @ w + my
    mse = ((vy - pred) ** 2).mean(0)
    # R² against the feature's variance over train and test together: with a few validation
    # episodes a feature (a target zone's position, say) can be nearly constant on the test set
    # alone, and dividing by that would turn a small error into R² of -1000.
    var = np.concatenate([ty, vy]).var(0)
    # A feature constant everywhere carries no information: report 0, not -inf.
    return np.where(var > 1e-12, 1.0 - mse / np.maximum(var, 1e-12), 0.0)


COSINE_FRAMES = 2000
"""Frames the mean pairwise cosine is computed over (an N x N matrix)."""

COLLAPSE_COSINE = 0.99
COLLAPSE_RANK = 4.0
"""Warning thresholds: above this mean pairwise cosine, or below this effective rank, an embedding
has (nearly) collapsed and a cosine or regression loss on it says little."""


def collapse_stats(emb, episodes=None) -> dict:
    """Collapse indicators of an (N, D) embedding matrix:
    emb_std                mean per-dimension standard deviation;
    effective_rank         exp of the entropy of the normalized covariance eigenvalues (Roy & Vetterli 2007);
    mean_cosine            mean cosine between the raw embeddings of two different frames (what
                           DynaMo's cosine loss sees: near 1 means every frame maps to one vector);
    within_episode_share   the share of the embedding's variance that lies within episodes (the
                           agent's motion) rather than between them (floor colour, distractors);
                           only with `episodes`, an (N,) episode id per row."""
    e = torch.as_tensor(np.asarray(emb), dtype=torch.float64)
    c = e - e.mean(0)
    std = c.std(0).mean().item()
    cov = (c.T @ c) / max(len(c) - 1, 1)
    ev = torch.linalg.eigvalsh(cov).clamp(min=0)
    p = ev / ev.sum().clamp(min=1e-12)
    ent = -(p[p > 0] * p[p > 0].log()).sum().item()
    sub = e[torch.linspace(0, len(e) - 1, min(len(e), COSINE_FRAMES)).long()]
    n = torch.nn.functional.normalize(sub, dim=-1)
    sim = n @ n.T
    pairs = len(n) * (len(n) - 1)
    out = {"emb_std": std, "effective_rank": float(np.exp(ent)),
           "mean_cosine": float((sim.sum() - sim.diagonal().sum()) / pairs) if pairs else 1.0}
    if episodes is not None:
        ep = torch.as_tensor(np.asarray(episodes))
        _, inv = torch.unique(ep, return_inverse=True)
        sums = torch.zeros(int(inv.max()) + 1, e.shape[1], dtype=e.dtype).index_add_(0, inv, e)
        counts = torch.bincount(inv).to(e.dtype)[:, None]
        within = (e - (sums / counts)[inv]).square().sum()
        total = c.square().sum()
        out["within_episode_share"] = float(within / total) if total > 0 else 0.0
    return out


def collapse_warning(stats: dict) -> str | None:
    """A one-line warning when the indicators say the embedding has collapsed, else None."""
    cos, rank = stats.get("mean_cosine"), stats.get("effective_rank")
    if cos is not None and cos > COLLAPSE_COSINE:
        return (f"embedding collapse: mean pairwise cosine {cos:.4f} > {COLLAPSE_COSINE} (every frame maps to "
                f"nearly one vector; a cosine loss on it is trivially small)")
    if rank is not None and rank < COLLAPSE_RANK:
        return f"embedding collapse: effective rank {rank:.1f} < {COLLAPSE_RANK:g}"
    return None


def probe_report(train_emb, train_feat, valid_emb, valid_feat, names: list[str], valid_episodes=None) -> dict:
    r2 = ridge_r2(train_emb, train_feat, valid_emb, valid_feat)
    out = {f"probe_r2/{n}": float(v) for n, v in zip(names, r2)}
    # The mean is over the features that vary: a constant one (MetaWorld's second-object slots on a
    # one-object task, ReachTarget's fixed goal) scores 0 whatever the encoder and would drag every
    # encoder's mean toward 0 alike.
    varying = np.concatenate([np.asarray(train_feat), np.asarray(valid_feat)]).var(0) > 1e-12
    out["probe_r2/mean"] = float(np.mean(r2[varying])) if varying.any() else 0.0
    out.update(collapse_stats(valid_emb, valid_episodes))
    return out
