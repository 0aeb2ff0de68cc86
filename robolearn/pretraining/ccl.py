"""Counter-current learning (Kao & Hariharan, NeurIPS 2024): a forward net and a feedback net that
runs the mirror image from the target downward, each layer pair trained by its own local loss.

Networks (widths d_0 = encoder.embed_dim, d_1..d_n = cfg.hidden, d_{n+1} = K = T_a x A, the
flattened action chunk; sigma = ELU, as in the paper's MLP configs):
  forward   a_0 = encoder(o_t)                        (the encoder is one layer block: image -> d_0)
            a_l = sigma(U_l sg(a_{l-1}))              l = 1..n
            y^  = U_{n+1} sg(a_n)                     linear output: the predicted action chunk
  feedback  b_{n+1} = y                               the target action chunk (normalized)
            b_l = sigma(V_{l+1} sg(b_{l+1}))          l = n..0, V_{l+1}: d_{l+1} -> d_l
sg is stop-gradient: every layer's input is detached, so no gradient crosses a layer boundary.

Layer pairs and what each loss trains:
  pair 0   (a_0, b_0)  encoder output vs. the feedback net's deepest activation -> encoder and V_1
  pair l   (a_l, b_l)  l = 1..n                                               -> U_l and V_{l+1}
  output   MSE(y^, y)                                                          -> U_{n+1}
The feedback net mirrors the forward widths exactly (b_l has width d_l), so every pair compares
equal widths and needs no projection. Weights are not shared (no weight transport). The encoder
left behind is an ordinary encoder: it plugs into every policy head.

Local loss of a pair (a, b), batch size B, each (B, d):
  A = rows of (a - mean_batch(a)) scaled to unit L2 norm; B^ likewise from b
  S_ij = 1 if y_i = y_j else 0              (class labels: classes share 1s; continuous targets:
                                             see `CclConfig.similarity`)
  L = ( |A B^T - S|_F^2 + decorrelation * (|A A^T - S|_F^2 + |B^ B^T - S|_F^2) ) / B
The cross term asks each sample's forward activation to point the same way as its own feedback
activation and away from the other samples' (batch-normalized cross-correlation toward the
identity); the decorrelation terms (weight 0.5, the paper's CNN code) spread the samples within each
net. These are sample-by-sample Gram matrices (B x B). The paper's code runs the feedback net on the
class set (one row per class) and matches the cross term to one-hot labels (B x classes): with
class targets our S gives the same loss up to duplicated columns; continuous targets have no class
set, hence `CclConfig.similarity`. The other reading, d x d feature cross-correlations toward I
(Barlow-twins style), was tried on the digits benchmark:
with class targets the feedback activations have rank <= 9 and the forward features collapsed
(~43% test accuracy against 97% for this definition and for backprop).

Optimizers: one per network (`configure_optimizers`): the forward net (encoder + head) with AdamW
at optim.lr, like every other objective; the feedback net with its own AdamW at cfg.feedback_lr.
The paper uses SGD at lr 1 tuned to its loss scale; AdamW is invariant to that scale, so the
learning rates need no retuning when the loss normalization or the encoder changes. The trainer
clips each parameter group (encoder, head, feedback) on its own, as the paper clips each net.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from robolearn.errors import RobolearnError
from robolearn.trainable import adamw
from robolearn.pretraining import DataInfo, Objective, WindowSpec, register_objective


def same_target(y: torch.Tensor) -> torch.Tensor:
    """(B, ...) targets or (B,) class labels -> (B, B) float, 1 where two rows are equal."""
    flat = y.reshape(len(y), -1)
    return (flat[:, None, :] == flat[None, :, :]).all(-1).float()


def cosine_similarity_targets(y: torch.Tensor) -> torch.Tensor:
    """(B, ...) continuous targets -> (B, B): cosine of the batch-centred targets, negatives set to 0
    (a sample and its opposite are unrelated, as two classes are)."""
    u = _unit_rows(y)
    return (u @ u.T).clamp(min=0.0)


def _unit_rows(x: torch.Tensor) -> torch.Tensor:
    x = x.reshape(len(x), -1).float()
    return F.normalize(x - x.mean(0, keepdim=True), dim=1)


def alignment_loss(a: torch.Tensor, b: torch.Tensor, same: torch.Tensor, decorrelation: float) -> torch.Tensor:
    """The local loss of one layer pair (see the module docstring)."""
    if len(a) < 2:
        raise RobolearnError("CCL's local losses compare samples within a batch: batch size must be >= 2")
    ua, ub = _unit_rows(a), _unit_rows(b)
    n = len(ua)
    cross = (ua @ ub.T - same).pow(2).sum()
    deco = (ua @ ua.T - same).pow(2).sum() + (ub @ ub.T - same).pow(2).sum()
    return (cross + decorrelation * deco) / n


class CounterCurrentNet(nn.Module):
    """A forward MLP U_1..U_{n+1} over widths dims = [d_0, ..., d_{n+1}] (ELU, linear output) and its
    mirrored feedback MLP (module docstring). `feedback_to_input`: also build V_1 (d_1 -> d_0) and
    pair 0, for when a_0 is a learned representation (the encoder's output); for a plain MLP on raw
    inputs (the digits benchmark) a_0 = x has nothing to train and the pairs are 1..n.

    `predict` is the ordinary forward pass (gradients flow through it: backprop trains the same
    module as a baseline); `counter_current` is CCL's pass with every layer input detached.
    """

    def __init__(self, dims: list[int], feedback_to_input: bool = False):
        super().__init__()
        if len(dims) < 2:
            raise RobolearnError(f"a counter-current net needs an input and an output width, got {dims}")
        self.dims = [int(d) for d in dims]
        self.first_pair = 0 if feedback_to_input else 1
        n = len(dims) - 2  # hidden layers
        self.forward_layers = nn.ModuleList(nn.Linear(dims[i], dims[i + 1]) for i in range(n + 1))
        # feedback_layers[l - first_pair] = V_{l+1}: d_{l+1} -> d_l, producing b_l.
        self.feedback_layers = nn.ModuleList(nn.Linear(dims[l + 1], dims[l]) for l in range(self.first_pair, n + 1))

    @property
    def pairs(self) -> list[int]:
        """The layer indices l whose (a_l, b_l) pair has a local loss."""
        return list(range(self.first_pair, len(self.dims) - 1))

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for layer in self.forward_layers[:-1]:
            h = F.elu(layer(h))
        return self.forward_layers[-1](h)

    def forward_activations(self, a0: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """[a_0, ..., a_n] and the prediction, each layer on its detached input."""
        acts = [a0]
        for layer in self.forward_layers[:-1]:
            acts.append(F.elu(layer(acts[-1].detach())))
        return acts, self.forward_layers[-1](acts[-1].detach())

    def feedback_activations(self, target: torch.Tensor) -> dict[int, torch.Tensor]:
        """{l: b_l} for the paired layers, from b_{n+1} = target downward, each on its detached input."""
        b = target.reshape(len(target), -1).float()
        out = {}
        for l in reversed(self.pairs):
            b = F.elu(self.feedback_layers[l - self.first_pair](b.detach()))
            out[l] = b
        return out

    def counter_current(self, a0: torch.Tensor, target: torch.Tensor, same: torch.Tensor | None = None,
                        decorrelation: float = 0.5) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """(prediction, {l: local loss of pair l}). The caller adds the task loss on the prediction
        (it trains only the output layer, whose input is detached)."""
        acts, pred = self.forward_activations(a0)
        sigs = self.feedback_activations(target)
        same = same_target(target) if same is None else same
        return pred, {l: alignment_loss(acts[l], sigs[l], same, decorrelation) for l in self.pairs}


@dataclass
class CclConfig:
    """Counter-current learning (Kao & Hariharan 2024): forward net vs. a mirrored feedback net."""

    hidden: tuple[int, ...] = (256, 256)
    """Widths of the forward action head after the encoder (mirrored in the feedback net)."""
    decorrelation: float = 0.5
    """Weight of the decorrelation terms of each layer pair's loss (0.5 in the paper's code)."""
    feedback_lr: float = 1e-3
    """AdamW learning rate of the feedback network (the forward network uses optim.lr)."""
    chunk: int = 1
    """Action steps the forward head predicts and the feedback net starts from (T_a)."""
    similarity: Literal["cosine", "identity"] = "cosine"
    """S of the local losses for the (continuous) action targets. "identity": S_ij = 1 only where two
    targets are equal, i.e. the identity: every sample its own class, which turns both the cross and
    the decorrelation terms into instance discrimination, and the encoder satisfies them with
    whatever tells frames apart, per-episode floor colour and distractors first. "cosine": S_ij =
    max(0, cos(y_i - mean y, y_j - mean y)) over the batch, the continuous counterpart of "same class":
    samples whose actions point the same way are positives. The paper has class targets only (its
    feedback net runs on the class set); this is our reading for regression. Cpu suite, 3 seeds
    (benchmarks/results/probe_objectives_item4): Reach probe R² -0.14 (identity) -> 0.18 (cosine)
    against -0.01 for the random init."""


@register_objective("ccl")
class Ccl(Objective):
    Config = CclConfig
    optim_defaults = dict(lr=1e-3, weight_decay=1e-4, grad_clip=1.0)
    """Gradient clip 1 per network as in the paper's configs; AdamW instead of its SGD (docstring)."""

    def __init__(self, encoder, cfg, info: DataInfo):
        super().__init__(encoder, cfg, info)
        if cfg.chunk < 1:
            raise RobolearnError(f"ccl.chunk must be >= 1, got {cfg.chunk}")
        if cfg.similarity not in ("cosine", "identity"):
            raise RobolearnError(f"ccl.similarity: unknown '{cfg.similarity}' (cosine | identity)")
        self.net = CounterCurrentNet([encoder.embed_dim, *cfg.hidden, cfg.chunk * info.action_dim],
                                     feedback_to_input=True)

    @classmethod
    def window_spec(cls, cfg) -> WindowSpec:
        # o_t and a_t .. a_{t+T_a-1}; only full chunks, so no padded action enters a target.
        return WindowSpec(obs_horizon=1, action_horizon=cfg.chunk, future=0, pad=False)

    def loss(self, batch: dict):
        a0 = self.encoder(batch["images"][:, -1])  # (B, D)
        target = batch["actions"][:, : self.cfg.chunk].flatten(1).float()
        pred, local = self.net.counter_current(a0, target, self.target_similarity(target),
                                               decorrelation=float(self.cfg.decorrelation))
        mse = F.mse_loss(pred.float(), target)
        local_sum = sum(local.values())
        metrics = {"mse": mse.detach(), "local": local_sum.detach()}
        metrics.update({f"pair{l}": v.detach() for l, v in local.items()})
        return mse + local_sum, metrics

    def target_similarity(self, target: torch.Tensor) -> torch.Tensor:
        """S of the local losses for a batch of flattened action chunks (`CclConfig.similarity`)."""
        if self.cfg.similarity == "cosine":
            return cosine_similarity_targets(target)
        return same_target(target)

    def param_groups(self) -> list[dict]:
        def trainable(m):
            return [p for p in m.parameters() if p.requires_grad]

        return [
            {"name": "encoder", "params": trainable(self.encoder)},
            {"name": "head", "params": trainable(self.net.forward_layers)},
            {"name": "feedback", "params": trainable(self.net.feedback_layers)},
        ]

    def configure_optimizers(self, optim_cfg) -> list[torch.optim.Optimizer]:
        """Forward net (encoder + head): AdamW at optim.lr. Feedback net: AdamW at cfg.feedback_lr."""
        groups = {g["name"]: g for g in self.param_groups()}
        feedback_cfg = dataclasses.replace(optim_cfg, lr=self.cfg.feedback_lr)
        return adamw([groups["encoder"], groups["head"]], optim_cfg) + adamw([groups["feedback"]], feedback_cfg)

