"""Pretraining objectives: one registry, one base class, one file per method.

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

import importlib
from dataclasses import dataclass

import torch
import torch.nn as nn

from robolearn.errors import RobolearnError


@dataclass
class WindowSpec:
    """What windows an objective (or head) reads from the demonstration store."""

    obs_horizon: int = 1
    action_horizon: int = 1
    future: int = 0
    pad: bool = True
    """Allow windows that run past episode starts/ends (padded, masked); False keeps full ones."""


@dataclass
class DataInfo:
    """Shapes of the data an objective is built for."""

    num_views: int
    image_size: int
    action_dim: int
    proprio_dim: int
    feature_dim: int


class Objective(nn.Module):
    """Base class. Subclasses set `self.encoder` and implement `loss`."""

    name: str = ""
    optim_defaults: dict = {}
    """Optimizer settings from the method's paper, used where the user sets none."""

    def __init__(self, encoder: nn.Module, cfg, info: DataInfo):
        super().__init__()
        self.encoder = encoder
        self.cfg = cfg
        self.info = info

    @classmethod
    def window_spec(cls, cfg) -> WindowSpec:
        return WindowSpec()

    def loss(self, batch: dict) -> tuple[torch.Tensor, dict]:  # pragma: no cover - abstract
        raise NotImplementedError

    def param_groups(self) -> list[dict]:
        """Groups for the optimizer; each is clipped separately (DynaMo clips per network)."""
        return [{"name": "all", "params": [p for p in self.parameters() if p.requires_grad]}]

    def configure_optimizers(self, optim_cfg) -> list[torch.optim.Optimizer]:
        """One AdamW by default; CCL gives each of its networks its own optimizer."""
        groups = [g for g in self.param_groups() if g["params"]]
        if not groups:
            return []
        kw = dict(lr=optim_cfg.lr, weight_decay=optim_cfg.weight_decay, betas=tuple(optim_cfg.betas))
        if torch.cuda.is_available() and any(p.is_cuda for g in groups for p in g["params"]):
            kw["fused"] = True
        return [torch.optim.AdamW(groups, **kw)]

    def after_step(self, step: int, total_steps: int) -> None:
        """Hook after each optimizer step (EMA targets)."""

    def make_dataset(self, path, split: str, cameras, normalizer, in_ram: bool = False):
        """The dataset this objective trains on; None means the standard WindowDataset."""
        return None

    def prepare(self, run_dir, store_path, normalizer) -> None:
        """Hook before training (SIRL generates and saves its queries here)."""


# Lazy registry: name -> module; each module defines `OBJECTIVE` (the class).
_MODULES = {
    "none": "robolearn.pretraining.none",
    "idm": "robolearn.pretraining.idm",
    "dynamo": "robolearn.pretraining.dynamo",
    "sirl": "robolearn.pretraining.sirl",
    "ccl": "robolearn.pretraining.ccl",
}
OBJECTIVES = tuple(_MODULES)


def get_objective(name: str) -> type[Objective]:
    if name not in _MODULES:
        raise RobolearnError(f"unknown objective '{name}'; known: {', '.join(_MODULES)}")
    return importlib.import_module(_MODULES[name]).OBJECTIVE
