"""Diffusion Policy head (Chi et al. 2023): a 1-D temporal conv UNet denoises a T-step action chunk,
conditioned (FiLM) on the flattened T_o observation embeddings and the diffusion step. Optionally
(`cond_mlp`, not the paper's) the window passes through an MLP first, inside the UNet so the EMA and the
export carry it.

Training: DDPM, 100 steps, squaredcos_cap_v2 betas, epsilon prediction, or with
`prediction_type="sample"` the UNet predicts the clean chunk x0 instead of the noise.
Inference: DDIM, `cfg.inference_steps` steps ("leading" spacing), eta = 0, so the only randomness is
the initial noise (`sample_noise`); `predict_from_noise` is deterministic.
An EMA copy of the denoiser (updated in `after_step`) is the one that predicts.

The schedule (`NoiseSchedule`) is this file's own, with diffusers' float32 arithmetic (its
DDPMScheduler.add_noise and DDIMScheduler.step; `tests/test_heads_generative.py` checks both against
diffusers): importing diffusers imports torch._dynamo and sympy, 1.9 s of CPU in every process that
builds the head (each evaluation loop; 7 s without a bytecode cache), more than importing torch itself
(1.5 s), for ten lines of arithmetic. diffusers stays a test dependency, as the reference.

Export: `denoiser()` is the EMA UNet alone, `(noisy (B, T, A), timestep (B,), cond (B, T_o*D)) -> eps`;
`ddim_constants()` and `ddim_sample_numpy` give the loop around it without torch
(with `prediction_type="sample"` the denoiser returns x0 and the loop derives eps from it).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from robolearn.errors import RobolearnError
from robolearn.policies import Head, register_head


# ----------------------------------------------------------------------------- the UNet
class SinusoidalPosEmb(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        freq = torch.exp(torch.arange(half, device=t.device, dtype=torch.float32) * (-math.log(10000.0) / (half - 1)))
        x = t.float()[:, None] * freq[None]
        return torch.cat([x.sin(), x.cos()], dim=-1)


class SameConv1d(nn.Conv1d):
    """A stride-1 'same' Conv1d that skips the kernel taps which only ever meet the zero padding.

    On a sequence of length L, taps further than L - 1 from the centre multiply padding at every output
    position, so cropping the kernel to 2L - 1 taps gives the same output and gradients. Short chunks
    make this most of the work: BlockPush's 4-step chunk is 1 step long at the UNet's deepest levels,
    where a 5-tap kernel is 80% padding; cropping takes a training step there (batch 256, one thread)
    from 128 to 87 ms (benchmarks/train_step.py; benchmarks/results/stage_speed/train_step.md).
    Parameters and checkpoints are nn.Conv1d's."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centre = self.kernel_size[0] // 2
        reach = min(centre, x.shape[-1] - 1)
        if reach == centre:
            return super().forward(x)
        return F.conv1d(x, self.weight[..., centre - reach:centre + reach + 1], self.bias, padding=reach)


class Conv1dBlock(nn.Module):
    """Conv1d -> GroupNorm -> Mish."""

    def __init__(self, c_in: int, c_out: int, kernel: int, groups: int):
        super().__init__()
        self.block = nn.Sequential(SameConv1d(c_in, c_out, kernel, padding=kernel // 2),
                                   nn.GroupNorm(groups, c_out), nn.Mish())

    def forward(self, x):
        return self.block(x)


class ConditionalResidualBlock1D(nn.Module):
    """Two conv blocks; the condition sets a per-channel scale and bias (FiLM) after the first."""

    def __init__(self, c_in: int, c_out: int, cond_dim: int, kernel: int, groups: int):
        super().__init__()
        self.blocks = nn.ModuleList([Conv1dBlock(c_in, c_out, kernel, groups), Conv1dBlock(c_out, c_out, kernel, groups)])
        self.c_out = c_out
        # The paper's Mish -> Linear; every block's Mish sees the same condition, so the UNet applies it
        # once (same values and gradients; 11 of 12 Mish calls on the widest tensor saved) and the block
        # uses the Linear. Kept as a Sequential: checkpoints keep their keys.
        self.cond_encoder = nn.Sequential(nn.Mish(), nn.Linear(cond_dim, 2 * c_out))
        self.residual = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, cond_act: torch.Tensor) -> torch.Tensor:
        """`cond_act`: Mish(condition), which the UNet computes once for all its blocks."""
        out = self.blocks[0](x)
        scale, bias = self.cond_encoder[1](cond_act)[:, :, None].chunk(2, dim=1)
        out = self.blocks[1](scale * out + bias)
        return out + self.residual(x)


