"""VQ-BeT head (Lee et al. 2024): a residual VQ-VAE turns action chunks into a few discrete codes;
a causal GPT over the observation window predicts, per VQ layer, a distribution over codes and a
continuous offset for each code. An action chunk is decode(sum of the chosen code vectors) + the
chosen codes' offsets.

Training happens in two phases. `prepare` fits the action tokenizer (`ResidualVQVAE`) on every
training chunk for `cfg.vq_steps` steps and freezes it; gradient training then fits the GPT and the
two heads against the tokenizer's codes (focal loss) and residuals (L1 offset loss). As the official
code does (and DynaMo's block-push config with it): every position of the observation window is
supervised with its own action chunk (`action_context`: the trainer hands the head the T_o - 1
actions before the window's last step too), and the offset loss is also taken at *sampled* codes,
so the code a rollout samples has an offset trained to land on a demonstrated action (by default
beside the true codes' loss: `offset_codes`).

Export: inference splits into `logits_offsets(emb)` (GPT + heads, plain matmuls) and
`decode(codes, offsets)` (index gathers: the frozen tokenizer's decoder is tabulated per code
combination); sampling between them (`sample_codes`) is an inverse-CDF draw from one uniform per
code layer (`sample_noise`), so `predict_from_noise` is deterministic and traceable as one graph.
"""
from __future__ import annotations

from dataclasses import dataclass

from typing import Literal, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from robolearn.errors import RobolearnError
from robolearn.policies import Head, register_head

