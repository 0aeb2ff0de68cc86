"""DynaMo (Cui, Pan, Iyer, Haldar, Pinto, NeurIPS 2024): in-domain dynamics pretraining.

The encoder f gives s_t per frame and per view. Per view, a causal transformer (the inverse model)
reads s_{0:T} and emits latent actions z_t through a `latent_dim` bottleneck; z_{t+1} has seen frames
up to t+1. A second causal transformer (the forward model) reads [s_t ; z_{t+1}] at position t,
t = 0..T-2, and predicts ŝ_{t+1}. Loss, with s* the target embeddings:

    L = mean_{batch, views, t} (1 - cos(ŝ_{t+1}, sg(s*_{t+1})))
        + cov_weight * mean of the squared off-diagonal entries of Cov(all encoder outputs)

s* is the online encoder's own output with stop-gradient (SimSiam; default) or an EMA copy of the
encoder (`target="ema"`), whose decay follows a cosine from `ema_beta` toward 1 over training.
Unlike the official code, the inverse model used in the loss is always the online one, so it keeps
learning with an EMA target (the official `projector_use_ema` path never trains it).

Training windows are photometrically jittered, each frame on its own (`jitter`, brightness and
channel gains): a departure from the paper (no augmentation) for scenes redrawn per episode, where
the loss otherwise pays the encoder to encode what is constant through an episode (DynamoConfig.jitter).

Views are extra batch entries of the transformers and steps are positions of one causal pass: no
Python loop over views or steps, no data-dependent control flow (torch.compile-friendly); the loss
terms are computed in float32 even under bf16 autocast.

Ablations (Table 6 of the paper), each changing one thing:
  no_forward     the forward transformer is replaced by one linear read-out ŝ_{t+1} = W z_{t+1} + b.
                 The paper's "no forward model" keeps the inverse model and the covariance term, and
                 the inverse model must still be trained by predicting the next embedding; without
                 a forward model the only route is through its own bottleneck, so the prediction
                 sees s_t only as the inverse model encoded it into z_{t+1}. Same targets, same
                 positions, same cosine loss; the "forward" parameter group holds the read-out.
  no_inverse     no inverse model: the forward model's latent-action input is z = 0 (its shape is
                 unchanged, so it is the full model's forward model with the action input muted).
  no_bottleneck  z is as wide as the encoder's per-view embedding D (only the z width changes).
  no_covariance  the covariance term is left out of the loss (still logged, detached).
  no_stopgrad    the target is the online embedding without stop-gradient (stop-gradient target
                 only; with an EMA target there is no gradient path to ablate, so it is refused).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Literal, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from robolearn.errors import RobolearnError
from robolearn.pretraining import DataInfo, Objective, WindowSpec, register_objective


# ----------------------------------------------------------------------------- causal transformer
class CausalSelfAttention(nn.Module):
    def __init__(self, embed: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.qkv = nn.Linear(embed, 3 * embed)
        self.proj = nn.Linear(embed, embed)
        self.resid_drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, c = x.shape
        q, k, v = self.qkv(x).view(n, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        y = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True
        )
        return self.resid_drop(self.proj(y.transpose(1, 2).reshape(n, t, c)))


class Block(nn.Module):
    """Pre-LayerNorm GPT block (as nanoGPT, which the official DynaMo and VQ-BeT code use)."""

    def __init__(self, embed: int, heads: int, dropout: float):
        super().__init__()
        self.ln1 = nn.LayerNorm(embed)
        self.attn = CausalSelfAttention(embed, heads, dropout)
        self.ln2 = nn.LayerNorm(embed)
        self.mlp = nn.Sequential(
            nn.Linear(embed, 4 * embed), nn.GELU(), nn.Linear(4 * embed, embed), nn.Dropout(dropout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class CausalTransformer(nn.Module):
    """(N, T, in_dim) -> (N, T, out_dim); output t depends on inputs 0..t only. T <= block_size."""

    def __init__(self, in_dim: int, out_dim: int, block_size: int, layers: int, heads: int,
                 embed: int, dropout: float):
        super().__init__()
        if embed % heads:
            raise RobolearnError(f"dynamo: embed ({embed}) must be a multiple of heads ({heads})")
        self.inp = nn.Linear(in_dim, embed)
        self.pos = nn.Parameter(torch.zeros(block_size, embed))
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.Sequential(*[Block(embed, heads, dropout) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(embed)
        self.head = nn.Linear(embed, out_dim)
        # GPT-2 initialization: N(0, 0.02), residual projections scaled by 1/sqrt(2 * layers).
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.pos, std=0.02)
        for name, p in self.named_parameters():
            if name.endswith(("attn.proj.weight", "mlp.2.weight")):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * max(layers, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop(self.inp(x) + self.pos[: x.shape[1]])
        return self.head(self.ln_f(self.blocks(h)))


# ----------------------------------------------------------------------------- loss pieces
def off_diagonal_cov(x: torch.Tensor) -> torch.Tensor:
    """Mean squared off-diagonal entry of the (unbiased) covariance of x (N, D), over D(D-1) entries."""
    xc = x - x.mean(dim=0, keepdim=True)
    cov = xc.t() @ xc / (x.shape[0] - 1)
    off = cov - torch.diag_embed(torch.diagonal(cov))  # masked, not subtracted sums: no cancellation
    d = cov.shape[0]
    return off.square().sum() / (d * (d - 1))


def ema_beta(beta0: float, step: int, total_steps: int) -> float:
    """Cosine schedule from beta0 (step 0) to 1 (last step), as BYOL and the official DynaMo code."""
    progress = min(max(step / max(total_steps, 1), 0.0), 1.0)
    return 1.0 - (1.0 - beta0) * 0.5 * (1.0 + math.cos(math.pi * progress))


DEFAULT_LATENT_DIM = 16


def task_latent_dim(env_id: str) -> int:
    """DynaMo's latent-action width for a task: its env module's DYNAMO_LATENT_DIM, else 16."""
    from robolearn.envs import task_setting  # here, as before: importing the objective loads no env module

    return int(task_setting(env_id, "DYNAMO_LATENT_DIM", DEFAULT_LATENT_DIM))


def photometric_jitter(images: torch.Tensor, strength: float) -> torch.Tensor:
    """uint8 (..., H, W, 3) frames, each with its own brightness and per-channel gain, both drawn from
    U(1 - strength, 1 + strength); no Python loop over frames."""
    lead = images.shape[:-3]
    bright = torch.empty(*lead, 1, 1, 1, device=images.device).uniform_(1 - strength, 1 + strength)
    gain = torch.empty(*lead, 1, 1, 3, device=images.device).uniform_(1 - strength, 1 + strength)
    return (images.float() * bright * gain).clamp(0, 255).round().to(torch.uint8)


# ----------------------------------------------------------------------------- the objective
@dataclass
class DynamoConfig:
    """DynaMo (Cui et al. 2024): latent inverse + forward dynamics on frozen-able encoder output."""

    window: int = 5
    latent_dim: Optional[int] = None
    """Bottleneck dimension of the latent action z. None: the task's setting (`DYNAMO_LATENT_DIM` in its
    env module), which the official configs put near the task's state dimension (Push-T 8, Block Push
    16, LIBERO 32); 16 for data from no registered task."""
    layers: int = 6
    heads: int = 6
    embed: int = 120
    dropout: float = 0.0
    cov_weight: float = 0.04
    target: Literal["stopgrad", "ema"] = "stopgrad"
    ema_beta: float = 0.99
    """Starting EMA decay, scheduled (cosine) toward 1."""
    no_forward: bool = False
    """Ablation: drop the forward model (inverse model + covariance term only)."""
    no_inverse: bool = False
    """Ablation: forward model conditioned on no latent action."""
    no_bottleneck: bool = False
    """Ablation: latent action as wide as the embedding."""
    no_covariance: bool = False
    """Ablation: drop the covariance regularizer."""
    no_stopgrad: bool = False
    """Ablation: gradients flow into the target branch."""
    jitter: float = 0.3
    """Photometric augmentation of training windows, drawn independently for every frame: brightness
    and each colour channel's gain scaled by U(1 - jitter, 1 + jitter); 0 gives the paper's objective
    (no augmentation). A departure, for scenes redrawn per episode (Reach: floor colour, distractors):
    what is constant through an episode is predictable from the context, so the cosine loss pays the
    encoder to spend its embedding on it (benchmarks/results/dynamo_scene); colour that changes frame
    by frame cannot be predicted and stops paying. Cpu suite, 3 seeds (benchmarks/results/
    probe_objectives_item4): Reach probe R² 0.12 at 0.3 (0.11 at 0.2, 0.07 at 0.5) against 0.00 without
    and -0.01 for the random init, on PointMass (a fixed scene) no loss; the embedding's shift under a
    global recolouring falls from 0.33-0.60 to 0.05-0.08 of its variance."""


@register_objective("dynamo")
class Dynamo(Objective):
    Config = DynamoConfig
    # PAPERS.md: AdamW lr 1e-4, weight decay 0, betas (0.9, 0.999), grad-norm clip 0.1 per network.
    optim_defaults = dict(lr=1e-4, weight_decay=0.0, betas=(0.9, 0.999), grad_clip=0.1)
    # lr 1e-4 is tuned for 40 epochs; a few hundred steps need a larger one.
    short_run_optim = dict(lr=3e-4)
    fixed_window = True

    def __init__(self, encoder: nn.Module, cfg, info: DataInfo):
        super().__init__(encoder, cfg, info)
        if cfg.window < 2:
            raise RobolearnError(f"dynamo: window must be >= 2 (one transition), got {cfg.window}")
        if cfg.no_forward and cfg.no_inverse:
            raise RobolearnError("dynamo: no_forward and no_inverse together leave no dynamics model")
        if not 0.0 <= cfg.jitter < 1.0:
            raise RobolearnError(f"dynamo: jitter must be in [0, 1), got {cfg.jitter}")
        if cfg.target not in ("stopgrad", "ema"):
            raise RobolearnError(f"dynamo: unknown target '{cfg.target}' (stopgrad | ema)")
        if cfg.no_stopgrad and cfg.target == "ema":
            raise RobolearnError("dynamo: no_stopgrad ablates the stop-gradient target; "
                                 "an EMA target has no gradient path (use target='stopgrad')")
        d = int(encoder.view_dim)
        self.view_dim = d
        self.latent_dim = d if cfg.no_bottleneck else int(cfg.latent_dim or task_latent_dim(info.env_id))
        tf = dict(block_size=cfg.window, layers=cfg.layers, heads=cfg.heads, embed=cfg.embed,
                  dropout=cfg.dropout)
        self.inverse_model = None if cfg.no_inverse else CausalTransformer(d, self.latent_dim, **tf)
        if cfg.no_forward:
            self.forward_model: nn.Module = nn.Linear(self.latent_dim, d)
        else:
            self.forward_model = CausalTransformer(d + self.latent_dim, d, **tf)
        self.target_encoder = None
        self.beta = float(cfg.ema_beta)
        # The current decay also as a tensor for the metrics: a Python float read inside a compiled
        # loss would be baked in as a constant and recompile the loss at every step.
        self.register_buffer("_beta", torch.tensor(self.beta), persistent=False)
        if cfg.target == "ema":
            # Starts equal to the online encoder; never optimized, only moved by `after_step`.
            self.target_encoder = copy.deepcopy(encoder).requires_grad_(False)

    @classmethod
    def window_spec(cls, cfg) -> WindowSpec:
        # Observation windows only, entirely inside one episode: DynaMo uses no actions.
        return WindowSpec(obs_horizon=cfg.window, action_horizon=1, future=0, pad=False)

    # -------------------------------------------------------------- pieces (public for tests/analysis)
    def target_embeddings(self, images: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """s* for every frame: (B, T, V, D)."""
        if self.target_encoder is not None:
            # As the official code: the EMA target runs in eval mode (BatchNorm on running statistics,
            # which after_step copies from the online encoder; the official code leaves them at their
            # first values), so targets do not depend on the rest of the batch.
            self.target_encoder.eval()
            with torch.no_grad():
                return self.target_encoder.encode_views(images)
        return s if self.cfg.no_stopgrad else s.detach()

    def latent_actions(self, seq: torch.Tensor) -> torch.Tensor:
        """Per-view sequences (N, T, D) -> z (N, T, Z); z_t has seen s_0..s_t."""
        if self.inverse_model is None:
            return seq.new_zeros(*seq.shape[:-1], self.latent_dim)
        return self.inverse_model(seq)

    def predict(self, seq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-view sequences (N, T, D) -> (ŝ_{1..T-1} (N, T-1, D), z (N, T, Z))."""
        z = self.latent_actions(seq)
        if self.cfg.no_forward:
            return self.forward_model(z[:, 1:]), z
        return self.forward_model(torch.cat([seq[:, :-1], z[:, 1:].to(seq.dtype)], dim=-1)), z

    def loss_from_embeddings(self, s: torch.Tensor, s_target: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """The loss given online embeddings s and targets s*, both (B, T, V, D)."""
        d = s.shape[-1]
        seq = rearrange(s, "b t v d -> (b v) t d")  # views as batch entries
        pred, z = self.predict(seq)
        target = rearrange(s_target, "b t v d -> (b v) t d")[:, 1:]
        with torch.autocast(s.device.type, enabled=False):
            # Every (batch, view) sequence has T-1 steps, so one mean is the mean of per-view means.
            cos = F.cosine_similarity(pred.float(), target.float(), dim=-1)
            dynamics = 1.0 - cos.mean()
            flat = s.reshape(-1, d).float()
            if self.cfg.no_covariance:
                cov = off_diagonal_cov(flat.detach())
                loss = dynamics
            else:
                cov = off_diagonal_cov(flat)
                loss = dynamics + self.cfg.cov_weight * cov
        metrics = {
            "dynamics": dynamics.detach(),
            "covariance": cov.detach(),
            "emb_std": flat.detach().std(dim=0).mean(),
            "z_std": z.detach().float().reshape(-1, z.shape[-1]).std(dim=0).mean(),
        }
        if self.target_encoder is not None:
            metrics["ema_beta"] = self._beta.detach().clone()
        return loss, metrics

    def loss(self, batch: dict) -> tuple[torch.Tensor, dict]:
        images = batch["images"]  # uint8 (B, T, V, H, W, 3)
        s = self.encoder.encode_views(images)  # one encoder pass over every frame and view
        return self.loss_from_embeddings(s, self.target_embeddings(images, s))

    def train_loss(self, batch: dict) -> tuple[torch.Tensor, dict]:
        """The loss on jittered windows (`jitter`); `loss` stays the paper's, for validation and the
        reference check. Online and target encoders see the same jittered frames."""
        if self.cfg.jitter <= 0:
            return self.loss(batch)
        return self.loss({**batch, "images": photometric_jitter(batch["images"], self.cfg.jitter)})

    # -------------------------------------------------------------- optimizer hooks
    def param_groups(self) -> list[dict]:
        # DynaMo clips the gradient norm of each network on its own; the trainer clips per group.
        return [
            {"name": "encoder", "params": list(self.encoder.parameters())},
            {"name": "inverse",
             "params": [] if self.inverse_model is None else list(self.inverse_model.parameters())},
            # The official code keeps the forward model's lr constant; encoder and inverse model decay.
            {"name": "forward", "params": list(self.forward_model.parameters()), "schedule": "constant"},
        ]

    @torch.no_grad()
    def after_step(self, step: int, total_steps: int) -> None:
        if self.target_encoder is None:
            return
        self.beta = ema_beta(self.cfg.ema_beta, step, total_steps)
        self._beta.fill_(self.beta)
        tgt = list(self.target_encoder.parameters())
        torch._foreach_lerp_(tgt, [p.detach() for p in self.encoder.parameters()], 1.0 - self.beta)
        # Normalization statistics follow the online encoder exactly (they are not learned).
        buffers = list(self.target_encoder.buffers())
        if buffers:
            torch._foreach_copy_(buffers, list(self.encoder.buffers()))


# ----------------------------------------------------------------------------- reference
def reference_loss(objective: Dynamo, batch: dict) -> torch.Tensor:
    """The DynaMo loss written plainly, in float32: loops over views and steps, every latent action
    and every prediction computed from its own prefix of frames (so causality is by construction,
    not by an attention mask). For checking the fast `Dynamo.loss`."""
    cfg = objective.cfg
    images = batch["images"]
    with torch.autocast(images.device.type, enabled=False):
        s = objective.encoder.encode_views(images).float()  # one pass: batch-norm sees the same batch
        if objective.target_encoder is not None:
            with torch.no_grad():
                s_tgt = objective.target_encoder.encode_views(images).float()
        else:
            s_tgt = s if cfg.no_stopgrad else s.detach()
        b, t_len, v_len, d = s.shape
        per_view = []
        for v in range(v_len):
            # z_{k} from the prefix s_0..s_k, k = 1..T-1
            zs = []
            for k in range(1, t_len):
                if objective.inverse_model is None:
                    zs.append(s.new_zeros(b, objective.latent_dim))
                else:
                    zs.append(objective.inverse_model(s[:, : k + 1, v])[:, -1])
            per_step = []
            for t in range(t_len - 1):
                if cfg.no_forward:
                    pred = objective.forward_model(zs[t])
                else:
                    inp = torch.cat([s[:, : t + 1, v], torch.stack(zs[: t + 1], dim=1)], dim=-1)
                    pred = objective.forward_model(inp)[:, -1]  # ŝ_{t+1}
                tgt = s_tgt[:, t + 1, v]
                cos = (pred * tgt).sum(-1) / (pred.norm(dim=-1) * tgt.norm(dim=-1))
                per_step.append((1.0 - cos).mean())
            per_view.append(torch.stack(per_step).mean())
        dynamics = torch.stack(per_view).mean()
        if cfg.no_covariance:
            return dynamics
        cov = torch.cov(s.reshape(-1, d).t())
        off = cov[~torch.eye(d, dtype=torch.bool, device=cov.device)]
        return dynamics + cfg.cov_weight * off.square().mean()

