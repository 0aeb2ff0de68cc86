"""`Policy`: step features (encoder + statistics) + head + normalizer + history + action-chunk queue.

The one object that evaluation, the report and export use. It is batched over environments
(leading dimension B of every observation array), keeping each environment's history and queue,
so vectorized rollouts run one encoder call and at most one head call per step.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import torch

from robolearn.checkpoint import load_json, load_module
from robolearn.data.normalize import Normalizer
from robolearn.encoders import make_encoder
from robolearn.errors import RobolearnError
from robolearn.policies import load_head_config
from robolearn.policies.features import StepFeatures
from robolearn.settings import EncoderConfig, from_dict

class Policy:
    def __init__(self, features, head, normalizer, meta: dict, device="cpu"):
        self.features = features.to(device).eval()
        self.head = head.to(device).eval()
        self.normalizer = normalizer
        self.meta = meta
        self.device = torch.device(device)
        self.cameras: list[str] = list(meta["cameras"])
        self.lowdim_keys: list[str] = list(features.lowdim_keys)
        self.obs_horizon: int = int(meta["obs_horizon"])
        self.pred_horizon: int = int(meta["pred_horizon"])
        self.action_horizon: int = int(meta["action_horizon"])
        self.use_proprio: bool = "proprio" in self.lowdim_keys
        self.action_dim: int = int(meta["action_dim"])
        self.env_id: str = meta["env_id"]
        self.env_kwargs: dict = dict(meta.get("env_kwargs") or {})
        # Actions are clipped to these (policies trained before they were recorded: the sim's [-1, 1]).
        self.action_low = np.asarray(meta.get("action_low", [-1.0] * self.action_dim), np.float32)
        self.action_high = np.asarray(meta.get("action_high", [1.0] * self.action_dim), np.float32)
        self._hist: Optional[torch.Tensor] = None
        self._queue: Optional[np.ndarray] = None
        self._qpos: Optional[np.ndarray] = None
        self._fresh: Optional[np.ndarray] = None

    @property
    def encoder(self):
        """The visual encoder (None for a privileged-state policy)."""
        return self.features.encoder

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, run_dir, device: str = "cpu") -> "Policy":
        run_dir = Path(run_dir)
        if not (run_dir / "policy.json").exists():
            raise RobolearnError(f"{run_dir}: not a policy run folder (no policy.json; train one with `robolearn train`)")
        meta = load_json(run_dir / "policy.json")
        if int(meta.get("format", 1)) != 2:
            raise RobolearnError(f"{run_dir}: written by an older robolearn (policy format {meta.get('format', 1)}); "
                                 f"train it again with `robolearn train`")
        encoder = None
        if meta["encoder"] is not None:
            encoder = make_encoder(from_dict(EncoderConfig, meta["encoder"]), len(meta["cameras"]), meta["image_size"])
        features = StepFeatures(encoder, {k: int(v) for k, v in meta["lowdim"].items()})
        load_module(features, run_dir / "model.safetensors", "features")
        head_cls, head_cfg = load_head_config(run_dir, meta)
        head = head_cls(meta["emb_dim"], meta["action_dim"], meta["obs_horizon"], meta["pred_horizon"], head_cfg)
        load_module(head, run_dir / "model.safetensors", "head")
        normalizer = Normalizer.load(run_dir / "normalizer.json")
        return cls(features, head, normalizer, meta, device)

    # ------------------------------------------------------------------ features
    def check_obs(self, obs: dict) -> None:
        size = int(self.meta["image_size"])
        for cam in self.cameras:
            key = f"{cam}_image"
            if key not in obs:
                raise RobolearnError(f"observation has no '{key}' (keys: {', '.join(sorted(obs))})")
            x = np.asarray(obs[key])
            if x.dtype != np.uint8 or x.shape[-3:] != (size, size, 3):
                raise RobolearnError(f"'{key}' must be uint8 (..., {size}, {size}, 3), got {x.dtype} {x.shape}")
        for key in self.lowdim_keys:
            if key not in obs:
                raise RobolearnError(f"observation has no '{key}' (keys: {', '.join(sorted(obs))})")

    def _is_single(self, obs: dict) -> bool:
        if self.cameras:
            return np.asarray(obs[f"{self.cameras[0]}_image"]).ndim == 3
        return np.asarray(obs[self.lowdim_keys[0]]).ndim == 1

    @torch.no_grad()
    def step_features(self, obs: dict) -> torch.Tensor:
        """(B, D) per-step features: standardized image embedding, then normalized low-dim keys."""
        images = None
        if self.cameras:
            images = torch.from_numpy(np.stack([np.asarray(obs[f"{c}_image"]) for c in self.cameras], axis=1)).to(self.device)
        lowdim = {k: torch.as_tensor(np.asarray(obs[k], dtype=np.float32), device=self.device) for k in self.lowdim_keys}
        return self.features(images, lowdim)

    # ------------------------------------------------------------------ control
    def reset(self, mask=None) -> None:
        """Forget history and queued actions: all environments, or those where `mask` is True."""
        if self._fresh is None or mask is None:
            self._hist = self._queue = self._qpos = self._fresh = None
            return
        self._fresh[np.asarray(mask, dtype=bool)] = True

    def _init_state(self, b: int, d: int) -> None:
        self._hist = torch.zeros(b, self.obs_horizon, d, device=self.device)
        self._queue = np.zeros((b, self.action_horizon, self.action_dim), np.float32)
        self._qpos = np.full(b, self.action_horizon)
        self._fresh = np.ones(b, dtype=bool)

    @torch.no_grad()
    def select_action(self, obs: dict, generator: Optional[torch.Generator] = None,
                      noise=None) -> np.ndarray:
        """Batched obs (leading dim B) -> (B, A) actions; unbatched obs -> (A,).

        noise: explicit noise for generative heads, (B, *noise_shape) (unbatched: without B); the rows
        of the environments that plan a new chunk this step are used instead of sampling with `generator`
        (the export's parity check feeds the same noise to the ONNX bundle)."""
        self.check_obs(obs)
        single = self._is_single(obs)
        if single:
            obs = {k: np.asarray(v)[None] for k, v in obs.items()}
            if noise is not None:
                noise = torch.as_tensor(noise)[None]
        feats = self.step_features(obs)
        b = feats.shape[0]
        if self._hist is None or self._hist.shape[0] != b:
            self._init_state(b, feats.shape[1])
        fresh = torch.as_tensor(self._fresh, device=self.device)
        rolled = torch.cat([self._hist[:, 1:], feats[:, None]], 1)
        # A new episode's history is its first frame repeated, as the training windows are padded.
        self._hist = torch.where(fresh[:, None, None], feats[:, None].expand_as(self._hist), rolled)
        need = self._fresh | (self._qpos >= self.action_horizon)
        if need.any():
            idx = np.nonzero(need)[0]
            emb = self._hist[torch.as_tensor(idx, device=self.device)]
            if noise is None:
                chunk = self.head.predict(emb, generator=generator)
            else:
                chunk = self.head.predict_from_noise(emb, torch.as_tensor(noise, dtype=torch.float32, device=self.device)[idx])
            chunk = self.normalizer.unnormalize("actions", chunk.float().cpu().numpy())
            self._queue[idx] = chunk[:, : self.action_horizon]
            self._qpos[idx] = 0
        self._fresh[:] = False
        action = self._queue[np.arange(b), self._qpos].copy()
        self._qpos += 1
        action = np.clip(action, self.action_low, self.action_high).astype(np.float32)
        return action[0] if single else action
