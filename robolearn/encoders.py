"""Visual encoders: uint8 images (..., V, H, W, 3) -> embeddings (..., V * D).

Every camera view goes through the same network (batched, no Python loop over views), and the
per-view embeddings are concatenated. Normalization to [-1, 1]-ish floats happens inside, so
callers (data loaders, the robot runtime) pass raw uint8 frames.

We write ResNet-18 ourselves: torchvision does not import beside this torch build, and the model
is short.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from robolearn.checkpoint import load_json, load_module
from robolearn.errors import RobolearnError
from robolearn.registry import Registry
from robolearn.settings import EncoderConfig, from_dict

# All encoders live in this file: nothing to discover.
ENCODERS: Registry[type["Encoder"]] = Registry("encoder", None)


class SpatialSoftmax(nn.Module):
    """Expected (x, y) image coordinates of each channel's softmax over space.

    The logits are divided by a learned temperature (as robomimic's spatial softmax). Its initial
    value sets how peaked each channel's attention is at random init: with unit-scale activations
    and temperature 1 the softmax is nearly uniform, every keypoint sits near the image centre for
    every frame, and the embedding is nearly constant (README, "Encoders at random init")."""

    def __init__(self, temperature: float = 1.0):
        super().__init__()
        self.log_temperature = nn.Parameter(torch.tensor(float(temperature)).log())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        # float32 whatever autocast says: keypoints in bf16 keep ~3 significant digits.
        with torch.autocast(x.device.type, enabled=False):
            logits = x.float().flatten(2) / self.log_temperature.exp()  # (b, c, h*w)
            ys = torch.linspace(-1.0, 1.0, h, device=x.device)
            xs = torch.linspace(-1.0, 1.0, w, device=x.device)
            grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).reshape(h * w, 2)  # (x, y) per pixel
            # The expectation as one matmul, and for maps under 16 pixels the softmax over the leading
            # dimension of the transpose: torch's CPU softmax over a last dimension of 9 (the 3x3 map at
            # 32 px) is slow. The pooling went 11.6 -> 2.2 ms of a conv encoder step at batch 128
            # (benchmarks/results/stage_speed/spatial_softmax.md).
            if h * w < 16:
                coords = grid.t() @ torch.softmax(logits.transpose(1, 2), dim=1)  # (b, 2, c)
            else:
                coords = (torch.softmax(logits, dim=-1) @ grid).transpose(1, 2)  # (b, 2, c)
        return coords.reshape(b, 2 * c)  # every channel's x, then every channel's y


class Encoder(nn.Module):
    """Base class: subclasses implement `frame_forward` on float (N, 3, H, W) in [-1, 1]."""

    view_dim: int

    def __init__(self, num_views: int, image_size: int):
        super().__init__()
        self.num_views = num_views
        self.image_size = image_size

    @property
    def embed_dim(self) -> int:
        return self.view_dim * self.num_views

    @classmethod
    def from_config(cls, cfg: EncoderConfig, num_views: int, image_size: int) -> "Encoder":
        return cls(num_views, image_size)

    def frame_forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, H, W, 3) -> float (N, 3, H, W) in [-1, 1], channels_last on the GPU."""
        x = images.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
        if x.is_cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def encode_views(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (..., V, H, W, 3) -> (..., V, D)."""
        if images.dtype != torch.uint8:
            raise RobolearnError(f"encoder expects uint8 images, got {images.dtype}")
        if images.shape[-1] != 3 or images.dim() < 4:
            raise RobolearnError(f"encoder expects images shaped (..., V, H, W, 3), got {tuple(images.shape)}")
        lead = images.shape[:-3]
        flat = images.reshape(-1, *images.shape[-3:])
        out = self.frame_forward(self.preprocess(flat))
        return out.reshape(*lead, out.shape[-1])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (..., V, H, W, 3) -> (..., V * D)."""
        if images.dim() >= 4 and images.shape[-4] != self.num_views:
            raise RobolearnError(
                f"encoder was built for {self.num_views} camera view(s), got {images.shape[-4]}"
            )
        return rearrange(self.encode_views(images), "... v d -> ... (v d)")


@ENCODERS.register("conv")
class ConvEncoder(Encoder):
    """Brandfonbrener et al. 2023: conv 32/64/128/256, 3x3, strides 2,2,1,1, VALID, GELU,
    spatial softmax, Linear -> LayerNorm -> tanh.

    Three changes to the paper's network, all for its random initialization: Kaiming-normal conv
    weights (PyTorch's default shrinks the activations layer by layer), GroupNorm after each conv
    (unit-scale activations whatever the image's contrast, with no batch statistics, so train and
    eval modes agree), and spatial-softmax temperature 0.1 (learned). The paper's network maps every
    Reach frame to nearly the same vector at init (mean pairwise cosine 0.9999 at 32 and 64 px),
    which leaves DynaMo's cosine loss trivially near zero; this one gives 0.07-0.17 with effective
    rank 20-41 (seeds 0-2, 32 and 64 px; benchmarks/results/encoder_init/output.md).

    `first_stride=1` (not the paper's) keeps a 10x10 map for the spatial softmax at 32 px instead of
    3x3, for objects of a few pixels (benchmarks/results/blockpush_images/encoder_resolution.md).
    """

    SOFTMAX_TEMPERATURE = 0.1

    @staticmethod
    def map_size(image_size: int, first_stride: int = 2) -> int:
        """Side of the last feature map (what the spatial softmax reads): four VALID 3x3 convolutions,
        strides first_stride, 2, 1, 1."""
        side = image_size
        for s in (first_stride, 2, 1, 1):
            side = (side - 3) // s + 1
        return side

    def __init__(self, num_views: int, image_size: int, embed_dim: int = 64, first_stride: int = 2):
        super().__init__(num_views, image_size)
        if first_stride not in (1, 2):
            raise RobolearnError(f"the conv encoder's first stride must be 1 or 2, got {first_stride}")
        strides = (first_stride, 2, 1, 1)
        if self.map_size(image_size, first_stride) < 1:  # else torch fails deep inside a convolution
            smallest = next(s for s in range(3, 64) if self.map_size(s, first_stride) >= 1)
            raise RobolearnError(f"the conv encoder needs images of at least {smallest} px (four VALID 3x3 "
                                 f"convolutions, strides {', '.join(map(str, strides))}), got {image_size} px; "
                                 f"collect or import with a larger --image-size")
        chans = (32, 64, 128, 256)
        layers, c_in = [], 3
        for c, s in zip(chans, strides):
            conv = nn.Conv2d(c_in, c, 3, stride=s, padding=0)
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)
            layers += [conv, _norm("group", c), nn.GELU()]
            c_in = c
        self.conv = nn.Sequential(*layers)
        self.pool = SpatialSoftmax(self.SOFTMAX_TEMPERATURE)
        self.proj = nn.Sequential(nn.Linear(2 * c_in, embed_dim), nn.LayerNorm(embed_dim), nn.Tanh())
        self.view_dim = embed_dim

    @classmethod
    def from_config(cls, cfg, num_views, image_size):
        return cls(num_views, image_size, cfg.embed_dim, cfg.first_stride)

    def frame_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.pool(self.conv(x)))


