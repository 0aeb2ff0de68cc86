"""`robolearn bench`: the task ladder as suites of tasks x encoders x heads x seeds.

Every task's table carries the privileged-state ceiling (`state`), end-to-end training from scratch
(`scratch`) and the frozen random initialization (`none`) beside the pretraining objectives. Budgets
(demonstrations, image size, steps) come from measured state ceilings: see the README's task ladder.

    robolearn bench --suite cpu            # <= 60 min on 2 CPU cores
    robolearn bench --suite paper          # the papers' scale: a GPU, or a long CPU run
    robolearn bench --suite cpu --tasks reach --encoders state scratch none idm --seeds 0
"""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from robolearn.config import BenchConfig, EncoderConfig
from robolearn.errors import RobolearnError
from robolearn.pipeline import RunOptions, TaskSpec, row_encoders, run_tasks

ALL_ENCODERS = ["state", "scratch", "none", "idm", "dynamo", "sirl", "ccl"]


# Random shifts help over the paper's 100k steps; in a few hundred CPU steps they only slow learning
# (PointMass probe R² 0.84/0.93 without, 0.68/0.73 with; ReachTarget, frozen IDM encoder + MLP: 21/50
# without, 13/50 with, at 600 steps).
SHORT_IDM = {"idm": {"shift_pad": 0}}


def _smoke() -> list[TaskSpec]:
    return [TaskSpec(name="pointmass", env="robolearn/PointMass-v0", demos=20, image_size=32,
                     encoders=["state", "none"], heads=["mlp"], seeds=[0], pretrain_steps=0, train_steps=300,
                     eval_episodes=10, collect_workers=1, note="a seconds-scale check that the stages connect")]


def _cpu() -> list[TaskSpec]:
    return [
        TaskSpec(name="pointmass", env="robolearn/PointMass-v0", demos=100, image_size=32,
                 encoders=ALL_ENCODERS, heads=["mlp", "knn"], seeds=[0, 1, 2], pretrain_seeds=[0],
                 pretrain_steps=500, pretrain_batch=32, train_steps=1000, e2e_steps=800, e2e_batch=32,
                 eval_episodes=30, objective_options=SHORT_IDM,
                 note="the smoke rung: four goals, the goal visible only in the image; every sound pipeline succeeds"),
        TaskSpec(name="reach", env="robolearn/ReachTarget-v0", demos=10, image_size=32, use_proprio=False,
                 pretrain_env="robolearn/Reach-v0", pretrain_demos=200,
                 encoders=ALL_ENCODERS, heads=["mlp"], seeds=[0, 1, 2], pretrain_seeds=[0],
                 pretrain_steps=400, pretrain_batch=32, train_steps=1000, e2e_steps=800, e2e_batch=32,
                 eval_episodes=50, objective_options=SHORT_IDM,
                 note="the few-demonstration rung (inverse-dynamics paper's setting): pretraining on 200 demos "
                      "of random goals, heads on 10 demos of one goal, images only, floor colour and distractors "
                      "redrawn every episode"),
    ]


def _paper() -> list[TaskSpec]:
    return [
        TaskSpec(name="blockpush", env="robolearn/BlockPush-v0", demos=1000, image_size=64,
                 encoders=["state", "scratch", "none", "dynamo", "idm"], heads=["mlp", "vqbet", "diffusion"],
                 seeds=[0, 1, 2], pretrain_steps=20000, pretrain_batch=64, train_steps=20000,
                 e2e_steps=20000, e2e_batch=64, eval_episodes=50, encoder=EncoderConfig(name="resnet18", norm="group"),
                 horizons={"mlp": [3, 5, 5], "vqbet": [3, 5, 1], "diffusion": [2, 16, 8]},
                 note="the multimodal rung at the DynaMo paper's scale (1,000 demonstrations, two views)"),
        TaskSpec(name="reach", env="robolearn/ReachTarget-v0", demos=10, image_size=64, use_proprio=False,
                 pretrain_env="robolearn/Reach-v0", pretrain_demos=1000,
                 encoders=ALL_ENCODERS, heads=["mlp"], seeds=[0, 1, 2, 3, 4],
                 pretrain_steps=20000, pretrain_batch=256, train_steps=5000, e2e_steps=5000, e2e_batch=64,
                 eval_episodes=100, note="the few-demonstration rung at the inverse-dynamics paper's budgets"),
    ]


