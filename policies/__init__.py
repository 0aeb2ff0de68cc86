"""Policy heads: one registry, one base class, one file per head.

A head file defines its config dataclass and its class (with `Config`, horizons, `optim_defaults`,
`short_run_optim`, `noise_distribution`, `export_module`) and registers it with
`@register_head("name")`; config, CLI, pipeline and export find it through this registry.

A head works on windows of embeddings that a frozen encoder computed (and the trainer cached):
  emb      float32 (B, T_o, D)   per-step embedding (image views concatenated, plus proprio)
  actions  float32 (B, T, A)     normalized to [-1, 1] (preceded by `action_context` earlier actions)
  pad      bool    (B, T)        True for actions past the episode end (ignored in losses)
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
import torch.nn as nn

from robolearn.checkpoint import load_json, save_json
from robolearn.registry import Registry
from robolearn.settings import from_dict, to_dict
from robolearn.trainable import Trainable


class Head(Trainable):
    trainable: bool = True
    """False for heads fitted in `prepare` alone (kNN)."""
    default_obs_horizon: int = 1
    default_pred_horizon: int = 1
    default_action_horizon: int = 1
    noise_distribution: Optional[str] = None
    """How `sample_noise` draws (`normal`: torch.randn, `uniform`: torch.rand); None: deterministic.
    Written into the exported bundle's spec, whose runtime draws the same way."""
    export_tolerance: float = 1e-4
    """Largest action difference `robolearn export` accepts between the bundle and torch."""

    def __init__(self, emb_dim: int, action_dim: int, obs_horizon: int, pred_horizon: int, cfg):
        super().__init__()
        self.emb_dim, self.action_dim = emb_dim, action_dim
        self.obs_horizon, self.pred_horizon = obs_horizon, pred_horizon
        self.cfg = cfg

    @property
    def action_context(self) -> int:
        """Actions before the window's last step that `loss` and `prepare` want ahead of the chunk:
        `actions` is then (B, action_context + T, A), `pad` True also before the episode start.
        VQ-BeT supervises every position of its observation window (T_o - 1); 0 for the others."""
        return 0

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

    def train_loss(self, batch) -> tuple[torch.Tensor, dict]:
        """A batch of precomputed feature windows: (emb, actions, pad)."""
        emb, actions, pad = batch
        return self.loss(emb, actions, pad)

    def export_module(self) -> Optional[nn.Module]:
        """A graph-exportable `(emb, noise) -> normalized actions` module for `robolearn export`, when
        `predict_from_noise` itself cannot be traced (diffusion's scheduler branches in Python on
        tensor values); None: the export traces `predict_from_noise`."""
        return None

    def param_groups(self) -> list[dict]:
        return [{"name": "head", "params": [p for p in self.parameters() if p.requires_grad]}]


# `features` (the encoder + statistics module) and `policy` (the Policy, a higher layer) hold no head.
HEADS: Registry[type[Head]] = Registry("head", __name__, skip=("features", "policy"))
register_head = HEADS.register


def get_head(name: str) -> type[Head]:
    return HEADS.get(name)


HEAD_FILE = "head.json"
"""Beside model.safetensors: the head's type tag and its own config, readable without the training
config (LeRobot's config.json)."""
HEAD_FORMAT = 1


def save_head_config(run_dir: Path, head: Head) -> None:
    save_json(Path(run_dir) / HEAD_FILE, {"format": HEAD_FORMAT, "type": head.name,
                                          "config": None if head.cfg is None else to_dict(head.cfg)})


def load_head_config(run_dir: Path, meta: dict) -> tuple[type[Head], object]:
    """(head class, its config) from head.json; policies written before it (policy.json format 2)
    carry the same in policy.json's `head` and `head_config`."""
    path = Path(run_dir) / HEAD_FILE
    if path.exists():
        spec = load_json(path)
        name, cfg = spec["type"], spec["config"]
    else:
        name, cfg = meta["head"], meta["head_config"]
    head_cls = get_head(name)
    return head_cls, (None if head_cls.Config is None or cfg is None else from_dict(head_cls.Config, cfg))