COMMIT_MULTIPLIER = 5.0
"""VQ-BeT's tokenizer loss is L1 reconstruction + 5 x the (weighted) commitment loss."""
MAX_DECODE_TABLE = 65536
"""Code combinations (codes ** layers) up to which the frozen decoder is tabulated; above it (a 3 x 64
tokenizer: 262k rows) the table would cost more memory than the MLP costs time, and decoding runs the MLP."""


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float,
               weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Mean focal loss -(1 - p_t)^gamma log p_t over the batch (logits (N, K), target (N,) long;
    `weight` (N,) masks rows out). It down-weights codes the model already gets right, so rare
    codes keep their share of the gradient; gamma = 0 is plain cross-entropy."""
    logp = F.log_softmax(logits.float(), dim=-1).gather(-1, target[:, None]).squeeze(-1)
    loss = -((1.0 - logp.exp()) ** gamma) * logp
    if weight is None:
        return loss.mean()
    return (loss * weight).sum() / weight.sum().clamp(min=1.0)


def mlp(d_in: int, hidden: list[int], d_out: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(d_in, h), nn.ReLU()]
        d_in = h
    layers.append(nn.Linear(d_in, d_out))
    return nn.Sequential(*layers)


# ----------------------------------------------------------------------------- action tokenizer
class ResidualVQ(nn.Module):
    """`layers` codebooks of `codes` vectors each; layer l quantizes what layers < l left over.

    Codebooks are exponential moving averages of the vectors assigned to each code (decay 0.8 as in
    VQ-BeT) rather than trained by gradient, and are only updated when `update=True` (the
    tokenizer's fitting loop), so the head's training mode never moves them.

    Dead codes are reseeded from the current batch's residuals: an EMA code that starts (or drifts)
    away from the data never wins an assignment, so its average never moves and it stays useless
    for good. Putting it on a real residual gives it assignments; without this a 16-code layer on
    a multimodal action set often ends up using two or three codes.
    """

    def __init__(self, layers: int, codes: int, dim: int, decay: float, dead_threshold: float = 1.0):
        super().__init__()
        self.layers, self.codes, self.dim, self.decay = layers, codes, dim, decay
        self.dead_threshold = dead_threshold
        self.register_buffer("codebook", torch.zeros(layers, codes, dim))
        self.register_buffer("cluster_size", torch.zeros(layers, codes))
        self.register_buffer("embed_sum", torch.zeros(layers, codes, dim))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    def nearest(self, layer: int, r: torch.Tensor) -> torch.Tensor:
        cb = self.codebook[layer]
        d = r.pow(2).sum(-1, keepdim=True) - 2 * r @ cb.t() + cb.pow(2).sum(-1)[None]
        return d.argmin(-1)

    @torch.no_grad()
    def _init_from(self, z: torch.Tensor) -> None:
        r = z
        for layer in range(self.layers):
            pick = torch.randint(0, len(r), (self.codes,), device=r.device)
            self.codebook[layer] = r[pick]
            self.embed_sum[layer] = r[pick]
            self.cluster_size[layer] = 1.0
            r = r - self.codebook[layer][self.nearest(layer, r)]
        self.initialized.fill_(True)

    @torch.no_grad()
    def _ema_update(self, layer: int, r: torch.Tensor, idx: torch.Tensor, reseed: bool) -> None:
        onehot = F.one_hot(idx, self.codes).type_as(r)  # (N, K)
        d = self.decay
        self.cluster_size[layer].mul_(d).add_(onehot.sum(0), alpha=1 - d)
        self.embed_sum[layer].mul_(d).add_(onehot.t() @ r, alpha=1 - d)
        n = self.cluster_size[layer].sum()
        eps = 1e-5  # Laplace smoothing: an empty code keeps its vector instead of dividing by 0
        size = (self.cluster_size[layer] + eps) / (n + self.codes * eps) * n
        self.codebook[layer] = self.embed_sum[layer] / size[:, None]
        if reseed:
            dead = self.cluster_size[layer] < self.dead_threshold
            k = int(dead.sum())
            if k:
                pick = torch.randint(0, len(r), (k,), device=r.device)
                self.codebook[layer][dead] = r[pick]
                self.embed_sum[layer][dead] = r[pick]
                self.cluster_size[layer][dead] = 1.0

    def forward(self, z: torch.Tensor, update: bool = False, reseed: bool = False):
        """z (N, dim) -> (quantized (N, dim) with a straight-through gradient, codes (N, layers) long,
        commitment loss summed over layers)."""
        if update and not bool(self.initialized):
            self._init_from(z.detach())
        r, q_sum = z, torch.zeros_like(z)
        codes, commit = [], z.new_zeros(())
        for layer in range(self.layers):
            idx = self.nearest(layer, r.detach())
            q = self.codebook[layer][idx]
            # The encoder commits to the chosen code; the codebook itself learns by EMA, not gradient.
            commit = commit + F.mse_loss(r, q.detach())
            if update:
                self._ema_update(layer, r.detach(), idx, reseed)
            codes.append(idx)
            q_sum = q_sum + q
            r = r - q.detach()
        quantized = z + (q_sum - z).detach()
        return quantized, torch.stack(codes, -1), commit

    @torch.no_grad()
    def assign(self, z: torch.Tensor) -> torch.Tensor:
        """z (N, dim) -> codes (N, layers) long: `forward`'s codes alone, without the quantized vector
        and the commitment loss that only the tokenizer's own fitting uses."""
        r, codes = z, []
        for layer in range(self.layers):
            idx = self.nearest(layer, r)
            codes.append(idx)
            if layer + 1 < self.layers:  # the last layer's residual is never read
                r = r - self.codebook[layer][idx]
        return torch.stack(codes, -1)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (N, layers) long -> sum of the code vectors (N, dim); one gather per layer."""
        out = self.codebook[0][codes[:, 0]]
        for layer in range(1, self.layers):
            out = out + self.codebook[layer][codes[:, layer]]
        return out


class ResidualVQVAE(nn.Module):
    """Action chunk (T, A), flattened -> MLP encoder -> residual VQ -> MLP decoder -> (T, A)."""

    def __init__(self, chunk_dim: int, hidden: int, latent: int, layers: int, codes: int, decay: float):
        super().__init__()
        self.encoder = mlp(chunk_dim, [hidden, hidden], latent)
        self.vq = ResidualVQ(layers, codes, latent, decay)
        self.decoder = mlp(latent, [hidden, hidden], chunk_dim)

    def forward(self, x: torch.Tensor, update: bool = False, reseed: bool = False):
        """x (N, chunk_dim) -> (reconstruction, codes (N, layers), commitment loss)."""
        q, codes, commit = self.vq(self.encoder(x), update=update, reseed=reseed)
        return self.decoder(q), codes, commit

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        # Codes are training targets: nearest-code search in float32 even under bf16 autocast, so
        # the same chunk gets the same code it got when the tokenizer was fitted.
        with torch.autocast(x.device.type, enabled=False):
            return self.vq.assign(self.encoder(x.float()))

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.vq.lookup(codes))


# ----------------------------------------------------------------------------- causal GPT
class Block(nn.Module):
    """Pre-norm transformer block with causal self-attention (SDPA exports to ONNX as matmuls)."""

    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        if d % heads:
            raise RobolearnError(f"vqbet: gpt_embed ({d}) must be divisible by gpt_heads ({heads})")
        self.heads, self.dropout = heads, dropout
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d), nn.Dropout(dropout))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)
        x = x + self.drop(self.proj(a.transpose(1, 2).reshape(b, t, d)))
        return x + self.mlp(self.ln2(x))


class CausalGPT(nn.Module):
    def __init__(self, d_in: int, t_max: int, d: int, layers: int, heads: int, dropout: float):
        super().__init__()
        self.inp = nn.Linear(d_in, d)
        self.pos = nn.Parameter(torch.zeros(1, t_max, d))
        nn.init.normal_(self.pos, std=0.02)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.Sequential(*[Block(d, heads, dropout) for _ in range(layers)])
        self.ln = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor, last: int = 1) -> torch.Tensor:
        """(B, T_o, d_in) -> (B, last, d): the outputs of the last `last` steps (causal: step i has
        seen steps <= i only)."""
        t = x.shape[1]
        h = self.blocks(self.drop(self.inp(x) + self.pos[:, -t:]))
        return self.ln(h[:, -last:])


# ----------------------------------------------------------------------------- the head
@dataclass
class VqbetConfig:
    vq_layers: int = 2
    codes: int = 16
    vq_latent: int = 512
    vq_hidden: int = 128
    vq_decay: float = 0.8
    vq_commit: float = 1.0
    vq_steps: int = 1000
    """Tokenizer fitting steps in `prepare` (then it is frozen)."""
    vq_lr: float = 1e-3
    """Adam learning rate of the tokenizer fit (VQ-BeT's)."""
    vq_batch: int = 512
    """Chunks per tokenizer fitting step."""
    gpt_layers: int = 6
    gpt_heads: int = 6
    gpt_embed: int = 120
    dropout: float = 0.0
    """Official block-push setting (DynaMo's VQ-BeT config; the VQ-BeT repo's GPT default is 0.1)."""
    head_hidden: int = 1024
    focal_gamma: float = 2.0
    primary_weight: float = 5.0
    secondary_weight: float = 0.5
    offset_weight: float = 100.0
    temperature: float = 1.0
    """Softmax temperature of code sampling at inference (training samples at 1, as the official)."""
    greedy: bool = False
    """Argmax for every code layer at inference."""
    secondary: Literal["sample", "argmax"] = "argmax"
    """Code layers after the first at inference: argmax, or sampled (official). Drawn independently
    of the first layer's code, a sampled secondary code adds within-mode noise: on the bimodal toy
    (tests/test_heads_generative.py) the sampled-code action error is 1.45x the true-code error
    with argmax, 1.6-1.75x sampled."""
    offset_codes: Literal["sampled", "true", "both"] = "both"
    """Codes the offset loss decodes at: the mean of the losses at the tokenizer's true codes and at
    codes sampled from the predicted distribution (default), sampled alone (official: the offset a
    rollout adds is trained for the code it samples), or true alone. Sampled alone has no pull
    toward a code's own mode where the window does not show the mode (a code of mode A is scored
    half the time against mode B's action, and L1 is flat in between): on the toy, action error
    0.07 at sampled codes, 0.16 at true codes; true alone leaves the offsets of codes the head
    samples but were not the target untrained (sampled 2.6x true)."""
    every_position: bool = True
    """Supervise every position of the observation window with its own chunk (official); False:
    the last position only."""


@register_head("vqbet")
class VqbetHead(Head):
    Config = VqbetConfig
    # PAPERS.md: AdamW lr 5.5e-5, weight decay 2e-4.
    optim_defaults = dict(lr=5.5e-5, weight_decay=2e-4)
    # The paper's lr is for hundreds of epochs; a short run (`robolearn run`, `bench`) uses 3e-4.
    short_run_optim = dict(lr=3e-4)
    noise_distribution = "uniform"
    default_obs_horizon = 5
    default_pred_horizon = 5
    default_action_horizon = 1

    def __init__(self, emb_dim, action_dim, obs_horizon, pred_horizon, cfg):
        super().__init__(emb_dim, action_dim, obs_horizon, pred_horizon, cfg)
        self.chunk_dim = pred_horizon * action_dim
        self.layers, self.codes = cfg.vq_layers, cfg.codes
        self.tokenizer = ResidualVQVAE(self.chunk_dim, cfg.vq_hidden, cfg.vq_latent, cfg.vq_layers,
                                       cfg.codes, cfg.vq_decay)
        self.gpt = CausalGPT(emb_dim, obs_horizon, cfg.gpt_embed, cfg.gpt_layers, cfg.gpt_heads, cfg.dropout)
        h = cfg.head_hidden
        self.code_head = mlp(cfg.gpt_embed, [h, h], self.layers * self.codes)
        self.offset_head = mlp(cfg.gpt_embed, [h, h], self.layers * self.codes * self.chunk_dim)
        # Saved with the weights so a loaded head knows its tokenizer was fitted; mirrored in a
        # Python bool so inference never branches on a tensor (which graph export cannot trace).
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))
        self._fitted = False
        # The frozen tokenizer's decoded chunk for every code combination, row-major in the codes: a decode
        # is then a gather instead of the decoder MLP on every supervised position, twice a step (true and
        # sampled codes), ~15% of a blockpush-state VQ-BeT step (benchmarks/train_step.py). A function of
        # the saved tokenizer, so not saved itself: rebuilt after fitting and after every load.
        self.register_buffer("decode_table", torch.zeros(0, self.chunk_dim), persistent=False)
        self.register_load_state_dict_post_hook(self._rebuild_decode_table)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        if prefix + "fitted" in state_dict:
            self._fitted = bool(state_dict[prefix + "fitted"])

    @torch.no_grad()
    def _build_decode_table(self) -> None:
        dev = self.fitted.device
        if not self._fitted or self.codes ** self.layers > MAX_DECODE_TABLE:
            self.decode_table = torch.zeros(0, self.chunk_dim, device=dev)
            return
        grid = torch.stack(torch.meshgrid(*[torch.arange(self.codes, device=dev)] * self.layers, indexing="ij"), -1)
        with torch.autocast(dev.type, enabled=False):
            self.decode_table = self.tokenizer.decode_codes(grid.reshape(-1, self.layers))

    def _rebuild_decode_table(self, module, incompatible_keys) -> None:
        self._build_decode_table()

    @property
    def action_context(self) -> int:
        return self.obs_horizon - 1 if self.cfg.every_position else 0

    # ------------------------------------------------------------------ tokenizer
    def prepare(self, emb, actions, pad):
        """Fit the residual VQ-VAE on all training chunks (Adam, `cfg.vq_steps` mini-batches), then
        freeze it. Returns the final reconstruction error and codebook usage."""
        cfg = self.cfg
        # The last position's chunk: every training step is some window's last position.
        actions, pad = actions[:, -self.pred_horizon:], None if pad is None else pad[:, -self.pred_horizon:]
        x = actions.detach().float().flatten(1)
        w = (~pad).float().repeat_interleave(self.action_dim, dim=1) if pad is not None else torch.ones_like(x)
        tok = self.tokenizer
        tok.requires_grad_(True)
        tok.vq.initialized.fill_(False)
        opt = torch.optim.Adam(tok.parameters(), lr=cfg.vq_lr, weight_decay=1e-4)
        bs = min(cfg.vq_batch, len(x))
        # Reseeding stops for the last 10% of steps so the decoder finishes on a stable codebook.
        reseed_until = int(0.9 * cfg.vq_steps)
        recon = commit = torch.zeros(())
        with torch.enable_grad():
            for step in range(cfg.vq_steps):
                i = torch.randint(0, len(x), (bs,), device=x.device)
                out, _, commit = tok(x[i], update=True, reseed=step < reseed_until)
                # Padded steps repeat the episode's last action; they are masked out of the L1 term.
                recon = ((out - x[i]).abs() * w[i]).sum() / w[i].sum().clamp(min=1.0)
                loss = recon + COMMIT_MULTIPLIER * cfg.vq_commit * commit
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        tok.requires_grad_(False)
        tok.eval()
        self.fitted.fill_(True)
        self._fitted = True
        self._build_decode_table()
        with torch.no_grad():
            codes = torch.cat([tok.encode(x[i : i + 4096]) for i in range(0, len(x), 4096)])
            full = torch.cat([tok.decode_codes(codes[i : i + 4096]) for i in range(0, len(x), 4096)])
            l1 = float(((full - x).abs() * w).sum() / w.sum().clamp(min=1.0))
        metrics = {"vq_recon_l1": l1, "vq_commit": float(commit.detach())}
        for layer in range(self.layers):
            metrics[f"vq_codes_used_l{layer}"] = float(codes[:, layer].unique().numel())
        return metrics

    def _check_fitted(self) -> None:
        if not self._fitted:
            raise RobolearnError("vqbet head used before prepare() fitted its action tokenizer")

    def train(self, mode: bool = True):
        super().train(mode)
        self.tokenizer.eval()  # frozen: never in training mode once fitted
        return self

    # ------------------------------------------------------------------ model
    def logits_offsets(self, emb: torch.Tensor, last: int = 1):
        """(B, T_o, D) -> code logits (B * last, layers, codes), offsets (B * last, layers, codes,
        T*A) of the last `last` positions (position-major within each window)."""
        h = self.gpt(emb, last)
        logits = self.code_head(h).view(-1, self.layers, self.codes)
        offsets = self.offset_head(h).view(-1, self.layers, self.codes, self.chunk_dim)
        return logits, offsets

    def decode(self, codes: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """codes (B, layers) long, offsets (B, layers, codes, T*A) -> actions (B, T, A), unclipped:
        decode(sum of code vectors) + the chosen codes' offsets summed over layers."""
        picked = offsets.gather(2, codes[:, :, None, None].expand(-1, -1, 1, self.chunk_dim)).sum((1, 2))
        if len(self.decode_table):
            row = codes[:, 0]
            for layer in range(1, self.layers):
                row = row * self.codes + codes[:, layer]
            decoded = self.decode_table[row]
        else:
            decoded = self.tokenizer.decode_codes(codes)
        return (decoded + picked).view(-1, self.pred_horizon, self.action_dim)

    def sample_codes(self, logits: torch.Tensor, uniform: Optional[torch.Tensor]) -> torch.Tensor:
        """Each layer's code drawn independently from softmax(logits / temperature) by inverse CDF
        with one uniform in [0, 1) per layer (cumsum + compare + count: plain ONNX ops, so a graph
        fed the same uniforms picks the same codes); argmax when greedy, and for the layers after
        the first when `secondary` is argmax.
        (B, layers, codes), (B, layers) -> (B, layers) long."""
        if self.cfg.greedy or self.cfg.temperature <= 0 or uniform is None:
            return logits.argmax(-1)
        cdf = torch.softmax(logits.float() / self.cfg.temperature, -1).cumsum(-1)
        # The first code whose CDF exceeds u; the clamp covers a float CDF that ends just below 1.
        codes = (cdf <= uniform[..., None]).sum(-1).clamp(max=self.codes - 1)
        if self.cfg.secondary == "argmax" and self.layers > 1:
            codes = torch.cat([codes[:, :1], logits[:, 1:].argmax(-1)], 1)
        return codes

    def _positions(self, actions, pad):
        """The supervised positions: (chunks (B*K, T, A), pad (B*K, T), valid (B*K,), K). `actions`
        holds the window's last chunk, or (every_position) the T_o - 1 actions before it too; a
        position whose first action lies before the episode start (padded) is left out."""
        b, t = actions.shape[0], self.pred_horizon
        if pad is None:
            pad = torch.zeros(actions.shape[:2], dtype=torch.bool, device=actions.device)
        k = min(actions.shape[1] - t, self.obs_horizon - 1) + 1
        actions, pad = actions[:, -(k - 1 + t):], pad[:, -(k - 1 + t):]
        chunks = actions.unfold(1, t, 1).permute(0, 1, 3, 2).reshape(b * k, t, self.action_dim)
        cpad = pad.unfold(1, t, 1).reshape(b * k, t)
        # A chunk's first action is never past the episode end, so a padded one lies before the start.
        valid = ~cpad[:, 0]
        return chunks, cpad, valid, k

    def _offset_l1(self, codes, offsets, chunks, cpad, valid) -> torch.Tensor:
        err = (self.decode(codes, offsets) - chunks).abs().mean(-1)  # (N, T)
        w = (~cpad).float() * valid.float()[:, None]
        return (err * w).sum() / w.sum().clamp(min=1.0)

    def loss(self, emb, actions, pad=None):
        self._check_fitted()
        cfg = self.cfg
        chunks, cpad, valid, k = self._positions(actions, pad)
        target = self.tokenizer.encode(chunks.flatten(1).float())  # (B*K, layers), frozen tokenizer
        logits, offsets = self.logits_offsets(emb, k)
        w = valid.float()
        code_losses = [focal_loss(logits[:, layer], target[:, layer], cfg.focal_gamma, w) for layer in range(self.layers)]
        code_loss = cfg.primary_weight * code_losses[0] + cfg.secondary_weight * sum(code_losses[1:], emb.new_zeros(()))
        # The decoded part carries no gradient (frozen tokenizer); the offsets learn the residual.
        with torch.no_grad():
            sampled = torch.multinomial(torch.softmax(logits.float(), -1).flatten(0, 1), 1).view(-1, self.layers)
        at_true = self._offset_l1(target, offsets, chunks, cpad, valid) if cfg.offset_codes != "sampled" else None
        at_sampled = self._offset_l1(sampled, offsets, chunks, cpad, valid) if cfg.offset_codes != "true" else None
        offset_loss = at_sampled if at_true is None else at_true if at_sampled is None else 0.5 * (at_true + at_sampled)
        loss = code_loss + cfg.offset_weight * offset_loss
        with torch.no_grad():
            last = torch.arange(k - 1, len(target), k, device=target.device)  # each window's last position
            acc = (logits[last, 0].argmax(-1) == target[last, 0]).float().mean()
        metrics = {"code_loss": code_loss.detach(), "offset_l1": offset_loss.detach(), "code0_acc": acc}
        return loss, metrics

    def noise_shape(self, batch_size):
        return (batch_size, self.layers)

    def sample_noise(self, batch_size, generator=None, device=None):
        return torch.rand(self.noise_shape(batch_size), generator=generator, device=device)

    def predict_from_noise(self, emb, noise):
        self._check_fitted()
        logits, offsets = self.logits_offsets(emb)
        return self.decode(self.sample_codes(logits, noise), offsets).clamp(-1.0, 1.0)

    def param_groups(self):
        # The tokenizer is frozen after prepare(); select by module, not by requires_grad, so this
        # holds even if called before prepare().
        mods = (self.gpt, self.code_head, self.offset_head)
        return [{"name": "head", "params": [p for m in mods for p in m.parameters()]}]

