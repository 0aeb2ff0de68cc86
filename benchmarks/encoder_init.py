"""Do the encoders' random initializations separate frames? Collapse indicators at init, eval mode.

Collects a few Reach episodes (floor colour and distractors redrawn per episode) at each image size,
embeds every frame with each encoder at its random initialization, and prints the mean pairwise
cosine, the effective rank, the mean per-dimension std and the within-episode share of variance,
beside the networks as they were before the init fix (README, "Encoders at random init"):
the paper's conv (PyTorch's default init, no normalization, softmax temperature 1) and ResNet-18
with BatchNorm at its initial statistics and its last ReLU.

    .venv/bin/python benchmarks/encoder_init.py --seeds 0 1 2 --sizes 32 64
"""
from __future__ import annotations

import robolearn.rendering  # noqa: F401  (MUJOCO_GL before mujoco)

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch
import torch.nn as nn
import tyro

from robolearn.config import CollectConfig, EncoderConfig
from robolearn.data.collect import collect
from robolearn.data.store import open_store
from robolearn.encoders import calibrate_batchnorm, make_encoder
from robolearn.probes import collapse_stats


@dataclass
class Args:
    env: str = "robolearn/Reach-v0"
    episodes: int = 20
    sizes: list[int] = field(default_factory=lambda: [32, 64])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])


def paper_conv(enc: nn.Module) -> nn.Module:
    """The conv encoder as published, with PyTorch's default init (what `conv` was before the fix)."""
    layers = [m for m in enc.conv if not isinstance(m, nn.GroupNorm)]
    for m in layers:
        if isinstance(m, nn.Conv2d):
            m.reset_parameters()
    enc.conv = nn.Sequential(*layers)
    with torch.no_grad():
        enc.pool.log_temperature.zero_()
    return enc


def resnet_before(enc: nn.Module) -> nn.Module:
    """ResNet-18 with its last ReLU and BatchNorm at the initial statistics (no calibration)."""
    enc.blocks[-1].relu_out = True
    return enc


def frames_of(env: str, episodes: int, size: int, folder: Path):
    path = collect(CollectConfig(env=env, episodes=episodes, image_size=size, seed=0, workers=1,
                                 out=folder / f"frames{size}.hdf5"))
    with open_store(path) as store:
        demos = store.demo_names(None)
        images = np.concatenate([store.images(d) for d in demos])
        episode = np.concatenate([np.full(store.length(d), i) for i, d in enumerate(demos)])
    return torch.from_numpy(images), episode


def main(args: Args) -> None:
    torch.set_num_threads(1)
    print("| encoder at init (eval mode) | px | seed | mean cosine | effective rank | per-dim std | within-episode share |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            x, episode = frames_of(args.env, args.episodes, size, Path(tmp))
            for seed in args.seeds:
                for label in ("paper conv (before)", "conv", "resnet18 BatchNorm, initial statistics (before)",
                              "resnet18"):
                    torch.manual_seed(seed)
                    enc = make_encoder(EncoderConfig(name="conv" if "conv" in label else "resnet18"), 1, size)
                    if label.startswith("paper conv"):
                        enc = paper_conv(enc)
                    elif "before" in label:
                        enc = resnet_before(enc)
                    elif label == "resnet18":
                        calibrate_batchnorm(enc, x.split(64))  # what `pretrain --objective none` does
                    with torch.no_grad():
                        emb = enc.eval()(x).numpy()
                    s = collapse_stats(emb, episode)
                    print(f"| {label} | {size} | {seed} | {s['mean_cosine']:.4f} | {s['effective_rank']:.1f} | "
                          f"{s['emb_std']:.4f} | {s['within_episode_share']:.2f} |", flush=True)


if __name__ == "__main__":
    main(tyro.cli(Args))
