"""`robolearn train`: a policy head on the cached embeddings of a frozen encoder.

Writes a policy run folder: `model.safetensors` (encoder.* and head.*), `policy.json` (what the
policy consumes and produces), `normalizer.json`, `config.yaml`, `metrics.jsonl`, `results.json`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

from robolearn import __version__
from robolearn.checkpoint import file_sha256, save_json, save_weights
from robolearn.config import TrainConfig, resolve_optim, save_config
from robolearn.embeddings import cached_embeddings
from robolearn.errors import RobolearnError
from robolearn.policies import get_head
from robolearn.pretrain import load_encoder, prepare_run_dir
from robolearn.tracking import Tracker
from robolearn.trainer import fit, pick_device, seed_everything


def embedding_windows(emb: dict, store, normalizer, demos, obs_horizon, pred_horizon, use_proprio):
    """Windows over per-step features: (N, T_o, D) context, (N, T, A) normalized action chunks,
    (N, T) pad mask. The context before an episode's start repeats its first step, and the chunk
    past its end repeats the last action (masked), as the image windows do."""
    xs, ys, pads = [], [], []
    for d in demos:
        feat = emb[d]
        if use_proprio:
            feat = np.concatenate([feat, normalizer.normalize("proprio", store.obs(d, "proprio"))], -1)
        acts = normalizer.normalize("actions", store.actions(d))
        n = len(feat)
        t = np.arange(n)
        ctx = np.clip(t[:, None] + np.arange(-obs_horizon + 1, 1)[None], 0, n - 1)
        raw = t[:, None] + np.arange(pred_horizon)[None]
        xs.append(feat[ctx])
        ys.append(acts[np.clip(raw, 0, n - 1)])
        pads.append(raw > n - 1)
    as_t = lambda a, dt: torch.from_numpy(np.concatenate(a).astype(dt))  # noqa: E731
    return as_t(xs, np.float32), as_t(ys, np.float32), torch.from_numpy(np.concatenate(pads))


class HeadObjective(nn.Module):
    """Adapts a head to the trainer's `loss(batch)` interface."""

    def __init__(self, head):
        super().__init__()
        self.head = head

    def loss(self, batch):
        emb, actions, pad = batch
        return self.head.loss(emb, actions, pad)

    def param_groups(self):
        return self.head.param_groups()

    def after_step(self, step, total):
        self.head.after_step(step, total)


def horizons(cfg: TrainConfig, head_cls) -> tuple[int, int, int]:
    t_o = cfg.obs_horizon or head_cls.default_obs_horizon
    t = cfg.pred_horizon or head_cls.default_pred_horizon
    t_a = cfg.action_horizon or min(head_cls.default_action_horizon, t)
    if min(t_o, t, t_a) < 1 or t_a > t:
        raise RobolearnError(f"horizons must satisfy 1 <= T_a <= T and T_o >= 1 (got T_o={t_o}, T={t}, T_a={t_a})")
    return t_o, t, t_a


@torch.no_grad()
def valid_metrics(head, x, y, pad, generator_seed: int = 0) -> dict:
    if len(x) == 0:
        return {}
    g = torch.Generator(device=x.device).manual_seed(generator_seed)
    pred = torch.cat([head.predict(x[i : i + 1024], generator=g) for i in range(0, len(x), 1024)])
    w = (~pad).float()[..., None]
    mse = float(((pred - y) ** 2 * w).sum() / (w.sum() * y.shape[-1]).clamp(min=1))
    first = float(((pred[:, 0] - y[:, 0]) ** 2).mean())
    return {"val/action_mse": mse, "val/first_action_mse": first}