def _norm(kind: str, c: int) -> nn.Module:
    return nn.BatchNorm2d(c) if kind == "batch" else nn.GroupNorm(min(32, c // 4) or 1, c)


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, norm: str, relu_out: bool = True):
        super().__init__()
        self.relu_out = relu_out
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = _norm(norm, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = _norm(norm, c_out)
        self.down = None
        if stride != 1 or c_in != c_out:
            self.down = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), _norm(norm, c_out))

    def forward(self, x):
        idt = x if self.down is None else self.down(x)
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out)) + idt
        return F.relu(out, inplace=True) if self.relu_out else out


@ENCODERS.register("resnet18")
class ResNet18Encoder(Encoder):
    """ResNet-18 from scratch (He et al. 2016), global average pool, 512-d per view.

    One change: the last block's output ReLU is left out, so the embedding is signed. Non-negative
    pooled features share a large common component: two random Reach frames at 64 px had mean
    cosine 0.78 with it (BatchNorm on the data's statistics) and 0.50 without, which is what DynaMo's
    cosine loss compares."""

    def __init__(self, num_views: int, image_size: int, norm: str = "batch"):
        super().__init__(num_views, image_size)
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, 2, 3, bias=False), _norm(norm, 64), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        blocks, c_in = [], 64
        for c, s in ((64, 1), (128, 2), (256, 2), (512, 2)):
            blocks += [BasicBlock(c_in, c, s, norm), BasicBlock(c, c, 1, norm, relu_out=c != 512)]
            c_in = c
        self.blocks = nn.Sequential(*blocks)
        self.view_dim = 512

    @classmethod
    def from_config(cls, cfg, num_views, image_size):
        return cls(num_views, image_size, cfg.norm)

    def frame_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x)).mean(dim=(2, 3))


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


@torch.no_grad()
def calibrate_batchnorm(encoder: Encoder, batches) -> int:
    """Estimate BatchNorm running statistics from uint8 frame batches (..., V, H, W, 3), leaving the
    weights untouched; returns the frames seen. A BatchNorm network that was never trained still
    holds the initial statistics (mean 0, variance 1), so in eval mode it does not normalize at all
    and its embeddings of different frames nearly coincide (ResNet-18 on Reach: mean pairwise cosine
    0.95-0.97, against 0.41-0.78 in train mode). The frozen random-init baseline (`none`) calls this
    so that it is the random network as a trained one would be used: in eval mode, on its data's
    statistics. Cumulative averages (momentum None), so the order of batches does not matter."""
    bns = [m for m in encoder.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    was_training = encoder.training
    encoder.train()
    seen = 0
    for images in batches:
        encoder(images)
        seen += int(images.reshape(-1, *images.shape[-4:]).shape[0])
    for m, momentum in zip(bns, momenta):
        m.momentum = momentum
    encoder.train(was_training)
    return seen


def make_encoder(cfg: EncoderConfig, num_views: int, image_size: int) -> Encoder:
    return ENCODERS.get(cfg.name).from_config(cfg, num_views, image_size)


def load_encoder(enc_dir: Path, device="cpu"):
    """(encoder in eval mode, meta dict) from an encoder run folder (`robolearn pretrain`)."""
    enc_dir = Path(enc_dir)
    if not enc_dir.is_dir():
        raise RobolearnError(f"{enc_dir}: no such encoder run folder (make one with `robolearn pretrain`)")
    meta_path = enc_dir / "encoder.json"
    if not meta_path.exists():
        raise RobolearnError(f"{enc_dir}: not a finished encoder run (no encoder.json)")
    meta = load_json(meta_path)
    encoder = make_encoder(from_dict(EncoderConfig, meta["encoder"]), meta["num_views"], meta["image_size"])
    load_module(encoder, enc_dir / "encoder.safetensors", "encoder")
    return encoder.to(device).eval(), meta
