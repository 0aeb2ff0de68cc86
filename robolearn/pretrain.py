"""`robolearn pretrain`: train an encoder on demonstrations with one objective.

Writes an encoder run folder: `encoder.safetensors` (the encoder), `objective.safetensors` (its
auxiliary networks, for analysis), `encoder.json` (what the encoder was built for), `config.yaml`,
`normalizer.json`, `metrics.jsonl`, `results.json` (final probe R² and collapse indicators).

Under torchrun every rank trains on its shard of each global batch (robolearn.distributed); rank 0
alone writes the run folder.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from robolearn import __version__
from robolearn import distributed as dist
from robolearn.checkpoint import file_sha256, metrics_mark, run_dir_setup, save_json, save_weights
from robolearn.config import PretrainConfig, resolve_optim, save_config, to_dict
from robolearn.data.normalize import Normalizer
from robolearn.data.store import file_hash, open_store
from robolearn.data.windows import WindowDataset, resolve_cameras
from robolearn.embeddings import embed_demos
from robolearn.encoders import calibrate_batchnorm, make_encoder
from robolearn.errors import RobolearnError
from robolearn.pretraining import DataInfo, get_objective
from robolearn.pretraining.sampler import GpuWindowSampler
from robolearn.probes import collapse_warning, probe_report
from robolearn.tracking import Tracker
from robolearn.trainer import fit, pick_device, seed_everything

PROBE_FRAMES = 5000
"""Frames per split the periodic probe embeds: whole demos, in order, until this many (bounded so
probing stays cheap). A budget in frames, not demos: on short-episode data (Reach, ~10 frames a demo)
40 demos left a ridge over a 64-d embedding ~400 frames, and its R² was mostly overfitting to the
episodes' floor colours (Reach, random init: -0.23 with 40 demos, 0.00 with all 180)."""


def probe_demos(store, split: str) -> list[str]:
    """The split's first demos whose frames add up to PROBE_FRAMES (at least one demo)."""
    out, total = [], 0
    for d in store.demo_names(split):
        if out and total >= PROBE_FRAMES:
            break
        out.append(d)
        total += store.length(d)
    return out


def data_info(store, cameras: list[str]) -> DataInfo:
    demo = store.demo_names(None)[0]
    feats = store.task_features(demo)
    return DataInfo(
        num_views=len(cameras),
        image_size=int(store.image_size),
        action_dim=int(store.action_dim),
        proprio_dim=int(store.proprio_dim),
        feature_dim=0 if feats is None else int(feats.shape[-1]),
        env_id=store.env_id or "",
    )


def probe_frames(encoder, store, cameras, device):
    """Embeddings and task features of a bounded set of train and valid frames."""
    out = {}
    for split in ("train", "valid"):
        demos = probe_demos(store, split)
        if not demos or store.task_features(demos[0]) is None:
            return None
        emb = embed_demos(encoder, store, cameras, demos, device=device, progress=False)
        out[split] = (
            np.concatenate([emb[d] for d in demos]),
            np.concatenate([store.task_features(d) for d in demos]),
            np.concatenate([np.full(len(emb[d]), i) for i, d in enumerate(demos)]),
        )
    return out


CALIBRATION_FRAMES = 2048
"""Training frames whose statistics a frozen BatchNorm encoder's running averages are set from."""