def _gpu() -> list[TaskSpec]:
    """What one GPU session (minutes of an H200 and 16 cores) measures of the paper suite."""
    return [
        TaskSpec(name="reach", env="robolearn/ReachTarget-v0", demos=10, image_size=64, use_proprio=False,
                 pretrain_env="robolearn/Reach-v0", pretrain_demos=1000,
                 encoders=["state", "scratch", "none", "idm", "dynamo"], heads=["mlp"], seeds=[0, 1, 2],
                 pretrain_seeds=[0], pretrain_steps=3000, pretrain_batch=256, train_steps=2000,
                 e2e_steps=2000, e2e_batch=64, eval_episodes=50, collect_workers=14, in_ram=True,
                 note="few-demonstration rung at GPU budgets: 1,000 pretraining demos, 3,000 pretraining steps"),
        TaskSpec(name="blockpush", env="robolearn/BlockPush-v0", demos=1000, image_size=64,
                 encoders=["state", "none", "dynamo"], heads=["mlp", "vqbet"], seeds=[0],
                 pretrain_steps=2000, pretrain_batch=64, train_steps=3000, eval_episodes=50,
                 encoder=EncoderConfig(name="resnet18", norm="group"), collect_workers=14, in_ram=True,
                 horizons={"mlp": [3, 5, 5], "vqbet": [3, 5, 1]},
                 note="the multimodal rung at the DynaMo paper's demonstration count (1,000), shortened training"),
    ]


SUITES = {"smoke": _smoke, "cpu": _cpu, "gpu": _gpu, "paper": _paper}


def suite_tasks(cfg: BenchConfig) -> list[TaskSpec]:
    tasks = SUITES[cfg.suite]()
    if cfg.tasks:
        unknown = [t for t in cfg.tasks if t not in {x.name for x in tasks}]
        if unknown:
            raise RobolearnError(f"suite {cfg.suite} has no task {', '.join(unknown)}; "
                                 f"its tasks: {', '.join(t.name for t in tasks)}")
        tasks = [t for t in tasks if t.name in cfg.tasks]
    out = []
    for t in tasks:
        changes = {}
        if cfg.encoders:
            changes["encoders"] = [e for e in cfg.encoders]
        if cfg.heads:
            changes["heads"] = list(cfg.heads)
        if cfg.seeds:
            changes["seeds"] = list(cfg.seeds)
        if cfg.eval_episodes:
            changes["eval_episodes"] = int(cfg.eval_episodes)
        t = dataclasses.replace(t, **changes)
        if cfg.scale != 1.0:
            if cfg.scale <= 0:
                raise RobolearnError(f"--scale must be positive, got {cfg.scale}")
            scaled = {k: max(1, int(round(getattr(t, k) * cfg.scale))) for k in
                      ("demos", "pretrain_steps", "train_steps", "e2e_steps", "eval_episodes")}
            if t.pretrain_env:
                scaled["pretrain_demos"] = max(2, int(round(t.pretrain_demos * cfg.scale)))
            scaled["demos"] = max(2, scaled["demos"])
            t = dataclasses.replace(t, **scaled)
        out.append(t)
    return out


def describe(tasks: list[TaskSpec]) -> str:
    lines = []
    for t in tasks:
        pre = f"; pretrain on {t.pretrain_demos} demos of {t.pretrain_env}" if t.pretrain_env else ""
        lines.append(f"{t.name}: {t.env}, {t.demos} demos, {t.image_size} px{pre}")
        lines.append(f"  rows: {', '.join(row_encoders(t))} x {', '.join(t.heads)}; seeds {t.seeds}; "
                     f"{t.eval_episodes} eval episodes per seed")
    return "\n".join(lines)


def bench(cfg: BenchConfig) -> Path:
    if cfg.jobs < 1:
        raise RobolearnError(f"--jobs must be >= 1, got {cfg.jobs}")
    tasks = suite_tasks(cfg)
    if cfg.dry_run:
        print(describe(tasks))
        return Path(".")
    root = Path(cfg.out) if cfg.out else Path("runs") / "bench" / cfg.suite
    if root.exists() and cfg.overwrite:
        shutil.rmtree(root)
    opts = RunOptions(root=root, jobs=cfg.jobs, threads=cfg.threads or 1, eval_workers=cfg.eval_workers,
                      wandb=cfg.wandb, project=cfg.project, report_only=cfg.report_only, videos=cfg.videos)
    return run_tasks(tasks, opts, f"robolearn bench --suite {cfg.suite}")