def train(cfg: TrainConfig) -> Path:
    from robolearn.data.normalize import Normalizer
    from robolearn.data.store import file_hash, open_store

    out = Path(cfg.out)
    store = open_store(cfg.data)
    head_cls = get_head(cfg.head)
    device = pick_device(cfg.optim.device)
    encoder, enc_meta = load_encoder(cfg.encoder, device)
    cameras = list(enc_meta["cameras"])
    missing = [c for c in cameras if c not in store.cameras]
    if missing:
        raise RobolearnError(f"{cfg.data}: the encoder needs camera(s) {', '.join(missing)}, the file has {', '.join(store.cameras)}")
    if int(store.image_size) != int(enc_meta["image_size"]):
        raise RobolearnError(f"{cfg.data}: images are {store.image_size} px, the encoder was trained on {enc_meta['image_size']} px")
    t_o, t_pred, t_a = horizons(cfg, head_cls)
    prepare_run_dir(out, cfg.overwrite, "policy.json")
    seed_everything(cfg.optim.seed)
    cfg.optim = resolve_optim(cfg.optim, head_cls.optim_defaults)
    save_config(cfg, out / "config.yaml")
    normalizer = Normalizer.from_store(store, split="train")
    normalizer.save(out / "normalizer.json")

    data_hash = file_hash(cfg.data)
    emb = cached_embeddings(encoder, enc_meta["weights_hash"], store, data_hash, cameras,
                            Path(cfg.encoder) / "embeddings", device=device)
    train_demos, valid_demos = store.demo_names("train"), store.demo_names("valid")
    x, y, pad = embedding_windows(emb, store, normalizer, train_demos, t_o, t_pred, cfg.use_proprio)
    vx, vy, vpad = embedding_windows(emb, store, normalizer, valid_demos, t_o, t_pred, cfg.use_proprio) \
        if valid_demos else (x[:0], y[:0], pad[:0])
    emb_dim = x.shape[-1]
    head = head_cls(emb_dim, store.action_dim, t_o, t_pred, getattr(cfg, cfg.head)).to(device)

    tracker = Tracker(out, cfg, job="train", mode=cfg.wandb, project=cfg.project)
    try:
        prep = head.prepare(x.to(device), y.to(device), pad.to(device))
        if prep:
            tracker.log({f"prepare/{k}": v for k, v in prep.items()}, step=0)
        final = {}
        vx_d, vy_d, vpad_d = vx.to(device), vy.to(device), vpad.to(device)
        if head.trainable:
            loader = DataLoader(TensorDataset(x, y, pad), batch_size=cfg.optim.batch_size, shuffle=True,
                                drop_last=len(x) > cfg.optim.batch_size,
                                generator=torch.Generator().manual_seed(cfg.optim.seed))
            # fit validates (and logs) at its last step, so the final metrics come from there.
            final = fit(HeadObjective(head), loader, cfg.optim, out, tracker,
                        validate=lambda step: valid_metrics(head, vx_d, vy_d, vpad_d),
                        desc=f"train {cfg.head}", device=device)
        head.eval()
        if "val/action_mse" not in final:  # kNN, or a resumed run with no step left to train
            final.update(valid_metrics(head, vx_d, vy_d, vpad_d))
            tracker.log({k: v for k, v in final.items() if k.startswith("val/")})

        save_weights(out / "model.safetensors", {"encoder": encoder, "head": head})
        results = {k: v for k, v in final.items() if k.startswith("val/") or k == "loss"}
        results.update(head=cfg.head, train_windows=len(x), valid_windows=len(vx))
        save_json(out / "results.json", results)
        meta = {
            "head": cfg.head, "encoder": enc_meta["encoder"], "encoder_dir": str(cfg.encoder),
            "objective": enc_meta["objective"], "cameras": cameras, "image_size": enc_meta["image_size"],
            "emb_dim": emb_dim, "image_emb_dim": enc_meta["embed_dim"], "use_proprio": cfg.use_proprio,
            "proprio_dim": store.proprio_dim if cfg.use_proprio else 0, "action_dim": store.action_dim,
            "obs_horizon": t_o, "pred_horizon": t_pred, "action_horizon": t_a,
            "env_id": store.env_id, "env_kwargs": store.env_kwargs, "data": str(cfg.data), "data_hash": data_hash,
            "weights_hash": file_sha256(out / "model.safetensors"), "robolearn_version": __version__,
        }
        save_json(out / "policy.json", meta)  # written last: marks the run as finished
        tracker.summary(results)
        tracker.log_artifact(f"policy-{out.name}", "policy",
                             [out / "model.safetensors", out / "policy.json", out / "normalizer.json", out / "config.yaml"])
    finally:
        tracker.finish()
        store.close()
    return out
