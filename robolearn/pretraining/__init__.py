"""Pretraining objectives: one registry, one base class, one file per method.

A method file defines its config dataclass, its class (with `Config`, `optim_defaults`,
`short_run_optim`, `window_spec`) and registers it with `@register_objective("name")`; config, CLI,
pipeline and report find it through this registry.

An objective is an `nn.Module` that owns the encoder being trained and its auxiliary networks
(projector, forward model, feedback net) and returns `(loss, metrics)` from `loss(batch)`. The one
trainer (`robolearn.trainer`) runs any of them.

The batch is a collated Window (see `robolearn.data.windows`):
  images          uint8   (B, T_o, V, H, W, 3)   context frames t-T_o+1 .. t
  proprio         float32 (B, T_o, P)            normalized
  actions         float32 (B, T_a, A)            normalized to [-1, 1], a_t .. a_{t+T_a-1}
  future_images   uint8   (B, K, V, H, W, 3)     frames t+1 .. t+K (when the spec asks K > 0)
  obs_pad, action_pad, future_pad   bool         True where the window ran past the episode
  task_features   float32 (B, T_o, F)            privileged; probes and SIRL only
  future_task_features float32 (B, K, F)
  episode, t      int64   (B,)
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from robolearn.data.windows import WindowSpec
from robolearn.registry import Registry
from robolearn.trainable import Trainable

__all__ = ["DataInfo", "OBJECTIVES", "Objective", "WindowSpec", "get_objective", "register_objective"]


@dataclass
class DataInfo:
    """Shapes of the data an objective is built for."""

    num_views: int
    image_size: int
    action_dim: int
    proprio_dim: int
    feature_dim: int
    env_id: str = ""
    """The registered task the data comes from ("" for an import): task settings such as DynaMo's
    latent dimension are read from its module."""


class Objective(Trainable):
    """Base class. Subclasses set `self.encoder` and implement `loss`."""

    trains: bool = True
    """False: the pretrain command saves the initialization without running the training loop."""
    fixed_window: bool = False
    """Every window has the same frames and no padding, so `--optim.gpu-sampler` can gather them
    on the GPU (DynaMo)."""
    uses_privileged_labels: bool = False
    """Trains on the task's privileged features (SIRL's simulated user); said in the results."""

    def __init__(self, encoder: torch.nn.Module, cfg, info: DataInfo):
        super().__init__()
        self.encoder = encoder
        self.cfg = cfg
        self.info = info

    @classmethod
    def window_spec(cls, cfg) -> WindowSpec:
        return WindowSpec()

    def loss(self, batch: dict) -> tuple[torch.Tensor, dict]:  # pragma: no cover - abstract
        raise NotImplementedError

    def train_loss(self, batch: dict) -> tuple[torch.Tensor, dict]:
        return self.loss(batch)

    def make_dataset(self, path, split: str, cameras, normalizer, in_ram: bool = False):
        """The dataset this objective trains on; None means the standard WindowDataset."""
        return None

    def prepare(self, run_dir, store_path, normalizer) -> None:
        """Hook before training (SIRL generates and saves its queries here)."""

    def results(self) -> dict:
        """Entries of the encoder's results.json beyond losses and probes (SIRL: its query budget)."""
        return {}


# `sampler` holds the GPU window sampler, not a method.
OBJECTIVES: Registry[type[Objective]] = Registry("objective", __name__, skip=("sampler",))
register_objective = OBJECTIVES.register


def get_objective(name: str) -> type[Objective]:
    return OBJECTIVES.get(name)
