"""Typed configs of the stages. The CLI (`robolearn.cli`) is generated from these dataclasses with tyro.

The lower layers' configs (data, encoder, optimizer) and (de)serialization live in
`robolearn.settings` and are re-exported here. Each pretraining objective and each policy head keeps
its own config class in its own file, beside the method (its paper's defaults, scaled where noted for
64 px tasks on a CPU); `PretrainConfig` and `TrainConfig` get one field per registered method, so a
new method's options appear as --<name>.* without an edit here.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

from robolearn.policies import HEADS
from robolearn.pretraining import OBJECTIVES
from robolearn.registry import Registry
from robolearn.settings import (OPTIM_DEFAULTS, CollectConfig, DataConfig, EncoderConfig, ExportLerobotConfig,
                                ImportLerobotConfig, ImportRobomimicConfig, OptimConfig, WandbMode, config_hash,
                                from_dict, load_config, resolve_optim, save_config, to_dict)

__all__ = ["OPTIM_DEFAULTS", "BenchConfig", "CollectConfig", "DataConfig", "EncoderConfig", "EvalConfig",
           "EvalOfflineConfig", "ExportConfig", "ExportLerobotConfig", "ImportLerobotConfig", "ImportRobomimicConfig", "OptimConfig",
           "PretrainConfig", "RunConfig", "TrainConfig", "WandbMode", "config_hash", "from_dict", "load_config",
           "method_config", "resolve_optim", "save_config", "to_dict"]


def method_config(cfg, name: str, registry: Registry):
    """cfg's sub-config for method `name`, else the method's default config (None: it has none)."""
    sub = getattr(cfg, name, None)
    if sub is not None:
        return sub
    cls = registry.get(name).Config
    return None if cls is None else cls()


def with_method_fields(base: type, selector: str, registry: Registry) -> type:
    """`base` plus one field per registered method holding its config, and `selector` narrowed to the
    registry's names (so tyro lists them as choices)."""
    names = registry.names()
    default = next(f.default for f in dataclasses.fields(base) if f.name == selector)
    fields = [(selector, Literal[names], field(default=default))]
    fields += [(name, cls.Config, field(default_factory=cls.Config)) for name, cls in registry.items()
               if cls.Config is not None]
    name = base.__name__.replace("_", "").replace("Options", "Config")
    return dataclasses.make_dataclass(name, fields, bases=(base,),
                                      namespace={"__doc__": base.__doc__, "__module__": __name__})


# ----------------------------------------------------------------------------- pretraining
@dataclass
class _PretrainOptions:
    """Pretrain an encoder on demonstrations with one objective; writes an encoder checkpoint."""

    data: Path = Path("demos.hdf5")
    """Demonstration file (HDF5, robomimic layout)."""
    out: Path = Path("runs/enc")
    """Encoder run folder; an interrupted run there resumes from its checkpoint."""
    objective: str = "idm"
    """Pretraining objective; its options are under --<objective>.*."""
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loader: DataConfig = field(default_factory=DataConfig)
    wandb: WandbMode = "offline"
    """wandb mode: offline without an API key (sync later with `wandb sync`), disabled to turn it off."""
    project: str = "robolearn"
    overwrite: bool = False
    """Start over in an existing run folder (default: resume it)."""
    threads: Optional[int] = None
    """CPU threads for torch (default: half the cores, at least 1; one is fastest on a busy 2-core machine)."""

    def objective_config(self):
        """The chosen objective's own config (its defaults when this config has no field for it: a
        method registered after this module was imported)."""
        return method_config(self, self.objective, OBJECTIVES)


PretrainConfig = with_method_fields(_PretrainOptions, "objective", OBJECTIVES)


