"""Inverse-dynamics pretraining (Brandfonbrener, Nachum, Bruna 2023).

Loss: E ‖g([φ(o_t), φ(o_{t+k})]) − a_t‖², one shared encoder for both frames (no stop-gradient by
default), g an MLP (256, 256) with dropout 0.1, random-shift crop augmentation on both frames.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from robolearn.encoders import random_shift
from robolearn.pretraining import DataInfo, Objective, WindowSpec, register_objective


def mlp(dims: list[int], dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(dims) - 2):
        layers += [nn.Linear(dims[i], dims[i + 1]), nn.GELU(), nn.Dropout(dropout)]
    layers.append(nn.Linear(dims[-2], dims[-1]))
    return nn.Sequential(*layers)


def default_shift_pad(image_size: int) -> int:
    return max(1, round(image_size / 16))


@dataclass
class IdmConfig:
    """Inverse dynamics (Brandfonbrener et al. 2023): predict a_t from [phi(o_t), phi(o_{t+k})]."""

    k: int = 1
    """Frame gap."""
    hidden: tuple[int, ...] = (256, 256)
    dropout: float = 0.1
    shift_pad: Optional[int] = None
    """Random-shift augmentation pad in pixels; None: the image size / 16, rounded (2 px at 32 px, 4 at
    64, 8 at 120: the paper's 8 px at 84-120 px scaled to the image). 0 turns it off."""
    detach_target: bool = False
    """Stop-gradient through phi(o_{t+k}) (paper default: no)."""


@register_objective("idm")
class InverseDynamics(Objective):
    Config = IdmConfig

    def __init__(self, encoder, cfg, info: DataInfo):
        super().__init__(encoder, cfg, info)
        d = encoder.embed_dim
        self.shift_pad = default_shift_pad(info.image_size) if cfg.shift_pad is None else int(cfg.shift_pad)
        self.inverse = mlp([2 * d, *cfg.hidden, info.action_dim], cfg.dropout)

    @classmethod
    def window_spec(cls, cfg) -> WindowSpec:
        # o_t, a_t and o_{t+k}; windows whose o_{t+k} lies past the episode end are dropped.
        return WindowSpec(obs_horizon=1, action_horizon=1, future=cfg.k, pad=False)

    def _augment(self, images: torch.Tensor) -> torch.Tensor:
        """Shift (B, 2, V, H, W, 3) frames: one offset per sample and view, the SAME for o_t and
        o_{t+k}. Independent shifts would add ±pad px of fake motion and drown the 1–2 px of real
        motion between the frames that the inverse model has to see."""
        if not self.training or self.shift_pad <= 0:
            return images
        b, t, v, h, w, c = images.shape
        x = images.permute(0, 2, 3, 4, 1, 5).reshape(b * v, h, w, t * c)
        x = random_shift(x, self.shift_pad)
        return x.reshape(b, v, h, w, t, c).permute(0, 4, 1, 2, 3, 5)

    def loss(self, batch: dict):
        o_t = batch["images"][:, -1]  # (B, V, H, W, 3)
        o_k = batch["future_images"][:, self.cfg.k - 1]
        both = self._augment(torch.stack([o_t, o_k], 1))  # one encoder call for both frames
        emb = self.encoder(both)  # (B, 2, D)
        e_t, e_k = emb[:, 0], emb[:, 1]
        if self.cfg.detach_target:
            e_k = e_k.detach()
        pred = self.inverse(torch.cat([e_t, e_k], -1))
        target = batch["actions"][:, 0]
        loss = F.mse_loss(pred.float(), target.float())
        return loss, {"mse": loss.detach()}

    def param_groups(self):
        return [
            {"name": "encoder", "params": list(self.encoder.parameters())},
            {"name": "inverse", "params": list(self.inverse.parameters())},
        ]

