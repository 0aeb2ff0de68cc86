"""`robolearn eval-offline`: a policy judged on recorded episodes, without a simulator or a robot.

The Policy (its step features, head and normalizer) runs on every recorded observation of the
held-out episodes, with the history its training windows had (the first frame repeated before an
episode's start). At each step it predicts a chunk of T actions; we compare

- the executed action: what `Policy.select_action` sends at step t (chunk planned at the last
  multiple of T_a, position t mod T_a, clipped to the policy's bounds), with the recorded a_t;
- each chunk position k: the prediction for a_{t+k} made at step t (open loop, for chunking heads),

beside two baselines that use no observation: the training split's mean action, and repeating the
previous recorded action a_{t-1} (at an episode's first step, where there is none, the training
mean). A policy that does not beat "repeat previous" at position 0 has learned little beyond
smoothness; the chunk positions show how fast open-loop predictions drift.

Errors are mean absolute errors in action units per dimension, and, to combine dimensions measured
in different units (joint degrees, a gripper's percent), each divided by the training actions'
standard deviation and averaged (`nmae`).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch

from robolearn.checkpoint import save_json
from robolearn.data.store import open_store
from robolearn.errors import RobolearnError
from robolearn.policies.policy import Policy

BATCH = 256
BASELINES = ("train_mean", "repeat_previous")


def _check_store(policy: Policy, store, data: Path) -> None:
    if store.action_dim != policy.action_dim:
        raise RobolearnError(f"{data}: actions have {store.action_dim} dimensions, the policy {policy.action_dim}")
    missing = [k for k in [f"{c}_image" for c in policy.cameras] + policy.lowdim_keys if k not in store.obs_keys]
    if missing:
        raise RobolearnError(f"{data}: no '{missing[0]}' observation, which the policy reads "
                             f"(obs keys: {', '.join(store.obs_keys)})")
    if policy.cameras and int(store.image_size) != int(policy.meta["image_size"]):
        raise RobolearnError(f"{data}: images are {store.image_size} px, the policy's {policy.meta['image_size']} px")
    for k in policy.lowdim_keys:
        d = int(np.prod(store.obs(store.demo_names(None)[0], k, slice(0, 1)).shape[1:]))
        if d != int(policy.meta["lowdim"][k]):
            raise RobolearnError(f"{data}: '{k}' has {d} values, the policy reads {policy.meta['lowdim'][k]}")


@torch.no_grad()
def predict_chunks(policy: Policy, store, demo: str, generator: torch.Generator) -> np.ndarray:
    """(n, T, A): the chunk the policy predicts at every step of a recorded episode, in action units,
    clipped to its bounds."""
    n = store.length(demo)
    feats = []
    for i in range(0, n, BATCH):
        sl = slice(i, min(n, i + BATCH))
        obs = {f"{c}_image": store.obs(demo, f"{c}_image", sl) for c in policy.cameras}
        obs.update({k: store.obs(demo, k, sl).reshape(sl.stop - sl.start, -1) for k in policy.lowdim_keys})
        feats.append(policy.step_features(obs))
    f = torch.cat(feats)
    t_o = policy.obs_horizon
    ctx = np.clip(np.arange(n)[:, None] + np.arange(-t_o + 1, 1)[None], 0, n - 1)
    hist = f[torch.as_tensor(ctx, device=f.device)]
    chunks = torch.cat([policy.head.predict(hist[i : i + BATCH], generator=generator) for i in range(0, n, BATCH)])
    chunks = policy.normalizer.unnormalize("actions", chunks.float().cpu().numpy())
    return np.clip(chunks, policy.action_low, policy.action_high).astype(np.float32)


def executed(chunks: np.ndarray, action_horizon: int) -> np.ndarray:
    """(n, A): the actions select_action sends: a chunk planned every T_a steps, executed in order."""
    t = np.arange(len(chunks))
    plan = (t // action_horizon) * action_horizon
    return chunks[plan, t - plan]


def _errors(policy: Policy, store, demos: list[str], generator) -> dict:
    """Absolute errors of the policy and both baselines: executed (N, A), and per chunk position k a
    list of (N_k, A) arrays."""
    mean = policy.normalizer.stats("actions")["mean"].astype(np.float32)
    t_pred = policy.pred_horizon
    out = {w: {"executed": [], "position": [[] for _ in range(t_pred)]} for w in ("policy", *BASELINES)}
    for d in demos:
        acts = store.actions(d).astype(np.float32)
        n = len(acts)
        chunks = predict_chunks(policy, store, d, generator)
        prev = np.concatenate([mean[None], acts[:-1]])  # a_{t-1}; the training mean where there is none
        preds = {"policy": executed(chunks, policy.action_horizon), "train_mean": np.broadcast_to(mean, acts.shape),
                 "repeat_previous": prev}
        for w, p in preds.items():
            out[w]["executed"].append(np.abs(p - acts))
        for k in range(min(t_pred, n)):
            target = acts[k:]
            per = {"policy": chunks[: n - k, k], "train_mean": np.broadcast_to(mean, target.shape),
                   "repeat_previous": prev[: n - k]}
            for w, p in per.items():
                out[w]["position"][k].append(np.abs(p - target))
    return out


def evaluate_offline(cfg) -> dict:
    run = Path(cfg.policy)
    policy = Policy.load(run, device="cpu")
    data = Path(cfg.data) if cfg.data is not None else Path(policy.meta["data"])
    if not data.exists():
        raise RobolearnError(f"{data}: no such demonstration store (pass --data)")
    out = Path(cfg.out)
    if (out / "results.json").exists() and not cfg.overwrite:
        raise RobolearnError(f"{out} already holds results; pass --overwrite to replace them")
    with open_store(data) as store:
        _check_store(policy, store, data)
        demos = store.demo_names(None if cfg.split == "all" else cfg.split)
        if not demos:
            raise RobolearnError(f"{data}: no {cfg.split} episodes (pass --split all to judge on every episode, "
                                 "training ones included)")
        g = torch.Generator().manual_seed(int(cfg.seed))
        err = _errors(policy, store, demos, g)
        frames = sum(store.length(d) for d in demos)
    std = np.maximum(policy.normalizer.stats("actions")["std"], 1e-6)
    names = (((policy.meta.get("dataset") or {}).get("features") or {}).get("actions") or {}).get("names") \
        or [f"action_{i}" for i in range(policy.action_dim)]
    results = {"policy": str(run), "data": str(data), "split": cfg.split, "episodes": len(demos), "frames": frames,
               "head": policy.meta["head"], "pred_horizon": policy.pred_horizon,
               "action_horizon": policy.action_horizon, "action_names": list(names), "executed": {},
               "by_chunk_position": {}}
    for w, e in err.items():
        ex = np.concatenate(e["executed"])
        results["executed"][w] = {"mae": ex.mean(0).tolist(), "rmse": np.sqrt((ex**2).mean(0)).tolist(),
                                  "nmae": float((ex.mean(0) / std).mean())}
        results["by_chunk_position"][w] = [float((np.concatenate(p).mean(0) / std).mean()) for p in e["position"] if p]
    if out.exists() and cfg.overwrite:
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    save_json(out / "results.json", results)
    return results


def format_offline(r: dict) -> str:
    cols = ("policy", *BASELINES)
    head = f"  {'':<20}" + "".join(f"{c:>17}" for c in cols)
    lines = [f"offline evaluation of {r['policy']} on {r['data']} ({r['split']}: {r['episodes']} episodes, "
             f"{r['frames']} frames)",
             "executed action, mean absolute error in action units:", head]
    for i, name in enumerate(r["action_names"]):
        lines.append(f"  {name[:20]:<20}" + "".join(f"{r['executed'][c]['mae'][i]:>17.4g}" for c in cols))
    lines.append(f"  {'all (MAE / std)':<20}" + "".join(f"{r['executed'][c]['nmae']:>17.4g}" for c in cols))
    if r["pred_horizon"] > 1:
        lines += [f"by chunk position (predicted at t for t+k; MAE / train std; T_a = {r['action_horizon']}):",
                  f"  {'k':<20}" + "".join(f"{c:>17}" for c in cols)]
        for k in range(len(r["by_chunk_position"]["policy"])):
            lines.append(f"  {k:<20}" + "".join(f"{r['by_chunk_position'][c][k]:>17.4g}" for c in cols))
    return "\n".join(lines)


__all__ = ["evaluate_offline", "executed", "format_offline", "predict_chunks"]
