"""What a policy head sees at one step: the observation turned into one feature vector.

    features = [ (encoder(images) - emb_mean) / emb_std ,  lowdim_1 * scale_1 + offset_1 , ... ]

- Images (optional): a visual encoder's embedding, standardized per dimension with statistics of the
  training split. A frozen random or pretrained conv encoder's embedding varies by ~1e-3 per
  dimension across a dataset, next to proprio in [-1, 1]: fed raw, a head barely sees the image
  (PointMass, `none` + MLP: 20/30 raw vs 30/30 standardized). A probe that standardizes its inputs
  hides this, so the head gets the same treatment. End-to-end training keeps the identity
  statistics: there the encoder learns its own scale.
- Low-dimensional keys (`proprio`, and `state` for the privileged-state ceiling): min-max
  normalized to [-1, 1] with the training split's limits (the `Normalizer`'s).

The statistics are buffers, so they travel in the policy's weights and inside the exported graph.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn as nn

STD_FLOOR = 1e-6
"""Dimensions that never vary in the training data are divided by at least this."""


class StepFeatures(nn.Module):
    def __init__(self, encoder: Optional[nn.Module], lowdim: dict[str, int]):
        """encoder: uint8 (..., V, H, W, 3) -> (..., E), or None for a policy without images.
        lowdim: {obs key: width}, in the order their features are concatenated."""
        super().__init__()
        self.encoder = encoder
        self.lowdim_keys = list(lowdim)
        self.image_dim = int(encoder.embed_dim) if encoder is not None else 0
        self.register_buffer("emb_mean", torch.zeros(self.image_dim))
        self.register_buffer("emb_std", torch.ones(self.image_dim))
        for k, d in lowdim.items():
            self.register_buffer(f"{k}_scale", torch.ones(d))
            self.register_buffer(f"{k}_offset", torch.zeros(d))
        self.dim = self.image_dim + sum(lowdim.values())

    # ------------------------------------------------------------------ statistics
    def set_embedding_stats(self, emb: np.ndarray) -> None:
        """Standardize with the mean and std of raw embeddings (N, E) of the training split."""
        emb = np.asarray(emb, np.float64)
        self.emb_mean.copy_(torch.from_numpy(emb.mean(0)).float())
        self.emb_std.copy_(torch.from_numpy(np.maximum(emb.std(0), STD_FLOOR)).float())

    def set_lowdim_stats(self, normalizer) -> None:
        for k in self.lowdim_keys:
            scale, offset = normalizer.params(k)
            getattr(self, f"{k}_scale").copy_(torch.from_numpy(scale))
            getattr(self, f"{k}_offset").copy_(torch.from_numpy(offset))

    # ------------------------------------------------------------------ forward
    def standardize(self, emb: torch.Tensor) -> torch.Tensor:
        return (emb.float() - self.emb_mean) / self.emb_std

    def normalize_lowdim(self, key: str, x: torch.Tensor) -> torch.Tensor:
        return x.float() * getattr(self, f"{key}_scale") + getattr(self, f"{key}_offset")

    def forward(self, images: Optional[torch.Tensor], lowdim: dict[str, torch.Tensor]) -> torch.Tensor:
        """images uint8 (..., V, H, W, 3) (None without an encoder); lowdim[key] raw (..., d_key)
        -> (..., dim) float32."""
        parts = []
        if self.encoder is not None:
            parts.append(self.standardize(self.encoder(images)))
        parts += [self.normalize_lowdim(k, lowdim[k]) for k in self.lowdim_keys]
        return torch.cat(parts, -1)
