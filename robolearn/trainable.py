"""`Trainable`: what the one training loop (`robolearn.trainer.fit`) needs from a model.

Objectives, heads and the end-to-end encoder + head all derive from it, so the loop has no adapter
and no duck typing, and there is one optimizer builder (`adamw`). A method also carries its own
specifics here, on its class: its config dataclass (`Config`), its paper's optimizer settings
(`optim_defaults`) and where a short CPU run departs from them (`short_run_optim`).
"""
from __future__ import annotations

from typing import ClassVar, Optional

import torch
import torch.nn as nn


def adamw(groups: list[dict], optim_cfg) -> list[torch.optim.Optimizer]:
    """One AdamW over the non-empty parameter groups, fused (one kernel for all parameters).

    Fused on the CPU too: against the CPU's default per-tensor (foreach) update, a diffusion step on
    BlockPush's state (batch 256, one thread) takes 82 ms instead of 87, and a VQ-BeT step on a 1-step
    window 31.6 instead of 36.7 (benchmarks/train_step.py; benchmarks/results/stage_speed/train_step.md)."""
    groups = [g for g in groups if g["params"]]
    if not groups:
        return []
    kw = dict(lr=optim_cfg.lr, weight_decay=optim_cfg.weight_decay, betas=tuple(optim_cfg.betas))
    if all(p.device.type in ("cpu", "cuda") for g in groups for p in g["params"]):
        kw["fused"] = True  # elsewhere (mps, xpu) torch's own default, whatever that device supports
    return [torch.optim.AdamW(groups, **kw)]


class Trainable(nn.Module):
    name: ClassVar[str] = ""
    """Set by the family's registry."""
    Config: ClassVar[Optional[type]] = None
    """The method's config dataclass (its CLI options are --<name>.*); None: the method has none."""
    optim_defaults: ClassVar[dict] = {}
    """Optimizer settings from the method's paper, used where the user sets none."""
    short_run_optim: ClassVar[dict] = {}
    """Where a short CPU run (`robolearn run`, `bench`) departs from `optim_defaults`: OptimConfig
    fields such as lr or batch_size."""

    def train_loss(self, batch) -> tuple[torch.Tensor, dict]:  # pragma: no cover - abstract
        """(loss, metrics) of one training batch."""
        raise NotImplementedError

    def param_groups(self) -> list[dict]:
        """Groups for the optimizer; each is gradient-clipped on its own (DynaMo clips per network)."""
        return [{"name": "all", "params": [p for p in self.parameters() if p.requires_grad]}]

    def configure_optimizers(self, optim_cfg) -> list[torch.optim.Optimizer]:
        """One AdamW by default; CCL gives each of its networks its own optimizer."""
        return adamw(self.param_groups(), optim_cfg)

    def after_step(self, step: int, total_steps: int) -> None:
        """Hook after each optimizer step (EMA targets and weights)."""
