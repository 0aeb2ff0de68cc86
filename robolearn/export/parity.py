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
    action difference, the worst relative to each dimension's half-range where that exceeds 1
    (`max_error`: float32 rounding of a robot's joint targets in degrees is ~1e-4 per 100), and
    where it happened. For actions in [-1, 1] (the tasks') the two are the same."""
    st = policy.normalizer.stats("actions")
    per = np.maximum(1.0, (np.asarray(st["max"], np.float64) - np.asarray(st["min"], np.float64)) / 2)
    rng = np.random.default_rng(seed)
    worst, worst_abs, where, n, episode = -1.0, 0.0, None, 0, None
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
        diff = np.abs(np.asarray(a_torch, np.float64) - a_bundle)
        err, abs_err = float((diff / per).max()), float(diff.max())
        err = err if math.isfinite(err) else math.inf
        worst_abs = max(worst_abs, abs_err if math.isfinite(abs_err) else math.inf)
        if err > worst:
            worst, where = err, (ep, t)
        n += 1
    return {"frames": n, "max_error": max(worst, 0.0), "max_abs_error": worst_abs,
            "worst_at": list(where) if where else None}
