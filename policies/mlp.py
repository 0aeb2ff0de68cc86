"""MLP head: the T_o embeddings concatenated, an MLP predicts a T-step action chunk (MSE)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn as nn

from robolearn.policies import Head, register_head


@dataclass
class MlpConfig:
    hidden: int = 256
    depth: int = 4
    dropout: float = 0.1


@register_head("mlp")
class MlpHead(Head):
    Config = MlpConfig
    default_obs_horizon = 1
    default_pred_horizon = 5
    default_action_horizon = 5

    def __init__(self, emb_dim, action_dim, obs_horizon, pred_horizon, cfg):
        super().__init__(emb_dim, action_dim, obs_horizon, pred_horizon, cfg)
        layers: list[nn.Module] = []
        d = emb_dim * obs_horizon
        for _ in range(cfg.depth):
            layers += [nn.Linear(d, cfg.hidden), nn.GELU(), nn.Dropout(cfg.dropout)]
            d = cfg.hidden
        layers.append(nn.Linear(d, pred_horizon * action_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        return self.net(emb.flatten(1)).view(-1, self.pred_horizon, self.action_dim)

    def loss(self, emb, actions, pad: Optional[torch.Tensor] = None):
        err = (self(emb) - actions).pow(2).mean(-1)  # (B, T)
        w = torch.ones_like(err) if pad is None else (~pad).float()
        loss = (err * w).sum() / w.sum().clamp(min=1.0)
        return loss, {"mse": loss.detach()}

    def predict_from_noise(self, emb, noise=None):
        return self(emb).clamp(-1.0, 1.0)

