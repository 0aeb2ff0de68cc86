"""Policy heads: one registry, one base class, one file per head.

A head works on windows of embeddings that a frozen encoder computed (and the trainer cached):
  emb      float32 (B, T_o, D)   per-step embedding (image views concatenated, plus proprio)
  actions  float32 (B, T, A)     normalized to [-1, 1]
  pad      bool    (B, T)        True for actions past the episode end (ignored in losses)
"""
from __future__ import annotations

import importlib
from typing import Optional

import torch
import torch.nn as nn

from robolearn.errors import RobolearnError


class Head(nn.Module):
    name: str = ""
    trainable: bool = True
    """False for heads fitted in `prepare` alone (kNN)."""
    default_obs_horizon: int = 1
    default_pred_horizon: int = 1
    default_action_horizon: int = 1
    optim_defaults: dict = {}
    """Optimizer settings from the head's paper, used where the user sets none."""
    export_tolerance: float = 1e-4
    """Largest action difference `robolearn export` accepts between the bundle and torch."""

    def __init__(self, emb_dim: int, action_dim: int, obs_horizon: int, pred_horizon: int, cfg):
        super().__init__()
        self.emb_dim, self.action_dim = emb_dim, action_dim
        self.obs_horizon, self.pred_horizon = obs_horizon, pred_horizon
        self.cfg = cfg

    def prepare(self, emb: torch.Tensor, actions: torch.Tensor, pad: torch.Tensor) -> dict:
        """Called once with all training windows before gradient training (kNN stores them,
        VQ-BeT fits its action tokenizer). Returns metrics to log."""
        return {}

    def loss(self, emb: torch.Tensor, actions: torch.Tensor, pad: Optional[torch.Tensor] = None):
        raise NotImplementedError  # pragma: no cover - abstract

    def noise_shape(self, batch_size: int) -> Optional[tuple[int, ...]]:
        """Shape of the random input one `predict` call consumes (None: deterministic head).

        Generative heads draw all their randomness up front (diffusion: the initial noise; VQ-BeT:
        one uniform per code layer for inverse-CDF sampling), so that an exported graph fed the same
        noise reproduces the torch head exactly."""
        return None

    def sample_noise(self, batch_size: int, generator: Optional[torch.Generator] = None,
                     device=None) -> Optional[torch.Tensor]:
        return None

    def predict_from_noise(self, emb: torch.Tensor, noise: Optional[torch.Tensor]) -> torch.Tensor:
        """Deterministic given `noise`: (B, T_o, D) -> (B, T, A) normalized actions."""
        raise NotImplementedError  # pragma: no cover - abstract

    def predict(self, emb: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """(B, T_o, D) -> (B, T, A) normalized actions, sampling with `generator`."""
        return self.predict_from_noise(emb, self.sample_noise(emb.shape[0], generator, emb.device))

    def after_step(self, step: int, total_steps: int) -> None:
        """Hook after each optimizer step (EMA weights)."""

    def param_groups(self) -> list[dict]:
        return [{"name": "head", "params": [p for p in self.parameters() if p.requires_grad]}]


_MODULES = {
    "mlp": "robolearn.policies.mlp",
    "knn": "robolearn.policies.knn",
    "vqbet": "robolearn.policies.vqbet",
    "diffusion": "robolearn.policies.diffusion",
}
HEADS = tuple(_MODULES)


def get_head(name: str) -> type[Head]:
    if name not in _MODULES:
        raise RobolearnError(f"unknown head '{name}'; known: {', '.join(_MODULES)}")
    return importlib.import_module(_MODULES[name]).HEAD