def _calibration_batches(store, cameras, device, seed: int, batch_size: int = 64):
    """Batches of training frames (N, V, H, W, 3), drawn evenly over the training demos."""
    demos = store.demo_names("train")
    rng = np.random.default_rng(seed)
    per_demo = max(1, CALIBRATION_FRAMES // max(len(demos), 1))
    frames, count = [], 0
    for d in demos:
        n = store.length(d)
        idx = np.sort(rng.choice(n, size=min(per_demo, n), replace=False))
        frames.append(store.images(d, cameras, index=idx))
        count += len(idx)
        if count >= CALIBRATION_FRAMES:
            break
    frames = np.concatenate(frames)
    for i in range(0, len(frames), batch_size):
        yield torch.from_numpy(frames[i : i + batch_size]).to(device)


def pretrain(cfg: PretrainConfig) -> Path:
    out = Path(cfg.out)
    store = open_store(cfg.data)  # validates before any folder is touched
    cameras = resolve_cameras(store, cfg.loader.cameras)
    if not cameras:  # e.g. an imported state-only dataset: nothing for an image encoder to see
        raise RobolearnError(f"{cfg.data}: no camera images (a low-dimensional dataset); an encoder needs images")
    objective_cls = get_objective(cfg.objective)
    device = pick_device(cfg.optim.device)  # under torchrun: joins the process group
    main = dist.is_main()
    with run_dir_setup(out, cfg.overwrite, "encoder.json") as resume:
        normalizer, info, obj_cfg, objective = _set_up(cfg, out, store, cameras, objective_cls, device, main)

    # A rerun after a kill drops the rows the killed attempt logged after its last checkpoint.
    tracker = Tracker(out, cfg, job="pretrain", mode=cfg.wandb, project=cfg.project, rewind_to=metrics_mark(out))
    try:
        validate = _probe_validator(objective, store, cameras, device, main)
        final: dict = {}
        if objective_cls.trains:
            loader = _training_loader(cfg, objective_cls, objective, obj_cfg, store, cameras, normalizer, device)
            if resume and main:
                print(f"resuming the interrupted run in {out}")
            final = fit(objective, loader, cfg.optim, out, tracker, validate=validate,
                        desc=f"pretrain {cfg.objective}", device=device)
        else:
            if dist.has_batchnorm(objective.encoder):
                calibrate_batchnorm(objective.encoder, _calibration_batches(store, cameras, device, cfg.optim.seed))
            objective.to(device).eval()
            with torch.no_grad():
                final = validate(0) if main else {}
            tracker.log(final, step=0)
        objective.eval()
        if not main:
            return out  # rank 0 writes the encoder
        _write_encoder(cfg, out, store, cameras, info, obj_cfg, objective, final, tracker)
    finally:
        tracker.finish()
        store.close()
    return out


def _set_up(cfg: PretrainConfig, out: Path, store, cameras, objective_cls, device, main: bool):
    """The run folder's config and normalizer, and the objective with its encoder (seeded by
    --optim.seed): (normalizer, data info, objective config, objective)."""
    seed_everything(cfg.optim.seed)
    cfg.optim = resolve_optim(cfg.optim, objective_cls.optim_defaults)
    if main:
        save_config(cfg, out / "config.yaml")  # with the optimizer settings actually used

    normalizer = Normalizer.from_store(store, split="train")
    if main:
        normalizer.save(out / "normalizer.json")
    info = data_info(store, cameras)
    encoder = make_encoder(cfg.encoder, info.num_views, info.image_size)
    obj_cfg = cfg.objective_config()
    objective = objective_cls(encoder, obj_cfg, info).to(device)
    with dist.main_first():  # SIRL draws its queries once (rank 0) and the other ranks read them
        objective.prepare(out, cfg.data, normalizer)
    return normalizer, info, obj_cfg, objective


def _probe_validator(objective, store, cameras, device, main: bool):
    """validate(step): probe R² of the encoder's embeddings and collapse indicators (a warning when
    it has collapsed)."""
    def validate(step: int) -> dict:
        frames = probe_frames(objective.encoder, store, cameras, device)
        if frames is None:
            return {}
        (tx, ty, _), (vx, vy, vep) = frames["train"], frames["valid"]
        report = probe_report(tx, ty, vx, vy, store.feature_names, valid_episodes=vep)
        warning = collapse_warning(report)
        if warning and main:
            tqdm.write(f"warning: step {step}: {warning}")
        return {f"val/{k}": v for k, v in report.items()}

    return validate


def _training_loader(cfg: PretrainConfig, objective_cls, objective, obj_cfg, store, cameras, normalizer, device):
    """The objective's training batches: its own dataset, GPU-gathered windows, or a WindowDataset."""
    dataset = objective.make_dataset(cfg.data, "train", cameras, normalizer, cfg.loader.in_ram)
    spec = objective_cls.window_spec(obj_cfg)
    if dataset is None and cfg.optim.gpu_sampler:
        if device.type != "cuda" or not objective_cls.fixed_window:
            raise RobolearnError("--optim.gpu-sampler needs a CUDA device and a fixed-window objective (dynamo)")
        # Batches of uint8 image windows gathered on the GPU: no DataLoader, no host copies.
        # Under torchrun each rank holds every frame and takes its share of each global batch.
        loader = dataset = GpuWindowSampler.from_store(store, cameras, spec.obs_horizon, "train", device,
                                                       seed=cfg.optim.seed, batch_size=cfg.optim.batch_size)
    if dataset is None:
        dataset = WindowDataset(cfg.data, spec, split="train",
                                cameras=cameras, normalizer=normalizer, in_ram=cfg.loader.in_ram)
    if hasattr(dataset, "__len__") and len(dataset) == 0:
        raise RobolearnError(f"{cfg.data}: no training windows for objective '{cfg.objective}'")
    if not cfg.optim.gpu_sampler:
        # This rank's share of each global batch (batch_size x world size), reshuffled per epoch.
        loader = dist.sharded_loader(dataset, cfg.optim.batch_size, cfg.optim.seed,
                                     workers=cfg.loader.workers, pin_memory=device.type == "cuda")
    return loader


def _write_encoder(cfg: PretrainConfig, out: Path, store, cameras, info, obj_cfg, objective, final: dict,
                   tracker) -> None:
    """Encoder and auxiliary weights, results and encoder.json (last: it marks the run as finished)."""
    save_weights(out / "encoder.safetensors", {"encoder": objective.encoder})
    aux = {n: m for n, m in objective.named_children() if n != "encoder"}
    if aux:
        save_weights(out / "objective.safetensors", aux)
    results = {k: v for k, v in final.items() if k.startswith("val/") or k == "loss"}
    results["objective"] = cfg.objective
    results["uses_privileged_labels"] = bool(objective.uses_privileged_labels)
    results.update(objective.results())
    save_json(out / "results.json", results)
    meta = {
        "encoder": to_dict(cfg.encoder), "num_views": info.num_views, "image_size": info.image_size,
        "cameras": cameras, "embed_dim": objective.encoder.embed_dim, "objective": cfg.objective,
        "objective_config": to_dict(obj_cfg),
        "env_id": store.env_id, "env_kwargs": store.env_kwargs, "data": str(cfg.data),
        "data_hash": file_hash(cfg.data), "weights_hash": file_sha256(out / "encoder.safetensors"),
        "robolearn_version": __version__,
    }
    save_json(out / "encoder.json", meta)  # written last: marks the run as finished
    tracker.summary(results)
    tracker.log_artifact(f"encoder-{out.name}", "encoder",
                         [out / "encoder.safetensors", out / "encoder.json", out / "normalizer.json",
                          out / "queries.json"])  # SIRL's queries and answers, for audit (skipped if absent)
