"""The parity check: the bundle must act as the torch `Policy` does, step by step over whole
episodes (history, action queue and noise included)."""
from __future__ import annotations

import math

import numpy as np
import torch

from robolearn.runtime import BundlePolicy


def parity_frames(store, demos: list[str], cameras: list[str], lowdim_keys: list[str], frames: int):
    """(demo, step, obs) for whole episodes in order, truncated to `frames` steps in all."""
    left = frames
    for demo in demos:
        if left <= 0:
            return
        n = min(store.length(demo), left)
        left -= n
        imgs = {c: store.obs(demo, f"{c}_image", slice(0, n)) for c in cameras}
        low = {k: store.obs(demo, k, slice(0, n)) for k in lowdim_keys}
        for t in range(n):
            obs = {f"{c}_image": imgs[c][t] for c in cameras}
            obs.update({k: np.asarray(v[t], np.float32) for k, v in low.items()})
            yield demo, t, obs


def check_parity(policy, bundle: BundlePolicy, steps, seed: int = 0) -> dict:
    """Step the torch Policy and the bundle through the same observations with the same noise.

    `steps` yields (episode, step, obs); each new episode resets both. Returns the worst absolute
    action difference and where it happened."""
    rng = np.random.default_rng(seed)
    worst, where, n, episode = -1.0, None, 0, None
    for ep, t, obs in steps:
        if ep != episode:
            policy.reset()
            bundle.reset()
            episode = ep
        noise = None
        if bundle.noise_shape is not None:  # the same draw for both; used only where a step plans a chunk
            draw = rng.standard_normal if bundle.noise_distribution == "normal" else rng.random
            noise = draw(bundle.noise_shape, dtype=np.float32)
        a_torch = policy.select_action(obs, noise=None if noise is None else torch.from_numpy(noise))
        a_bundle = bundle.act(obs, noise=noise)
        err = float(np.abs(np.asarray(a_torch, np.float64) - a_bundle).max())
        err = err if math.isfinite(err) else math.inf
        if err > worst:
            worst, where = err, (ep, t)
        n += 1
    return {"frames": n, "max_abs_error": max(worst, 0.0), "worst_at": list(where) if where else None}
