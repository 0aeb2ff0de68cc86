"""Inverse-dynamics pretraining (Brandfonbrener, Nachum, Bruna 2023).

Loss: E ‖g([φ(o_t), φ(o_{t+k})]) − a_t‖², one shared encoder for both frames (no stop-gradient by
default), g an MLP (256, 256) with dropout 0.1, random-shift crop augmentation on both frames.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from robolearn.pretraining import DataInfo, Objective, WindowSpec


def random_shift(images: torch.Tensor, pad: int) -> torch.Tensor:
    """DrQ-style random shift: replicate-pad by `pad` px and crop back at a random offset, one
    offset per sample, applied to uint8 (N, H, W, C) frames without a Python loop."""
    if pad <= 0:
        return images
    n, h, w, c = images.shape
    x = images.permute(0, 3, 1, 2).float()
    x = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    ox = torch.randint(0, 2 * pad + 1, (n,), device=x.device)
    oy = torch.randint(0, 2 * pad + 1, (n,), device=x.device)
    rows = (oy[:, None] + torch.arange(h, device=x.device)[None])  # (n, h)
    cols = (ox[:, None] + torch.arange(w, device=x.device)[None])  # (n, w)
    idx_r = rows[:, None, :, None].expand(n, c, h, w + 2 * pad)
    x = torch.gather(x, 2, idx_r)
    idx_c = cols[:, None, None, :].expand(n, c, h, w)
    x = torch.gather(x, 3, idx_c)
    return x.round().to(torch.uint8).permute(0, 2, 3, 1)


def mlp(dims: list[int], dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(dims) - 2):
        layers += [nn.Linear(dims[i], dims[i + 1]), nn.GELU(), nn.Dropout(dropout)]
    layers.append(nn.Linear(dims[-2], dims[-1]))
    return nn.Sequential(*layers)


class InverseDynamics(Objective):
    name = "idm"

    def __init__(self, encoder, cfg, info: DataInfo):
        super().__init__(encoder, cfg, info)
        d = encoder.embed_dim
        self.inverse = mlp([2 * d, *cfg.hidden, info.action_dim], cfg.dropout)

    @classmethod
    def window_spec(cls, cfg) -> WindowSpec:
        # o_t, a_t and o_{t+k}; windows whose o_{t+k} lies past the episode end are dropped.
        return WindowSpec(obs_horizon=1, action_horizon=1, future=cfg.k, pad=False)

    def _augment(self, images: torch.Tensor) -> torch.Tensor:
        """Shift (B, 2, V, H, W, 3) frames: one offset per sample and view, the SAME for o_t and
        o_{t+k}. Independent shifts would add ±pad px of fake motion and drown the 1–2 px of real
        motion between the frames that the inverse model has to see."""
        if not self.training or self.cfg.shift_pad <= 0:
            return images
        b, t, v, h, w, c = images.shape
        x = images.permute(0, 2, 3, 4, 1, 5).reshape(b * v, h, w, t * c)
        x = random_shift(x, self.cfg.shift_pad)
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


OBJECTIVE = InverseDynamics
