"""Typed configs for every stage. The CLI is generated from these dataclasses (tyro).

Each pretraining objective and each policy head has its own config class here, with the defaults
of its paper (../shared/PAPERS.md) scaled where noted for 64 px tasks on a CPU.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

import tyro
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

    path: tyro.conf.Positional[Path]
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

    path: tyro.conf.Positional[Path]
    """LeRobot v3.0 dataset folder (meta/info.json, meta/episodes/, data/, videos/)."""
    out: Path = Path("demos.hdf5")
    """Output store (written atomically)."""
    cameras: Optional[list[str]] = None
    """Cameras to keep, by name after `observation.images.` (default: all)."""
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

    path: tyro.conf.Positional[Path]
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
    """Hold the whole file in RAM (refused when it would not fit)."""
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


# ----------------------------------------------------------------------------- optimization
@dataclass
class OptimConfig:
    steps: int = 2000
    """Gradient steps."""
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


# ----------------------------------------------------------------------------- objectives
@dataclass
class IdmConfig:
    """Inverse dynamics (Brandfonbrener et al. 2023): predict a_t from [phi(o_t), phi(o_{t+k})]."""

    k: int = 1
    """Frame gap."""
    hidden: tuple[int, ...] = (256, 256)
    dropout: float = 0.1
    shift_pad: int = 4
    """Random-shift augmentation pad in pixels (8 px at 84-120 px in the paper; 4 at 64 px)."""
    detach_target: bool = False
    """Stop-gradient through phi(o_{t+k}) (paper default: no)."""


@dataclass
class DynamoConfig:
    """DynaMo (Cui et al. 2024): latent inverse + forward dynamics on frozen-able encoder output."""

    window: int = 5
    latent_dim: int = 16
    """Bottleneck dimension of the latent action z."""
    layers: int = 6
    heads: int = 6
    embed: int = 120
    dropout: float = 0.0
    cov_weight: float = 0.04
    target: Literal["stopgrad", "ema"] = "stopgrad"
    ema_beta: float = 0.99
    """Starting EMA decay, scheduled (cosine) toward 1."""
    no_forward: bool = False
    """Ablation: drop the forward model (inverse model + covariance term only)."""
    no_inverse: bool = False
    """Ablation: forward model conditioned on no latent action."""
    no_bottleneck: bool = False
    """Ablation: latent action as wide as the embedding."""
    no_covariance: bool = False
    """Ablation: drop the covariance regularizer."""
    no_stopgrad: bool = False
    """Ablation: gradients flow into the target branch."""


@dataclass
class SirlConfig:
    """SIRL (Bobu et al. 2023): triplet loss on similarity queries answered by a simulated user."""

    queries: int = 2000
    """Query budget."""
    segment: int = 10
    """Steps per segment (H)."""
    beta: float = 0.0
    """Boltzmann rationality of the simulated user, P(pair) proportional to exp(-beta*d);
    0 (or inf) = noiseless: always the closest pair (the literal beta -> 0 limit, a uniformly random
    user, would teach nothing)."""
    margin: float = 1.0
    query_seed: int = 0
    frames: int = 5
    """Frames per segment the encoder sees (evenly spaced, first and last included); the simulated
    user judges all `segment` steps."""


@dataclass
class CclConfig:
    """Counter-current learning (Kao & Hariharan 2024): forward net vs. a mirrored feedback net."""

    hidden: tuple[int, ...] = (256, 256)
    """Widths of the forward action head after the encoder (mirrored in the feedback net)."""
    decorrelation: float = 0.5
    """Weight of the decorrelation terms of each layer pair's loss (0.5 in the paper's code)."""
    feedback_lr: float = 1e-3
    """AdamW learning rate of the feedback network (the forward network uses optim.lr)."""
    chunk: int = 1
    """Action steps the forward head predicts and the feedback net starts from (T_a)."""


@dataclass
class PretrainConfig:
    """Pretrain an encoder on demonstrations with one objective; writes an encoder checkpoint."""

    data: Path = Path("demos.hdf5")
    """Demonstration file (HDF5, robomimic layout)."""
    out: Path = Path("runs/enc")
    """Encoder run folder; an interrupted run there resumes from its checkpoint."""
    objective: Literal["none", "idm", "dynamo", "sirl", "ccl"] = "idm"
    """Pretraining objective; its options are under --<objective>.*."""
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loader: DataConfig = field(default_factory=DataConfig)
    idm: IdmConfig = field(default_factory=IdmConfig)
    dynamo: DynamoConfig = field(default_factory=DynamoConfig)
    sirl: SirlConfig = field(default_factory=SirlConfig)
    ccl: CclConfig = field(default_factory=CclConfig)
    wandb: WandbMode = "offline"
    """wandb mode: offline without an API key (sync later with `wandb sync`), disabled to turn it off."""
    project: str = "robolearn"
    overwrite: bool = False
    """Start over in an existing run folder (default: resume it)."""
    threads: Optional[int] = None
    """CPU threads for torch (default: half the cores, at least 1; one is fastest on a busy 2-core machine)."""


# ----------------------------------------------------------------------------- heads
@dataclass
class MlpConfig:
    hidden: int = 256
    depth: int = 4
    dropout: float = 0.1


@dataclass
class KnnConfig:
    k: int = 5


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
    dropout: float = 0.1
    head_hidden: int = 1024
    focal_gamma: float = 2.0
    primary_weight: float = 5.0
    secondary_weight: float = 0.5
    offset_weight: float = 100.0
    temperature: float = 1.0
    greedy: bool = False


@dataclass
class DiffusionConfig:
    down_dims: tuple[int, ...] = (32, 64, 128)
    """Paper: (512, 1024, 2048), 277M parameters. (32, 64, 128) is 1.8M: enough for 2-D actions on
    64 px tasks, and the size that runs 10 DDIM steps in <= 25 ms on one CPU thread exported
    (benchmarks/head_latency.py; (64, 128, 256), 5.4M, takes ~30 ms)."""
    kernel_size: int = 5
    n_groups: int = 8
    step_embed: int = 128
    train_steps: int = 100
    inference_steps: int = 10
    ema_power: float = 0.75
    ema_max: float = 0.9999


@dataclass
class TrainConfig:
    """Train a policy head: on a frozen encoder's embeddings, on the privileged state, or end to end."""

    data: Path = Path("demos.hdf5")
    """Demonstration file (HDF5, robomimic layout)."""
    encoder: str = "runs/enc"
    """Encoder run folder written by `robolearn pretrain` (frozen; its embedding is standardized with
    training-split statistics); `state` for the privileged-state ceiling (no images: the task's
    `state` observation); `scratch` to train a fresh encoder end to end with the head."""
    finetune: bool = False
    """Train the given pretrained encoder end to end with the head instead of freezing it."""
    scratch_encoder: EncoderConfig = field(default_factory=EncoderConfig)
    """Architecture of the `scratch` encoder."""
    cameras: Optional[list[str]] = None
    """Cameras of a `scratch` encoder (default: all in the file; a pretrained encoder brings its own)."""
    shift_pad: int = 4
    """Random-shift augmentation (px) of end-to-end training; 0 turns it off."""
    standardize: bool = True
    """Standardize a frozen embedding per dimension (training-split mean and std) before the head.
    Off reproduces the raw embedding, whose ~1e-3 spread the head barely sees."""
    out: Path = Path("runs/pol")
    """Policy run folder."""
    head: Literal["mlp", "knn", "vqbet", "diffusion"] = "mlp"
    """Policy head; its options are under --<head>.*."""
    obs_horizon: Optional[int] = None
    """T_o (default per head: mlp 1, knn 1, vqbet 5, diffusion 2)."""
    pred_horizon: Optional[int] = None
    """T, actions predicted per call (default per head: mlp 5, knn 1, vqbet 5, diffusion 16)."""
    action_horizon: Optional[int] = None
    """T_a, actions executed per prediction (default per head: mlp 5, knn 1, vqbet 1, diffusion 8)."""
    use_proprio: bool = True
    """Append the low-dimensional proprio observation to the image embedding."""
    optim: OptimConfig = field(
        default_factory=lambda: OptimConfig(steps=3000, batch_size=256, warmup_steps=100)
    )
    loader: DataConfig = field(default_factory=DataConfig)
    mlp: MlpConfig = field(default_factory=MlpConfig)
    knn: KnnConfig = field(default_factory=KnnConfig)
    vqbet: VqbetConfig = field(default_factory=VqbetConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    wandb: WandbMode = "offline"
    """wandb mode: offline without an API key (sync later with `wandb sync`), disabled to turn it off."""
    project: str = "robolearn"
    overwrite: bool = False
    threads: Optional[int] = None
    """CPU threads for torch (default: half the cores, at least 1; one is fastest on a busy 2-core machine)."""


# ----------------------------------------------------------------------------- evaluation
@dataclass
class EvalConfig:
    """Roll a policy out in its task and report success with a Wilson 95% interval."""

    policy: str = "runs/pol"
    """Policy run folder, or `expert` to evaluate the scripted expert."""
    env: Optional[str] = None
    """Env id (default: the one the policy's data came from; required for `expert`)."""
    episodes: int = 50
    seed: int = 100_000
    """Base seed; kept disjoint from collection seeds (which start at 0)."""
    workers: int = 2
    """Parallel env processes (gymnasium AsyncVectorEnv, spawn)."""
    videos: int = 2
    """Episodes recorded to MP4."""
    out: Path = Path("runs/eval")
    image_size: Optional[int] = None
    horizon: Optional[int] = None
    wandb: WandbMode = "offline"
    """wandb mode: offline without an API key (sync later with `wandb sync`), disabled to turn it off."""
    project: str = "robolearn"
    overwrite: bool = False
    threads: Optional[int] = None
    """CPU threads for torch (default: half the cores, at least 1; one is fastest on a busy 2-core machine)."""
    shard: Optional[str] = None
    """K/N: run only the K-th (from 0) of N contiguous shares of the episodes, seeds unchanged;
    join the shards with `robolearn eval-merge`."""


@dataclass
class ExportConfig:
    """Export a trained policy as a self-contained ONNX bundle for a robot computer."""

    policy: Path = Path("runs/pol")
    out: Path = Path("bundle")
    parity_frames: int = 64
    """Validation frames checked for torch/ONNX parity before the bundle is written."""
    tolerance: Optional[float] = None
    """Largest action difference (action units) allowed between the bundle and the torch policy;
    default: the head's `export_tolerance` (1e-4; diffusion 1e-3)."""
    overwrite: bool = False
    threads: Optional[int] = None
    """CPU threads for torch (default: half the cores, at least 1; one is fastest on a busy 2-core machine)."""


@dataclass
class RunConfig:
    """collect -> pretrain -> train -> eval -> report on one task, with one config."""

    name: str = "demo"
    root: Path = Path("runs")
    env: str = "robolearn/PointMass-v0"
    episodes: int = 100
    """Demonstrations to collect."""
    objectives: list[str] = field(default_factory=lambda: ["state", "none", "idm"])
    """Rows: `state` (privileged-state ceiling), `scratch` (end to end), `none` (frozen random init),
    a pretraining objective (idm, dynamo, sirl, ccl), or `ft-<objective>` (that encoder fine-tuned)."""
    heads: list[str] = field(default_factory=lambda: ["mlp"])
    seeds: list[int] = field(default_factory=lambda: [0])
    eval_episodes: int = 30
    image_size: int = 32
    use_proprio: bool = True
    """Image rows see proprio too."""
    workers: int = 2
    """Collection and evaluation worker processes."""
    jobs: int = 1
    """Stages run at once (training and evaluation jobs in separate processes)."""
    pretrain_steps: int = 500
    pretrain_batch: int = 32
    train_steps: int = 1000
    e2e_steps: int = 1000
    """Steps of end-to-end rows (scratch, ft-*)."""
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    dynamo_ablations: list[str] = field(default_factory=list)
    """DynaMo ablation flags to sweep, e.g. no_forward no_covariance."""
    sirl_budgets: list[int] = field(default_factory=list)
    """Extra SIRL query budgets to sweep."""
    wandb: WandbMode = "offline"
    """wandb mode: offline without an API key (sync later with `wandb sync`), disabled to turn it off."""
    project: str = "robolearn"
    overwrite: bool = False
    threads: Optional[int] = None
    """CPU threads for torch (default: half the cores, at least 1; one is fastest on a busy 2-core machine)."""


@dataclass
class BenchConfig:
    """Suites of tasks x encoders x heads x seeds: results.json and report.md with intervals."""

    suite: Literal["smoke", "cpu", "gpu", "paper", "metaworld", "metaworld-cpu"] = "cpu"
    """smoke: seconds-scale check; cpu: the task ladder at CPU scale (<= 60 min on 2 cores); gpu: what one
    GPU session measures in minutes (with robosuite Lift from images: `--tasks lift`); paper: the papers'
    scale (1,000 BlockPush demonstrations, 20k steps; a GPU, or a long CPU run); metaworld: the
    inverse-dynamics paper's few-shot split (encoders pretrained once on ML45's 45 training tasks, heads
    on 10 demonstrations of each of the 5 held-out tasks; a GPU machine); metaworld-cpu: the same
    setting on 2 CPU cores (ML10's 10 training tasks as the pool, 2 held-out tasks, 48 px)."""
    out: Optional[Path] = None
    """Results folder (default: runs/bench/<suite>); an interrupted bench resumes there."""
    tasks: Optional[list[str]] = None
    """Run only these tasks of the suite."""
    encoders: Optional[list[str]] = None
    """Run only these rows (encoders) of each task."""
    heads: Optional[list[str]] = None
    seeds: Optional[list[int]] = None
    """Override the suite's seeds."""
    eval_episodes: Optional[int] = None
    """Override the suite's evaluation episodes per seed."""
    scale: float = 1.0
    """Multiply every demonstration count, step count and evaluation episode count (at least 1 each):
    0.05 runs a suite end to end in minutes, to check a machine before the real run."""
    jobs: int = 2
    """Stages run at once, each in its own process with `threads` torch threads."""
    eval_workers: int = 2
    """Env processes of an evaluation when jobs is 1."""
    videos: int = 1
    """Episodes recorded to MP4 per evaluation (0: none)."""
    dry_run: bool = False
    """Print the suite's tasks and rows and exit."""
    report_only: bool = False
    """Write results.json and report.md from the stages finished so far; run nothing (a bench still
    running, or one stopped early)."""
    wandb: WandbMode = "disabled"
    project: str = "robolearn"
    overwrite: bool = False
    threads: Optional[int] = None
    """CPU threads for torch per job (default 1)."""


OPTIM_DEFAULTS = dict(lr=1e-3, weight_decay=1e-4, betas=(0.9, 0.999), grad_clip=1.0)


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
    import typing

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
    import hashlib

    return hashlib.sha256(json.dumps(to_dict(cfg), sort_keys=True).encode()).hexdigest()[:12]
