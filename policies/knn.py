"""kNN head (VINN, Pari et al. 2021): L2 nearest training embeddings, weights softmax(−d),
action = weighted mean of the neighbours' action chunks. No gradient training."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from robolearn.policies import Head, register_head


@dataclass
class KnnConfig:
    k: int = 5


@register_head("knn")
class KnnHead(Head):
    Config = KnnConfig
    trainable = False
    default_obs_horizon = 1
    default_pred_horizon = 1
    default_action_horizon = 1

    def __init__(self, emb_dim, action_dim, obs_horizon, pred_horizon, cfg):
        super().__init__(emb_dim, action_dim, obs_horizon, pred_horizon, cfg)
        self.k = cfg.k
        # Filled by `prepare`; resized on load (their length is the training set's).
        self.register_buffer("keys", torch.zeros(0, emb_dim))
        self.register_buffer("values", torch.zeros(0, pred_horizon, action_dim))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in ("keys", "values"):
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def prepare(self, emb, actions, pad):
        # The current frame's embedding is the key (VINN matches single observations).
        self.keys = emb[:, -1].detach().float().clone()
        self.values = actions.detach().float().clone()
        return {"knn_size": float(len(self.keys))}

    def weights(self, emb: torch.Tensor):
        """(indices (B, k), weights (B, k)) of the nearest training frames."""
        # The exact (non-matmul) distance: the matmul shortcut loses precision near a stored key,
        # where VINN weights matter most, and would differ from the exported graph.
        d = torch.cdist(emb[:, -1].float(), self.keys, compute_mode="donot_use_mm_for_euclid_dist")  # (B, N)
        k = min(self.k, self.keys.shape[0])
        dist, idx = torch.topk(d, k, dim=1, largest=False)
        return idx, torch.softmax(-dist, dim=1)

    def loss(self, emb, actions, pad=None):
        pred = self.predict(emb)
        loss = (pred - actions).pow(2).mean()
        return loss, {"mse": loss.detach()}

    def predict_from_noise(self, emb, noise=None):
        if self.keys.shape[0] == 0:
            raise RuntimeError("kNN head used before prepare()")
        idx, w = self.weights(emb)
        return (self.values[idx] * w[..., None, None]).sum(1)

