"""The timed DynaMo training step shared by pretrain_throughput.py and gpu_dynamo_throughput.py.

It is robolearn.trainer.fit's step: bf16 autocast, channels_last weights on CUDA, the loss, backward,
gradient-norm clip 0.1 per network (encoder, inverse, forward), fused AdamW (lr 1e-4, wd 0) on CUDA,
the EMA-target hook. Imports only robolearn.settings / encoders / pretraining, none of which imports
mujoco, gymnasium, tyro, wandb or diffusers (the GPU machine lacks them).
"""
from __future__ import annotations

import contextlib
import time
from typing import Callable

import torch

from robolearn.encoders import make_encoder
from robolearn.pretraining import DataInfo
from robolearn.pretraining.dynamo import Dynamo, DynamoConfig
from robolearn.settings import EncoderConfig, OptimConfig


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build(args, device: torch.device, target: str = "stopgrad"):
    """(objective, optimizers) from args.encoder, norm, views, image_size, window, layers, heads, embed
    (and latent_dim when args has it)."""
    info = DataInfo(num_views=args.views, image_size=args.image_size, action_dim=0, proprio_dim=0, feature_dim=0)
    encoder = make_encoder(EncoderConfig(name=args.encoder, norm=args.norm), args.views, args.image_size)
    cfg = DynamoConfig(window=args.window, latent_dim=getattr(args, "latent_dim", 16), layers=args.layers,
                       heads=args.heads, embed=args.embed, target=target)
    obj = Dynamo(encoder, cfg, info).to(device)
    if device.type == "cuda":
        obj = obj.to(memory_format=torch.channels_last)  # conv weights, as the trainer does on CUDA
    opts = obj.configure_optimizers(OptimConfig(lr=1e-4, weight_decay=0.0, betas=(0.9, 0.999), grad_clip=0.1))
    return obj, opts


def make_step(obj, opts, device: torch.device, loss_fn: Callable, amp: bool, total_steps: int,
              sync_grad_norms: bool = False) -> Callable[[dict, int], torch.Tensor]:
    """step(batch, k) -> loss: one optimizer step with `loss_fn` (the objective's loss, compiled or a
    DDP module). sync_grad_norms reads the clipped norms back to the host, as fit once did every step."""
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if amp else contextlib.nullcontext
    groups = [g for o in opts for g in o.param_groups]

    def step(batch: dict, k: int) -> torch.Tensor:
        with autocast():
            loss, _ = loss_fn(batch)
        for o in opts:
            o.zero_grad(set_to_none=True)
        loss.backward()
        norms = [torch.nn.utils.clip_grad_norm_(g["params"], 0.1) for g in groups]
        if sync_grad_norms:
            [float(n) for n in norms]
        for o in opts:
            o.step()
        obj.after_step(k + 1, total_steps)
        return loss

    return step


def timed(step, next_batch, warmup: int, steps: int, device: torch.device) -> tuple[float, float]:
    """(seconds per step, last loss) over `steps` steps after `warmup` untimed ones."""
    for k in range(warmup):
        step(next_batch(), k)
    sync(device)
    t0 = time.perf_counter()
    for k in range(steps):
        loss = step(next_batch(), warmup + k)
    sync(device)
    return (time.perf_counter() - t0) / steps, loss.item()
