"""Configs of the lower layers (data, encoders, optimization) and how every config is (de)serialized.

They sit below the method registries: the data layer and the training loop read them, while the
stage configs that list methods (`robolearn.config`) are built above the registries. No tyro here:
the CLI (`robolearn.cli`) adds its own annotations (positional arguments) where it is built.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

import yaml

WandbMode = Literal["online", "offline", "disabled"]


# ----------------------------------------------------------------------------- data
@dataclass
class CollectConfig:
    """Run a scripted expert and write its demonstrations to an HDF5 store (robomimic layout)."""

    env: str = "robolearn/BlockPush-v0"
    """Registered env id."""
    episodes: int = 100
    """Successful episodes to keep."""
    out: Path = Path("demos.hdf5")
    """Output HDF5 file (written atomically)."""
    seed: int = 0
    """Base seed; episode i uses seed + i (failed episodes are replaced by later seeds)."""
    image_size: int = 64
    """Square image side in pixels."""
    cameras: Optional[list[str]] = None
    """Cameras to record (default: the task's default cameras)."""
    images: bool = True
    """Render and store camera images; --no-images records physics only (proprio, the privileged
    `state`): all a state-ceiling policy reads, and BlockPush collects ~20x faster without rendering."""
    workers: int = 1
    """Collector processes (spawn start method)."""
    horizon: Optional[int] = None
    """Episode step limit (default: the task's)."""
    valid_fraction: float = 0.1
    """Fraction of demos put in mask/valid."""
    overwrite: bool = False
    """Replace an existing output file."""
    max_attempts_factor: float = 2.0
    """Stop after episodes × this many attempts if the expert keeps failing."""
    expert_mode: Optional[int] = None
    """Fix the expert's mode (BlockPush: 0..3 = 2 * first_block + swap) for a unimodal dataset;
    default: drawn per episode."""
    expert_noise: Optional[float] = None
    """DART: std of Gaussian noise added to the executed action (action units, range [-1, 1]); the
    recorded action stays the clean expert action, so demos show recoveries from perturbed states.
    Default: the task's EXPERT_NOISE (BlockPush 0.2), else 0."""


@dataclass
class ImportRobomimicConfig:
    """Import a robomimic HDF5 dataset (robosuite tasks) into a robolearn store."""

    path: Path
    """robomimic HDF5 file (image.hdf5 or low_dim.hdf5 style; `next_obs` is tolerated and dropped)."""
    out: Path = Path("demos.hdf5")
    """Output store (written atomically)."""
    cameras: Optional[list[str]] = None
    """Cameras to keep, by obs key without `_image` (default: all, e.g. agentview robot0_eye_in_hand)."""
    proprio_keys: Optional[list[str]] = None
    """Low-dimensional obs keys concatenated into `proprio` (default: robot0_eef_pos robot0_eef_quat
    robot0_gripper_qpos, robomimic's standard set, those present)."""
    state_keys: Optional[list[str]] = None
    """Low-dimensional obs keys concatenated into the privileged `state` (default: object, if present)."""
    image_size: Optional[int] = None
    """Resize images to this square side in pixels (default: keep their size)."""
    flip_images: bool = False
    """Turn images upside down: for files written in OpenGL's bottom-up convention (robomimic's own
    datasets are the right way up already)."""
    valid_fraction: float = 0.1
    """Held-out fraction, used only when the file has no train/valid filter keys."""
    seed: int = 0
    """Seed of that split."""
    overwrite: bool = False
    """Replace an existing output file."""


@dataclass
class ImportLerobotConfig:
    """Import a LeRobot v3.0 dataset folder (parquet + mp4) into a robolearn store."""

    path: Path
    """LeRobot v3.0 dataset folder (meta/info.json, meta/episodes/, data/, videos/)."""
    out: Path = Path("demos.hdf5")
    """Output store (written atomically)."""
    cameras: Optional[list[str]] = None
    """Cameras to keep, by name after `observation.images.` (default: all); `--cameras none` imports
    no cameras (a low-dimensional store that `train --encoder state` trains on)."""
    drop_bad_cameras: bool = False
    """Import without a camera whose video file is missing or unreadable (a warning names it) instead
    of stopping with an error."""
    map: Optional[list[str]] = None
    """Rename features before import, OLD=NEW with LeRobot's names as NEW, for datasets that name them
    otherwise: e.g. --map actions=action state=observation.state image=observation.images.front."""
    image_size: Optional[int] = None
    """Resize frames to this square side in pixels (default: keep their size)."""
    episodes: Optional[list[int]] = None
    """Episode indices to import (default: all)."""
    env: Optional[str] = None
    """Env id `robolearn eval` should build (default: the one recorded by `export-data`, if any)."""
    valid_fraction: float = 0.1
    """Held-out fraction (a dataset exported by robolearn keeps its own train/valid masks)."""
    seed: int = 0
    """Seed of that split."""
    overwrite: bool = False
    """Replace an existing output file."""


@dataclass
class ExportLerobotConfig:
    """Export a robolearn store as a LeRobot v3.0 dataset folder (parquet + mp4 + meta)."""

    path: Path
    """robolearn demonstration store (HDF5)."""
    out: Path = Path("lerobot_dataset")
    """Output folder (built beside it, then renamed into place)."""
    fps: Optional[float] = None
    """Frames per second (default: the store's, else the env's control rate, else 10)."""
    task: Optional[str] = None
    """Task string of every episode (default: the store's per-episode task, else the env id)."""
    codec: Literal["libx264", "libsvtav1"] = "libx264"
    """Video encoder: libx264 (h264) plays everywhere; libsvtav1 (AV1) is LeRobot's own default."""
    pix_fmt: Literal["yuv420p", "yuv444p"] = "yuv420p"
    """Pixel format: yuv420p is what players expect (even sides only); yuv444p keeps full colour."""
    crf: int = 18
    """Constant rate factor: lower is closer to the source and larger."""
    gop: int = 2
    """Keyframe interval in frames (LeRobot's default 2 keeps random frame access cheap)."""
    data_file_mb: float = 100
    """Start a new data parquet file past this size."""
    video_file_mb: float = 500
    """Start a new mp4 file (per camera) past this size."""
    overwrite: bool = False
    """Replace an existing output folder."""


@dataclass
class DataConfig:
    """Which part of a demonstration store a model reads."""

    cameras: Optional[list[str]] = None
    """Camera keys to use (default: all cameras in the file)."""
    in_ram: bool = False
    """Hold the whole file in RAM (refused when it would not fit): batches are gathered ~13x faster."""
    workers: int = 0
    """DataLoader worker processes; each opens its own h5py handle."""


# ----------------------------------------------------------------------------- encoders
@dataclass
class EncoderConfig:
    name: Literal["conv", "resnet18"] = "conv"
    """conv: the inverse-dynamics paper's 64-d encoder; resnet18: ResNet-18 from scratch, 512-d."""
    norm: Literal["batch", "group"] = "batch"
    """Normalization layers of resnet18."""
    embed_dim: int = 64
    """Output width of the conv encoder (resnet18 is 512)."""
    first_stride: Literal[1, 2] = 2
    """Stride of the conv encoder's first convolution. 2 is the paper's; at 32 px it leaves a 3x3 map for
    the spatial softmax, 1 leaves 10x10 (block positions readable: supervised probe R² 0.78 -> 0.90,
    random init 0.20 -> 0.45 on BlockPush) at ~5x the compute."""


# ----------------------------------------------------------------------------- optimization
@dataclass
class OptimConfig:
    steps: Optional[int] = 2000
    """Gradient steps (`robolearn train`: by default the task's budget for the head where its module sets
    one, e.g. BlockPush 27,000 at batch 256, ~100 epochs of its 1,000 demos; else 3,000)."""
    batch_size: int = 64
    lr: Optional[float] = None
    """Peak learning rate (default: the objective's or head's own, from its paper)."""
    weight_decay: Optional[float] = None
    """AdamW weight decay (default: the objective's or head's own)."""
    betas: Optional[tuple[float, float]] = None
    """AdamW betas (default: the objective's or head's own)."""
    warmup_steps: int = 100
    """Linear warmup, then cosine decay to 0."""
    grad_clip: Optional[float] = None
    """Gradient-norm clip per parameter group (DynaMo: per network); 0 disables (default: the
    objective's or head's own)."""
    checkpoint_every: int = 500
    """Steps between checkpoints (resume continues from the latest)."""
    eval_every: int = 500
    """Steps between validation metrics (probes, losses)."""
    log_every: int = 25
    amp: Literal["auto", "bf16", "off"] = "auto"
    """bf16 autocast: auto = on CUDA only."""
    compile: bool = False
    """torch.compile the loss (GPU)."""
    gpu_sampler: bool = False
    """Hold all training frames on the GPU as uint8 and gather windows there (fixed-window
    objectives such as DynaMo); refused when they do not fit."""
    seed: int = 0
    device: str = "auto"
    """auto: cuda when available, else cpu."""


OPTIM_DEFAULTS = dict(steps=OptimConfig.steps, lr=1e-3, weight_decay=1e-4, betas=(0.9, 0.999), grad_clip=1.0)


def resolve_optim(cfg: OptimConfig, defaults: dict) -> OptimConfig:
    """Fill the optimizer settings the user left unset from a method's own defaults."""
    merged = {**OPTIM_DEFAULTS, **defaults}
    return dataclasses.replace(cfg, **{k: v for k, v in merged.items() if getattr(cfg, k) is None})


# ----------------------------------------------------------------------------- (de)serialization
def to_dict(cfg) -> dict:
    """A dataclass config as plain JSON/YAML types (paths as strings, tuples as lists)."""

    def conv(v):
        if dataclasses.is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, Path):
            return str(v)
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return conv(cfg)


def from_dict(cls, d: dict):
    """Rebuild a config dataclass from `to_dict` output; unknown keys are ignored."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in d:
            continue
        v, t = d[f.name], hints[f.name]
        if dataclasses.is_dataclass(t):
            v = from_dict(t, v)
        elif t is Path or t == Optional[Path]:
            v = None if v is None else Path(v)
        elif typing.get_origin(t) is tuple and v is not None:
            v = tuple(v)
        kwargs[f.name] = v
    return cls(**kwargs)


def save_config(cfg, path: Path) -> None:
    path = Path(path)
    path.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))


def load_config(cls, path: Path):
    return from_dict(cls, yaml.safe_load(Path(path).read_text()))


def config_hash(cfg) -> str:
    return hashlib.sha256(json.dumps(to_dict(cfg), sort_keys=True).encode()).hexdigest()[:12]