class ConditionalUnet1D(nn.Module):
    """Diffusion Policy's ConditionalUnet1D: `forward(noisy (B, T, A), timestep (B,), cond (B, C)) -> eps`.

    T is zero-padded up to a multiple of 2^(levels - 1) inside (and the output cropped back), so any
    prediction horizon works with any depth.
    """

    def __init__(self, action_dim: int, cond_dim: int, down_dims=(64, 128, 256), kernel: int = 5,
                 groups: int = 8, step_embed: int = 128, cond_mlp=()):
        super().__init__()
        if kernel < 1 or kernel % 2 == 0:
            raise RobolearnError(f"diffusion: kernel_size must be odd (a 'same' convolution); got {kernel}")
        for d in down_dims:
            if d % groups:
                raise RobolearnError(f"diffusion: every down_dims entry must be divisible by n_groups ({groups}); got {tuple(down_dims)}")
        self.step_encoder = nn.Sequential(SinusoidalPosEmb(step_embed), nn.Linear(step_embed, 4 * step_embed),
                                          nn.Mish(), nn.Linear(4 * step_embed, step_embed))
        layers, width = [], cond_dim
        for h in cond_mlp:
            layers += [nn.Linear(width, h), nn.Mish()]
            width = h
        self.cond_mlp = nn.Sequential(*layers)  # empty: the paper's raw observation window
        c = step_embed + width
        dims = [action_dim, *down_dims]
        in_out = list(zip(dims[:-1], dims[1:]))
        self.stride = 2 ** (len(in_out) - 1)
        self.down = nn.ModuleList()
        for i, (a, b) in enumerate(in_out):
            last = i == len(in_out) - 1
            self.down.append(nn.ModuleList([
                ConditionalResidualBlock1D(a, b, c, kernel, groups),
                ConditionalResidualBlock1D(b, b, c, kernel, groups),
                nn.Identity() if last else nn.Conv1d(b, b, 3, stride=2, padding=1),
            ]))
        mid = down_dims[-1]
        self.mid = nn.ModuleList([ConditionalResidualBlock1D(mid, mid, c, kernel, groups),
                                  ConditionalResidualBlock1D(mid, mid, c, kernel, groups)])
        self.up = nn.ModuleList()
        for i, (a, b) in enumerate(reversed(in_out[1:])):
            self.up.append(nn.ModuleList([
                ConditionalResidualBlock1D(2 * b, a, c, kernel, groups),
                ConditionalResidualBlock1D(a, a, c, kernel, groups),
                nn.ConvTranspose1d(a, a, 4, stride=2, padding=1),
            ]))
        self.final = nn.Sequential(Conv1dBlock(down_dims[0], down_dims[0], kernel, groups),
                                   nn.Conv1d(down_dims[0], action_dim, 1))

    def forward(self, noisy: torch.Tensor, timestep: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        t = noisy.shape[1]
        x = noisy.transpose(1, 2)  # (B, A, T)
        extra = (-t) % self.stride
        if extra:
            x = F.pad(x, (0, extra))
        timestep = timestep.reshape(-1).expand(noisy.shape[0])
        g = F.mish(torch.cat([self.step_encoder(timestep), self.cond_mlp(cond)], dim=-1))
        skips = []
        for block1, block2, down in self.down:
            x = block2(block1(x, g), g)
            skips.append(x)
            x = down(x)
        for block in self.mid:
            x = block(x, g)
        for block1, block2, up in self.up:
            x = torch.cat([x, skips.pop()], dim=1)
            x = up(block2(block1(x, g), g))
        return self.final(x)[:, :, :t].transpose(1, 2)


# ----------------------------------------------------------------------------- the DDIM loop in numpy
def ddim_sample_numpy(eps_fn: Callable[[np.ndarray, np.ndarray], np.ndarray], x: np.ndarray, const: dict) -> np.ndarray:
    """The inference loop without torch or diffusers; equals `DiffusionHead.predict_from_noise`.

    `eps_fn(x, t)` is the exported denoiser with the condition bound: x (B, T, A) float32, t (B,)
    float32 timesteps -> eps (B, T, A). `x` is the initial noise, `const` is `ddim_constants()`.
    For each t in `timesteps` (descending), with a = alphas_cumprod, t' = t - step_ratio, and
    a' = a[t'] if t' >= 0 else final_alpha_cumprod (DDIM, eta = 0):
        eps = eps_fn(x, t)
        x0  = clip((x - sqrt(1 - a[t]) * eps) / sqrt(a[t]), -clip_range, clip_range)
        x   = sqrt(a') * x0 + sqrt(1 - a') * eps
    and the result is clip(x, -1, 1). Arithmetic in float32, as diffusers does it. With
    `const["prediction_type"] == "sample"` the network's output is x0 (before the clip) and
    eps = (x - sqrt(a[t]) * x0) / sqrt(1 - a[t]).
    """
    sample = _prediction_type(const) == "sample"
    a = np.asarray(const["alphas_cumprod"], dtype=np.float32)
    ratio, final = int(const["step_ratio"]), np.float32(const["final_alpha_cumprod"])
    rng = np.float32(const["clip_range"])
    x = np.asarray(x, dtype=np.float32)
    for t in const["timesteps"]:
        t = int(t)
        out = np.asarray(eps_fn(x, np.full(x.shape[0], t, dtype=np.float32)), dtype=np.float32)
        at, ap = a[t], (a[t - ratio] if t - ratio >= 0 else final)
        if sample:
            x0, eps = np.clip(out, -rng, rng), (x - np.sqrt(at) * out) / np.sqrt(np.float32(1) - at)
        else:
            eps = out
            x0 = np.clip((x - np.sqrt(np.float32(1) - at) * eps) / np.sqrt(at), -rng, rng)
        x = np.sqrt(ap) * x0 + np.sqrt(np.float32(1) - ap) * eps
    return np.clip(x, -1.0, 1.0)


def _prediction_type(const: dict) -> str:
    kind = const.get("prediction_type", "epsilon")
    if kind not in PREDICTION_TYPES or float(const.get("eta", 0.0)) != 0.0:
        raise RobolearnError(f"DDIM without diffusers supports {' or '.join(PREDICTION_TYPES)} prediction and eta = 0, "
                             f"got {kind}, eta {const.get('eta')}")
    return kind


# ----------------------------------------------------------------------------- the schedule
class NoiseSchedule:
    """DDPM noising for training and DDIM steps (eta = 0) for inference on squaredcos_cap_v2 betas,
    with diffusers' float32 arithmetic: DDPMScheduler / DDIMScheduler(beta_schedule="squaredcos_cap_v2",
    clip_sample=True), "leading" timestep spacing, steps_offset 0, set_alpha_to_one."""

    clip_range = 1.0
    final_alpha_cumprod = 1.0

    def __init__(self, train_steps: int, inference_steps: int):
        if not 1 <= inference_steps <= train_steps:
            raise RobolearnError(f"diffusion: inference_steps must be in [1, train_steps ({train_steps})]; "
                                 f"got {inference_steps}")

        def alpha_bar(t: float) -> float:  # Nichol & Dhariwal 2021's cosine schedule
            return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

        betas = [min(1 - alpha_bar((i + 1) / train_steps) / alpha_bar(i / train_steps), 0.999)
                 for i in range(train_steps)]
        self.alphas_cumprod = torch.cumprod(1.0 - torch.tensor(betas, dtype=torch.float32), dim=0)
        self.step_ratio = train_steps // inference_steps
        self.timesteps = [int(t) for t in (np.arange(0, inference_steps) * self.step_ratio).round()[::-1]]
        self.ddim_steps = self._ddim_steps()
        """Per inference step: (t, sqrt(1 - a_t), sqrt(a_t), sqrt(a'), sqrt(1 - a')), what `ddim_loop` reads."""

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The forward process at per-sample steps t (B,): sqrt(a_t) x0 + sqrt(1 - a_t) noise."""
        a = self.alphas_cumprod.to(device=x0.device, dtype=x0.dtype)[t]
        shape = (-1,) + (1,) * (x0.dim() - 1)
        return (a ** 0.5).reshape(shape) * x0 + ((1 - a) ** 0.5).reshape(shape) * noise

    def _ddim_steps(self) -> list[tuple[int, float, float, float, float]]:
        """`ddim_steps`, each coefficient computed in float32 as diffusers does, with a' = a[t - step_ratio],
        or final_alpha_cumprod past the start."""
        a = self.alphas_cumprod.numpy()
        one, final = np.float32(1.0), np.float32(self.final_alpha_cumprod)
        steps = []
        for t in self.timesteps:
            at = a[t]
            ap = a[t - self.step_ratio] if t - self.step_ratio >= 0 else final
            steps.append((t, float(np.sqrt(one - at)), float(np.sqrt(at)), float(np.sqrt(ap)), float(np.sqrt(one - ap))))
        return steps


def ddim_loop(net: nn.Module, steps, sample: bool, clip: float, emb: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """DDIM from `noise` with the denoiser `net` (eta = 0, x0 clipped to [-clip, clip], the result to
    [-1, 1]); `steps`: `NoiseSchedule.ddim_steps`, every coefficient a Python float, so the loop has
    no data-dependent branch and traces (export) as it runs."""
    cond = emb.flatten(1)
    x = noise.to(device=cond.device, dtype=cond.dtype)
    for t, s1, sa, sp, s1p in steps:
        out = net(x, torch.full((1,), t, dtype=torch.long, device=x.device), cond)
        if sample:  # diffusers derives eps from the unclipped x0
            x0, eps = out.clamp(-clip, clip), (x - sa * out) / s1
        else:
            eps, x0 = out, ((x - s1 * out) / sa).clamp(-clip, clip)
        x = sp * x0 + s1p * eps
    return x.clamp(-1.0, 1.0)


# ----------------------------------------------------------------------------- the head
class DdimSampler(nn.Module):
    """The diffusion head's DDIM inference around its EMA denoiser, as a module for export: `ddim_loop`
    with the head's steps, every per-step coefficient a float32 constant."""

    def __init__(self, head):
        super().__init__()
        self.net = head.denoiser()
        self.steps = head.schedule.ddim_steps
        self.sample = head.cfg.prediction_type == "sample"
        self.clip = head.schedule.clip_range

    def forward(self, emb: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return ddim_loop(self.net, self.steps, self.sample, self.clip, emb, noise)


@dataclass
class DiffusionConfig:
    down_dims: tuple[int, ...] = (32, 64, 128)
    """Paper: (512, 1024, 2048), 277M parameters. (32, 64, 128) is 1.8M: enough for 2-D actions on
    64 px tasks, and the size that runs 10 DDIM steps in <= 25 ms on one CPU thread exported
    (benchmarks/head_latency.py; (64, 128, 256), 5.4M, takes ~30 ms)."""
    kernel_size: int = 5
    n_groups: int = 8
    step_embed: int = 128
    train_steps: int = 100
    inference_steps: int = 10
    ema_power: float = 0.75
    ema_max: float = 0.9999
    cond_mlp: tuple[int, ...] = ()
    """Hidden widths of an MLP (Mish) that the flattened observation window passes through before the
    FiLM layers; empty (the paper's low-dim setting) feeds the window to them as it is."""
    prediction_type: str = "epsilon"
    """What the UNet predicts: `epsilon` (the noise; the paper's) or `sample` (the clean action chunk)."""

    def __post_init__(self):
        # Checked when the config is built, so the CLI refuses them while it parses, before it opens the data.
        if self.prediction_type not in PREDICTION_TYPES:
            raise RobolearnError(f"diffusion: prediction_type must be one of {', '.join(PREDICTION_TYPES)}; "
                                 f"got {self.prediction_type!r}")
        if any(int(h) < 1 for h in self.cond_mlp):
            raise RobolearnError(f"diffusion: every cond_mlp width must be >= 1; got {tuple(self.cond_mlp)}")


PREDICTION_TYPES = ("epsilon", "sample")


@register_head("diffusion")
class DiffusionHead(Head):
    Config = DiffusionConfig
    # Standardized embeddings scale the encoder's float32 rounding (ONNX vs torch convolutions) by
    # 1/std (~1e3 for a frozen random encoder), and 10 chained denoiser calls amplify it further:
    # measured 4.3e-4 on a 10-step test policy, against 1e-4 for the one-call heads.
    export_tolerance = 1e-3
    noise_distribution = "normal"
    # PAPERS.md: AdamW lr 1e-4, betas (0.95, 0.999), weight decay 1e-6.
    optim_defaults = dict(lr=1e-4, betas=(0.95, 0.999), weight_decay=1e-6)
    # The paper's lr is for hundreds of epochs; a short run (`robolearn run`, `bench`) uses 3e-4.
    short_run_optim = dict(lr=3e-4)
    default_obs_horizon = 2
    default_pred_horizon = 16
    default_action_horizon = 8

    def __init__(self, emb_dim, action_dim, obs_horizon, pred_horizon, cfg):
        super().__init__(emb_dim, action_dim, obs_horizon, pred_horizon, cfg)
        self.net = ConditionalUnet1D(action_dim, emb_dim * obs_horizon, tuple(cfg.down_dims), cfg.kernel_size,
                                     cfg.n_groups, cfg.step_embed, tuple(cfg.cond_mlp))
        # A separate module holding its own copies (no shared storage: safetensors refuses it);
        # never optimized, only averaged in after_step.
        self.ema = copy.deepcopy(self.net).requires_grad_(False).eval()
        self.schedule = NoiseSchedule(cfg.train_steps, cfg.inference_steps)

    def set_inference_steps(self, steps: int) -> None:
        """DDIM with another number of steps (the weights do not depend on it)."""
        self.schedule = NoiseSchedule(self.cfg.train_steps, steps)

    def train(self, mode: bool = True):
        super().train(mode)
        self.ema.eval()
        return self

    # ------------------------------------------------------------------ training
    def loss(self, emb, actions, pad=None):
        b = actions.shape[0]
        noise = torch.randn_like(actions)
        t = torch.randint(0, self.cfg.train_steps, (b,), device=actions.device)
        noisy = self.schedule.add_noise(actions, noise, t)
        target = actions if self.cfg.prediction_type == "sample" else noise
        err = (self.net(noisy, t, emb.flatten(1)) - target).pow(2).mean(-1)  # (B, T)
        w = torch.ones_like(err) if pad is None else (~pad).float()
        loss = (err * w).sum() / w.sum().clamp(min=1.0)
        return loss, {"eps_mse" if self.cfg.prediction_type == "epsilon" else "x0_mse": loss.detach()}

    def ema_decay(self, step: int) -> float:
        """diffusion_policy's EMAModel schedule: 1 - (1 + step / inv_gamma)^-power, inv_gamma = 1,
        clamped to [0, ema_max]; 0 at the first update, so the average starts from the weights."""
        step = max(0, step - 1)
        if step <= 0:
            return 0.0
        return max(0.0, min(1.0 - (1.0 + step) ** -self.cfg.ema_power, self.cfg.ema_max))

    @torch.no_grad()
    def after_step(self, step, total_steps):
        d = self.ema_decay(step)
        ema, online = list(self.ema.parameters()), list(self.net.parameters())
        torch._foreach_lerp_(ema, online, 1.0 - d)
        for eb, ob in zip(self.ema.buffers(), self.net.buffers()):
            eb.copy_(ob)

    def param_groups(self):
        return [{"name": "head", "params": list(self.net.parameters())}]

    # ------------------------------------------------------------------ inference
    def denoiser(self) -> nn.Module:
        """The EMA UNet, the network inference uses: (noisy (B, T, A), timestep (B,), cond (B, T_o*D)) -> eps
        (x0 with prediction_type "sample")."""
        return self.ema

    def ddim_constants(self) -> dict:
        """What a runtime needs to run the DDIM loop itself (see `ddim_sample_numpy` for the update)."""
        s = self.schedule
        return {
            "alphas_cumprod": s.alphas_cumprod.numpy().astype(np.float32).tolist(),
            "timesteps": list(s.timesteps),
            "step_ratio": s.step_ratio,
            "final_alpha_cumprod": float(s.final_alpha_cumprod),
            "clip_range": float(s.clip_range),
            "prediction_type": self.cfg.prediction_type,
            "eta": 0.0,
        }

    def export_module(self) -> nn.Module:
        return DdimSampler(self)

    def noise_shape(self, batch_size):
        return (batch_size, self.pred_horizon, self.action_dim)

    def sample_noise(self, batch_size, generator=None, device=None):
        return torch.randn(self.noise_shape(batch_size), generator=generator, device=device)

    def predict_from_noise(self, emb, noise):
        if noise is None:
            raise RobolearnError("diffusion head needs initial noise (sample_noise)")
        return ddim_loop(self.ema, self.schedule.ddim_steps, self.cfg.prediction_type == "sample", self.schedule.clip_range,
                         emb, noise)