# ----------------------------------------------------------------------------- heads
@dataclass
class _TrainOptions:
    """Train a policy head: on a frozen encoder's embeddings, on the privileged state, or end to end."""

    data: Path = Path("demos.hdf5")
    """Demonstration file (HDF5, robomimic layout)."""
    encoder: str = "runs/enc"
    """Encoder run folder written by `robolearn pretrain` (frozen; its embedding is standardized with
    training-split statistics); `state` for low-dimensional observations, no images: the task's
    privileged `state` where a simulator recorded it (the ceiling), beside proprio, else proprio alone
    (a real robot's joints, e.g. LeRobot's observation.state); `scratch` to train a fresh encoder end to end with the head."""
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
    feature_noise: float = 0.0
    """Std of Gaussian noise added to a frozen encoder's standardized embedding in every training window
    (not to proprio or state; the policy runs without it): smooths the head off the demonstrated
    states. 0 turns it off; ignored end to end, for `state` and by kNN."""
    out: Path = Path("runs/pol")
    """Policy run folder."""
    head: str = "mlp"
    """Policy head; its options are under --<head>.*."""
    obs_horizon: Optional[int] = None
    """T_o (default: the task's preset, e.g. BlockPush vqbet 3; else per head: mlp 1, knn 1, vqbet 5, diffusion 2)."""
    pred_horizon: Optional[int] = None
    """T, actions predicted per call (default: the task's preset, e.g. BlockPush vqbet 1; else per head:
    mlp 5, knn 1, vqbet 5, diffusion 16)."""
    action_horizon: Optional[int] = None
    """T_a, actions executed per prediction (default: the task's preset, e.g. BlockPush mlp 1; else per
    head: mlp 5, knn 1, vqbet 1, diffusion 8)."""
    use_proprio: bool = True
    """Append the low-dimensional proprio observation to the image embedding."""
    optim: OptimConfig = field(
        default_factory=lambda: OptimConfig(steps=None, batch_size=256, warmup_steps=100)  # steps: train_steps()
    )
    loader: DataConfig = field(default_factory=DataConfig)
    wandb: WandbMode = "offline"
    """wandb mode: offline without an API key (sync later with `wandb sync`), disabled to turn it off."""
    project: str = "robolearn"
    overwrite: bool = False
    threads: Optional[int] = None
    """CPU threads for torch (default: half the cores, at least 1; one is fastest on a busy 2-core machine)."""

    def head_config(self):
        """The chosen head's own config (its defaults when this config has no field for it)."""
        return method_config(self, self.head, HEADS)


TrainConfig = with_method_fields(_TrainOptions, "head", HEADS)


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
    """Parallel processes. On a CPU each is an independent loop with its own copy of the policy and
    its own envs, rolling out every N-th episode (no core waits for another)."""
    envs_per_worker: Optional[int] = None
    """Envs each worker steps in turn, the policy acting for them in one batch. Default: episodes /
    workers, at most 8 (1 for robosuite and MetaWorld, whose steps dwarf a batch's savings while each
    env costs ~1 s of start-up and its memory)."""
    lockstep: bool = False
    """Step every worker's envs as one batch with the policy in this process (gymnasium
    AsyncVectorEnv): the layout for a policy on a GPU, used there whatever this says."""
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
    max_fault_rate: float = 0.05
    """Fail (exit 2) when more than this share of an evaluation's episodes end in a simulator fault
    (an exception in the env or the expert, a diverged simulation): a crash is not a failed policy.
    The first traceback is saved as fault_traceback.txt in the evaluation folder."""


@dataclass
class EvalOfflineConfig:
    """Judge a policy without a simulator or a robot: run it on the recorded observations of held-out
    episodes and compare its actions with the recorded ones, beside two baselines (the training
    mean; repeating the previous action). What real-robot users check before risking hardware."""

    policy: Path = Path("runs/pol")
    """Policy run folder (written by `robolearn train`)."""
    data: Optional[Path] = None
    """Demonstration store (default: the one the policy was trained on)."""
    split: Literal["valid", "train", "all"] = "valid"
    """Episodes to judge on: the held-out ones (valid); train and all are for comparison only."""
    out: Path = Path("runs/eval_offline")
    """Folder for results.json."""
    overwrite: bool = False
    seed: int = 0
    """Seed of the noise of generative heads (diffusion, VQ-BeT)."""


