"""`robolearn train`: a policy head on one of three kinds of observation features.

- a frozen encoder (`--encoder runs/enc`): the head trains on cached embeddings, standardized with
  the training split's statistics (saved with the policy);
- the privileged state (`--encoder state`): no images; the head reads the task's `state`
  observation (object poses, goals) beside proprio. The ceiling of imitation on these demos;
- end to end (`--encoder scratch`, or `--encoder runs/enc --finetune`): encoder and head trained
  together with the head's loss and random-shift augmentation, as diffusion_policy, robomimic and
  LeRobot train.

Writes a policy run folder: `model.safetensors` (features.* and head.*), `head.json` (the head's
type and its own config), `policy.json` (what the policy consumes and produces, the head's config
again for readers of format 2), `normalizer.json`, `config.yaml`,
`metrics.jsonl`, `results.json`. Under torchrun every rank trains on its shard of each global batch
(robolearn.distributed); rank 0 alone writes.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch.utils.data import TensorDataset

from robolearn import __version__
from robolearn import distributed as dist
from robolearn.checkpoint import file_sha256, metrics_mark, run_dir_setup, save_json, save_weights
from robolearn.config import TrainConfig, resolve_optim, save_config, to_dict
from robolearn.data.normalize import Normalizer
from robolearn.data.store import _attr_str, file_hash, open_store
from robolearn.data.windows import WindowDataset, WindowSpec
from robolearn.embeddings import cached_embeddings, embed_demos
from robolearn.encoders import load_encoder, make_encoder, random_shift
from robolearn.errors import RobolearnError
from robolearn.policies import get_head, save_head_config
from robolearn.policies.features import StepFeatures
from robolearn.tracking import Tracker
from robolearn.trainable import Trainable
from robolearn.trainer import fit, pick_device, seed_everything

POLICY_FORMAT = 2
"""policy.json format: 2 = weights under features.* (encoder + statistics) and head.*, head config inside."""
STATE = "state"
SCRATCH = "scratch"


def feature_windows(feats: dict[str, np.ndarray], actions: dict[str, np.ndarray], demos, obs_horizon, pred_horizon,
                    past: int = 0):
    """Windows over per-step features: (N, T_o, D) context, (N, past + T, A) normalized actions
    (`past` before the last step, then its chunk), (N, past + T) pad mask. The context before an
    episode's start repeats its first step, and the chunk past its end repeats the last action
    (masked), as the image windows do; actions before the start are masked too."""
    xs, ys, pads = [], [], []
    for d in demos:
        f, acts = feats[d], actions[d]
        n = len(f)
        t = np.arange(n)
        ctx = np.clip(t[:, None] + np.arange(-obs_horizon + 1, 1)[None], 0, n - 1)
        raw = t[:, None] + np.arange(-past, pred_horizon)[None]
        xs.append(f[ctx])
        ys.append(acts[np.clip(raw, 0, n - 1)])
        pads.append((raw > n - 1) | (raw < 0))
    as_t = lambda a, dt: torch.from_numpy(np.concatenate(a).astype(dt))  # noqa: E731
    return as_t(xs, np.float32), as_t(ys, np.float32), torch.from_numpy(np.concatenate(pads))


class EndToEnd(Trainable):
    """Encoder and head trained together on image windows with the head's loss.

    Random-shift augmentation (DrQ; diffusion_policy's random crop) with one offset per sample and
    view, shared by the T_o context frames so the history stays consistent."""

    def __init__(self, features: StepFeatures, head, shift_pad: int):
        super().__init__()
        self.features, self.head, self.shift_pad = features, head, int(shift_pad)

    def _augment(self, images: torch.Tensor) -> torch.Tensor:
        if not self.training or self.shift_pad <= 0:
            return images
        b, t, v, h, w, c = images.shape
        x = images.permute(0, 2, 3, 4, 1, 5).reshape(b * v, h, w, t * c)
        x = random_shift(x, self.shift_pad)
        return x.reshape(b, v, h, w, t, c).permute(0, 4, 1, 2, 3, 5)

    def train_loss(self, batch):
        lowdim = {k: batch[k] for k in self.features.lowdim_keys}
        feats = self.features(self._augment(batch["images"]), lowdim)  # (B, T_o, D)
        return self.head.loss(feats, batch["actions"], batch["action_pad"])

    def param_groups(self):
        enc = [p for p in self.features.parameters() if p.requires_grad]
        return [{"name": "encoder", "params": enc}, *self.head.param_groups()]

    def after_step(self, step, total):
        self.head.after_step(step, total)


class FeatureNoise(Trainable):
    """A head trained on frozen features with Gaussian noise (std `sigma`, in standardized units) added
    to the image part of every training window; validation and the policy run on clean features.

    Why: a head fitted on a few demonstrations' embeddings is only ever shown the demonstrated states;
    in closed loop small errors take it a little off them, and a head that reacts sharply to small
    embedding changes compounds them. Noise on the inputs (Tikhonov regularization) smooths it there,
    much as DART's action noise widens the states the expert's demonstrations cover.
    (benchmarks/results/lift_fewshot_cpu/feature_noise/README.md)."""

    def __init__(self, head, sigma: float, image_dim: int):
        super().__init__()
        self.head, self.sigma, self.image_dim = head, float(sigma), int(image_dim)

    def train_loss(self, batch):
        emb, actions, pad = batch
        if self.training and self.sigma > 0 and self.image_dim > 0:
            noise = torch.zeros_like(emb)
            noise[..., : self.image_dim] = torch.randn_like(emb[..., : self.image_dim]) * self.sigma
            emb = emb + noise
        return self.head.loss(emb, actions, pad)

    def param_groups(self):
        return self.head.param_groups()

    def configure_optimizers(self, optim_cfg):
        return self.head.configure_optimizers(optim_cfg)

    def after_step(self, step, total):
        self.head.after_step(step, total)


DEFAULT_TRAIN_STEPS = 3000
"""`robolearn train`'s gradient steps where neither the user nor the task sets them."""


def task_train_steps(env_id: str, head: str, e2e: bool) -> int:
    """The task's own training budget for a head on frozen features (`HEAD_STEPS` in its module), else
    DEFAULT_TRAIN_STEPS; end to end always the latter (a budget sized for frozen features would run hours)."""
    from robolearn.envs import task_setting

    steps = None if e2e else task_setting(env_id, "HEAD_STEPS", {}).get(head)
    return int(steps or DEFAULT_TRAIN_STEPS)


def task_horizons(env_id: str, head: str) -> tuple:
    """The task's own (T_o, T, T_a) preset for a head (`HEAD_HORIZONS` in its module), or ()."""
    from robolearn.envs import task_setting

    return tuple(task_setting(env_id, "HEAD_HORIZONS", {}).get(head, ()))


def horizons(cfg: TrainConfig, head_cls, preset: tuple = ()) -> tuple[int, int, int]:
    """Flags first, then the task's preset (e.g. VQ-BeT on BlockPush: 3, 1, 1), then the head's defaults."""
    p_o, p_t, p_a = (tuple(preset) + (None, None, None))[:3]
    t_o = cfg.obs_horizon or p_o or head_cls.default_obs_horizon
    t = cfg.pred_horizon or p_t or head_cls.default_pred_horizon
    t_a = cfg.action_horizon or min(p_a or head_cls.default_action_horizon, t)
    if min(t_o, t, t_a) < 1 or t_a > t:
        raise RobolearnError(f"horizons must satisfy 1 <= T_a <= T and T_o >= 1 (got T_o={t_o}, T={t}, T_a={t_a})")
    return t_o, t, t_a


@torch.no_grad()
def valid_metrics(head, x, y, pad, generator_seed: int = 0, past: int = 0) -> dict:
    if len(x) == 0:
        return {}
    y, pad = y[:, past:], pad[:, past:]  # the chunk the policy executes
    g = torch.Generator(device=x.device).manual_seed(generator_seed)
    pred = torch.cat([head.predict(x[i : i + 1024], generator=g) for i in range(0, len(x), 1024)])
    w = (~pad).float()[..., None]
    mse = float(((pred - y) ** 2 * w).sum() / (w.sum() * y.shape[-1]).clamp(min=1))
    first = float(((pred[:, 0] - y[:, 0]) ** 2).mean())
    return {"val/action_mse": mse, "val/first_action_mse": first}


@torch.no_grad()
def demo_features(features: StepFeatures, store, demos, cameras, raw_emb: Optional[dict] = None,
                  device=None) -> dict[str, np.ndarray]:
    """Per-demo (T, D) features exactly as the policy computes them at run time."""
    features.eval()
    if features.encoder is not None and raw_emb is None:
        raw_emb = embed_demos(features.encoder, store, cameras, demos, device=device, progress=False)
    out = {}
    for d in demos:
        parts = []
        if features.encoder is not None:
            parts.append(features.standardize(torch.from_numpy(raw_emb[d]).to(device)))
        for k in features.lowdim_keys:
            parts.append(features.normalize_lowdim(k, torch.from_numpy(store.obs(d, k).astype(np.float32)).to(device)))
        out[d] = torch.cat(parts, -1).cpu().numpy() if parts else np.zeros((store.length(d), 0), np.float32)
    return out


def _imported_hint(store, what: str) -> str:
    """What to do about a missing observation (`what`: "lowdim" or "images"); an imported store's
    user cannot record again, so the advice names the importer's options."""
    source = str(store.h5["data"].attrs.get("source", ""))
    if source.startswith("lerobot"):
        return ("import it again mapping its column, e.g. `--map joints=observation.state`" if what == "lowdim" else
                "import it again with its cameras (`--cameras NAME ...`, or `--map image=observation.images.image`)")
    if source.startswith("robomimic"):
        return f"import it again with {'--proprio-keys / --state-keys' if what == 'lowdim' else '--cameras'}"
    return "record demonstrations that have it (`robolearn collect`), or import them (`robolearn import`)"


def lowdim_dims(cfg: TrainConfig, store, kind: str) -> dict[str, int]:
    """Low-dimensional inputs: for `state`, the privileged `state` where a simulator recorded it and
    proprio beside it (--use-proprio), or proprio alone in a recording without `state` (imported, or
    naming no task: a real robot's joints are all it has); beside images, proprio when --use-proprio."""
    have = set(store.lowdim_keys)
    if kind == STATE:
        imported = "source" in store.h5["data"].attrs
        if STATE not in have and store.env_id and not imported:
            # Collected here for a simulated task: its ceiling is the privileged state, not proprio.
            raise RobolearnError(f"{cfg.data}: no 'state' observation (it was recorded before tasks had a privileged "
                                 "`state` observation; collect it again)")
        keys = ([STATE] if STATE in have else []) + (["proprio"] if "proprio" in have and
                                                      (cfg.use_proprio or STATE not in have) else [])
        if not keys:
            raise RobolearnError(f"{cfg.data}: neither a 'state' nor a 'proprio' observation to train `--encoder state` "
                                 f"on (obs keys: {', '.join(store.obs_keys)}); {_imported_hint(store, 'lowdim')}")
    else:
        keys = ["proprio"] if cfg.use_proprio else []
        if cfg.use_proprio and "proprio" not in have:
            raise RobolearnError(f"{cfg.data}: no 'proprio' observation (pass --no-use-proprio to train on images alone)")
    return {k: int(np.prod(store.obs(store.demo_names(None)[0], k, slice(0, 1)).shape[1:])) for k in keys}


def build_features(cfg: TrainConfig, store, device) -> tuple[str, StepFeatures, dict]:
    """(kind, features module, encoder meta) for the --encoder argument."""
    enc = str(cfg.encoder)
    if enc == STATE:
        if cfg.finetune:
            raise RobolearnError("--finetune needs an encoder to fine-tune, not `state`")
        meta = {"encoder": None, "objective": STATE, "cameras": [], "image_size": 0, "embed_dim": 0}
        return STATE, StepFeatures(None, lowdim_dims(cfg, store, STATE)), meta
    if not store.cameras:
        raise RobolearnError(f"{cfg.data}: no camera images for --encoder {enc}; train `--encoder state` on its "
                             f"low-dimensional observations, or {_imported_hint(store, 'images')}")
    if enc == SCRATCH:
        cameras = list(cfg.cameras or store.cameras)
        encoder = make_encoder(cfg.scratch_encoder, len(cameras), int(store.image_size))
        meta = {"encoder": to_dict(cfg.scratch_encoder), "objective": SCRATCH, "cameras": cameras,
                "image_size": int(store.image_size), "embed_dim": encoder.embed_dim}
        kind = SCRATCH
    else:
        encoder, meta = load_encoder(Path(enc), device)
        meta = dict(meta)
        kind = "finetune" if cfg.finetune else "frozen"
    missing = [c for c in meta["cameras"] if c not in store.cameras]
    if missing:
        raise RobolearnError(f"{cfg.data}: the encoder needs camera(s) {', '.join(missing)}, the file has {', '.join(store.cameras)}")
    if int(store.image_size) != int(meta["image_size"]):
        raise RobolearnError(f"{cfg.data}: images are {store.image_size} px, the encoder was trained on {meta['image_size']} px")
    return kind, StepFeatures(encoder, lowdim_dims(cfg, store, kind)), meta


def action_bounds(store, normalizer) -> dict:
    """Where the policy's actions are clipped: a simulated task's action space [-1, 1]; for a
    recording without a task (a real robot's joint targets, in its own units), the range its
    training actions span: the policy never commands beyond what the demonstrations did."""
    if store.env_id:
        return {"action_low": [-1.0] * store.action_dim, "action_high": [1.0] * store.action_dim}
    st = normalizer.stats("actions")
    return {"action_low": [float(x) for x in st["min"]], "action_high": [float(x) for x in st["max"]]}


def dataset_meta(store) -> dict:
    """What the data says about the robot: its type and control rate, and, for each observation and
    action key, the LeRobot feature and per-dimension names it came from (the bundle repeats them
    so that a robot's software can check what it sends)."""
    attrs = store.h5["data"].attrs
    return {"robot_type": _attr_str(attrs.get("robot_type")),
            "fps": float(attrs["fps"]) if "fps" in attrs else None,
            "source": _attr_str(attrs.get("source")),
            "features": json.loads(_attr_str(attrs["lerobot_features"])) if "lerobot_features" in attrs else {},
            "synthesized": json.loads(_attr_str(attrs["synthesized"])) if "synthesized" in attrs else []}


def train(cfg: TrainConfig) -> Path:
    out = Path(cfg.out)
    store = open_store(cfg.data)
    try:
        return _train(cfg, out, store)
    finally:
        store.close()


@dataclass
class _Run:
    """One `train` run: the models built before its folder, then (_set_up_data) the training windows."""
    cfg: TrainConfig
    out: Path
    store: object
    device: torch.device
    kind: str
    features: StepFeatures
    enc_meta: dict
    head: object
    emb_dim: int
    t_o: int
    t_pred: int
    t_a: int
    normalizer: Optional[Normalizer] = None
    cameras: list = field(default_factory=list)
    data_hash: str = ""
    train_demos: list = field(default_factory=list)
    valid_demos: list = field(default_factory=list)
    actions: dict = field(default_factory=dict)
    raw: Optional[dict] = None
    feats: dict = field(default_factory=dict)
    past: int = 0
    windows: tuple = ()  # (x, y, pad) of the training split
    valid: Optional[list] = None  # the validation windows of frozen features, computed once

    @property
    def e2e(self) -> bool:
        return self.kind in (SCRATCH, "finetune")

    def valid_windows(self):
        if not self.valid_demos:
            return None
        f = demo_features(self.features, self.store, self.valid_demos, self.cameras, self.raw,
                          self.device) if self.e2e else self.feats
        return [t.to(self.device) for t in feature_windows(f, self.actions, self.valid_demos, self.t_o, self.t_pred,
                                                           self.past)]

    def validate(self, step):
        v = self.valid_windows() if self.e2e else self.valid
        return {} if v is None else valid_metrics(self.head, *v, past=self.past)


def _train(cfg: TrainConfig, out: Path, store) -> Path:
    head_cls = get_head(cfg.head)
    if not cfg.feature_noise >= 0:
        raise RobolearnError(f"--feature-noise must be >= 0 (a std in standardized units), got {cfg.feature_noise}")
    device = pick_device(cfg.optim.device)
    run = _build_models(cfg, out, store, head_cls, device)
    with run_dir_setup(out, cfg.overwrite, "policy.json"):
        _set_up_data(run, head_cls)

    # A rerun after a kill drops the rows the killed attempt logged after its last checkpoint.
    tracker = Tracker(out, cfg, job="train", mode=cfg.wandb, project=cfg.project, rewind_to=metrics_mark(out))
    try:
        final = _fit_head(run, tracker)
        run.head.eval()
        run.features.eval()
        if not dist.is_main():
            return out  # rank 0 validates and writes the policy
        if "val/action_mse" not in final:  # kNN, or a resumed run with no step left to train
            final.update(run.validate(cfg.optim.steps))
            tracker.log({k: v for k, v in final.items() if k.startswith("val/")})
        _write_policy(run, final, tracker)
    finally:
        tracker.finish()
    return out


def _build_models(cfg: TrainConfig, out: Path, store, head_cls, device) -> _Run:
    """Features and head, before the run folder: a head's own checks (widths, codebook sizes) fail
    before any file."""
    # The encoder (a scratch one is initialized here) and the head each draw their init from the run's
    # seed: a scratch run is reproducible, and a head's init does not depend on which encoder was loaded.
    seed_everything(cfg.optim.seed)
    kind, features, enc_meta = build_features(cfg, store, device)
    e2e = kind in (SCRATCH, "finetune")
    if e2e and not head_cls.trainable:
        raise RobolearnError(f"the {cfg.head} head has no gradient training: use a frozen encoder or `state`")
    t_o, t_pred, t_a = horizons(cfg, head_cls, task_horizons(store.env_id, cfg.head))
    emb_dim = features.dim
    seed_everything(cfg.optim.seed)
    head = head_cls(emb_dim, store.action_dim, t_o, t_pred, cfg.head_config()).to(device)
    return _Run(cfg, out, store, device, kind, features, enc_meta, head, emb_dim, t_o, t_pred, t_a)


def _set_up_data(run: _Run, head_cls) -> None:
    """The run folder's config and normalizer, the features' statistics and the training windows."""
    cfg, out, store, features, device = run.cfg, run.out, run.store, run.features, run.device
    steps = task_train_steps(store.env_id, cfg.head, run.e2e)
    cfg.optim = resolve_optim(cfg.optim, {"steps": steps, **head_cls.optim_defaults})
    normalizer = run.normalizer = Normalizer.from_store(store, split="train")
    if dist.is_main():
        save_config(cfg, out / "config.yaml")
        normalizer.save(out / "normalizer.json")
    features.set_lowdim_stats(normalizer)
    features.to(device)
    cameras = run.cameras = list(run.enc_meta["cameras"])

    run.data_hash = file_hash(cfg.data)
    run.train_demos, run.valid_demos = store.demo_names("train"), store.demo_names("valid")
    train_demos = run.train_demos
    actions = run.actions = {d: normalizer.normalize("actions", store.actions(d)) for d in store.demo_names(None)}
    if run.kind == "frozen":
        features.encoder.requires_grad_(False)
        run.raw = cached_embeddings(features.encoder, run.enc_meta["weights_hash"], store, run.data_hash, cameras,
                                    Path(cfg.encoder) / "embeddings", device=device)
        if cfg.standardize:
            features.set_embedding_stats(np.concatenate([run.raw[d] for d in train_demos]))
    if run.e2e:  # features change while training; the windows here only carry the action chunks
        run.feats = {d: np.zeros((len(actions[d]), 0), np.float32) for d in train_demos}
    else:
        run.feats = demo_features(features, store, store.demo_names(None), cameras, run.raw, device)
    # End to end, the image windows carry the chunk alone: a head then supervises its last position.
    run.past = 0 if run.e2e else run.head.action_context
    run.windows = feature_windows(run.feats, actions, train_demos, run.t_o, run.t_pred, run.past)


def _fit_head(run: _Run, tracker) -> dict:
    """The head's preparation (e.g. a codebook), then its gradient training; the final metrics."""
    cfg, head, features, device = run.cfg, run.head, run.features, run.device
    x, y, pad = run.windows
    prep = head.prepare(x.to(device), y.to(device), pad.to(device))
    if prep:
        tracker.log({f"prepare/{k}": v for k, v in prep.items()}, step=0)
    final: dict = {}
    run.valid = None if run.e2e else run.valid_windows()
    if head.trainable:
        if run.e2e:
            # A window: T_o frames of images and low-dim keys, T actions.
            spec = WindowSpec(obs_horizon=run.t_o, action_horizon=run.t_pred)
            dataset = WindowDataset(cfg.data, spec, split="train", cameras=run.cameras,
                                    normalizer=run.normalizer.subset(["actions"]), in_ram=cfg.loader.in_ram,
                                    with_features=False)
            model = EndToEnd(features, head, cfg.shift_pad)
            desc = f"train {run.kind} {cfg.head}"
        else:
            dataset = TensorDataset(x, y, pad)
            model = FeatureNoise(head, cfg.feature_noise, features.image_dim) if cfg.feature_noise > 0 else head
            desc = f"train {cfg.head}"
        # This rank's share of each global batch (batch_size x world size), reshuffled per epoch.
        loader = dist.sharded_loader(dataset, cfg.optim.batch_size, cfg.optim.seed,
                                     workers=cfg.loader.workers if run.e2e else 0)
        # fit validates (and logs) at its last step, so the final metrics come from there.
        final = fit(model, loader, cfg.optim, run.out, tracker, validate=run.validate, desc=desc, device=device)
    return final


def _write_policy(run: _Run, final: dict, tracker) -> None:
    """Weights, head config, results and policy.json (last: it marks the run as finished)."""
    cfg, out, store, features, kind = run.cfg, run.out, run.store, run.features, run.kind
    save_weights(out / "model.safetensors", {"features": features, "head": run.head})
    save_head_config(out, run.head)
    results = {k: v for k, v in final.items() if k.startswith("val/") or k == "loss"}
    results.update(head=cfg.head, features=kind, train_windows=len(run.windows[0]), valid_windows=sum(
        store.length(d) for d in run.valid_demos))
    save_json(out / "results.json", results)
    enc_meta = run.enc_meta
    meta = {
        "format": POLICY_FORMAT, "head": cfg.head, "head_config": to_dict(cfg.head_config()),
        "features": kind, "encoder": enc_meta["encoder"], "encoder_dir": None if kind in (STATE, SCRATCH) else str(cfg.encoder),
        "objective": enc_meta["objective"], "cameras": run.cameras, "image_size": int(enc_meta["image_size"]),
        "lowdim": {k: int(getattr(features, f"{k}_scale").numel()) for k in features.lowdim_keys},
        "standardized": bool(kind == "frozen" and cfg.standardize),
        "emb_dim": run.emb_dim, "image_emb_dim": features.image_dim, "use_proprio": cfg.use_proprio,
        "action_dim": store.action_dim, "obs_horizon": run.t_o, "pred_horizon": run.t_pred, "action_horizon": run.t_a,
        "env_id": store.env_id, "env_kwargs": store.env_kwargs, "data": str(cfg.data), "data_hash": run.data_hash,
        **action_bounds(store, run.normalizer), "dataset": dataset_meta(store),
        "weights_hash": file_sha256(out / "model.safetensors"), "robolearn_version": __version__,
    }
    save_json(out / "policy.json", meta)  # written last: marks the run as finished
    tracker.summary(results)
    tracker.log_artifact(f"policy-{out.name}", "policy",
                         [out / "model.safetensors", out / "policy.json", out / "normalizer.json", out / "config.yaml"])


__all__ = ["EndToEnd", "FeatureNoise", "SCRATCH", "STATE", "build_features", "feature_windows", "train"]