@dataclass
class ExportConfig:
    """Export a trained policy as a self-contained ONNX bundle for a robot computer."""

    policy: Path = Path("runs/pol")
    out: Path = Path("bundle")
    parity_frames: int = 64
    """Validation frames checked for torch/ONNX parity before the bundle is written."""
    tolerance: Optional[float] = None
    """Largest action difference allowed between the bundle and the torch policy, in action units, or
    in units of a dimension's half-range where that exceeds 1 (a robot's joint targets in degrees);
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
    """Stages run at once (training and evaluation jobs in separate processes), each as soon as the
    encoder or policy it reads is written."""
    pretrain_steps: int = 500
    pretrain_batch: int = 32
    train_steps: int = 1000
    e2e_steps: int = 1000
    """Steps of end-to-end rows (scratch, ft-*)."""
    max_fault_rate: float = 0.05
    """Fail (exit 2, after writing the report) when more than this share of one evaluation's episodes
    end in a simulator fault; the report's `sim faults` column names the saved traceback."""
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

    def folder(self) -> Path:
        """The run's folder: <root>/<name>."""
        return Path(self.root) / self.name


@dataclass
class BenchConfig:
    """Suites of tasks x encoders x heads x seeds: results.json and report.md with intervals."""

    suite: Literal["smoke", "cpu", "gpu", "paper", "metaworld", "metaworld-cpu", "lift-fewshot", "dynamo-ablations",
                   "blockpush-state", "blockpush-images"] = "cpu"
    """smoke: seconds-scale check; cpu: the task ladder at CPU scale (about 5 min on 2 quiet cores); gpu: what one
    GPU session measures in minutes (with robosuite Lift from images: `--tasks lift`); paper: the papers'
    scale (1,000 BlockPush demonstrations, 20k steps; a GPU, or a long CPU run); metaworld: the
    inverse-dynamics paper's few-shot split (encoders pretrained once on ML45's 45 training tasks, heads
    on 10 demonstrations of each of the 5 held-out tasks; a GPU machine); metaworld-cpu: the same
    setting on 2 CPU cores (ML10's 10 training tasks as the pool, 2 held-out tasks, 48 px); lift-fewshot:
    robosuite Lift with encoders pretrained on 200 demonstrations and heads on 20, 32 px, 3 pretraining
    seeds (2 CPU cores, hours); dynamo-ablations: DynaMo and each of its ablations as rows on the cpu
    suite's ReachTarget rung, 3 pretraining seeds; blockpush-state: MLP, VQ-BeT and diffusion on
    BlockPush's privileged state, 1,000 demonstrations (49 min on 2 quiet cores with --jobs 2
    --videos 0, diffusion's 3 seeds under half of it);
    blockpush-images: the same VQ-BeT on frozen DynaMo and random-init encoders and end to end from scratch,
    32 px, conv at first stride 1 (~70 min a seed on 2 CPU cores)."""
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
    train_scale: float = 1.0
    """Multiply the heads' training steps alone (demonstrations and evaluation unchanged): the same
    experiment trained shorter, e.g. on a busy machine. The report states the steps run."""
    jobs: int = 2
    """Stages run at once, each in its own process with `threads` torch threads; a stage starts as soon
    as the encoder or policy it reads is written."""
    eval_workers: int = 2
    """Env processes of an evaluation when jobs is 1."""
    videos: int = 1
    """Episodes recorded to MP4 per evaluation (0: none)."""
    max_fault_rate: float = 0.05
    """Fail (exit 2, after writing the report) when more than this share of one evaluation's episodes
    end in a simulator fault; the report's `sim faults` column names the saved traceback."""
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

    def folder(self) -> Path:
        """The results folder: --out, else runs/bench/<suite>."""
        return Path(self.out) if self.out else Path("runs") / "bench" / self.suite
