"""Every pretraining objective against the frozen random init, by probe and collapse indicators.

Pretrains each encoder of a bench suite's tasks exactly as `robolearn bench` does (same data, seeds,
budgets, preset and folders: a later `robolearn bench --out` on the same root reuses these encoders)
and prints, per task, the probe R² (linear ridge from the frozen embedding to the task's features,
validation frames) and the collapse indicators of every encoder beside `none`'s, with each
objective's margin over `none`. No policy is trained: this is the cheap check that comes before
rollouts (a head cannot use what the embedding does not hold).

    .venv/bin/python benchmarks/probe_objectives.py --suite cpu --seeds 0 1 2 --out runs/bench/cpu
    .venv/bin/python benchmarks/probe_objectives.py --suite cpu --tasks reach --encoders none dynamo \\
        --dynamo-latent-dims 2 4 8 16      # DynaMo's bottleneck sweep
    .venv/bin/python benchmarks/probe_objectives.py --suite cpu --tasks reach --encoders none dynamo \
        --variants dynamo-jit0=dynamo:jitter=0.0     # a row with config overrides
"""
from __future__ import annotations

import robolearn.rendering  # noqa: F401  (MUJOCO_GL before mujoco)

import ast
import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch
import tyro

from robolearn.bench import SUITES
from robolearn.config import CollectConfig
from robolearn.data.collect import collect
from robolearn.data.store import merge_stores
from robolearn.pipeline import (COLLAPSE_KEYS, PRETRAIN_DATA_SEED, TaskSpec, pool_store, pretrain_config,
                                pretrain_name, pretrain_store)
from robolearn.errors import RobolearnError
from robolearn.pretrain import pretrain
from robolearn.pretraining import OBJECTIVES

KEYS = ("probe_r2/mean", *COLLAPSE_KEYS)


@dataclass
class Args:
    suite: str = "cpu"
    tasks: list[str] = field(default_factory=list)
    """Tasks of the suite (default: all)."""
    encoders: list[str] = field(default_factory=lambda: ["none", "idm", "dynamo", "sirl", "ccl"])
    seeds: list[int] = field(default_factory=lambda: [0])
    """Pretraining seeds (each encoder is pretrained once per seed)."""
    dynamo_latent_dims: list[int] = field(default_factory=list)
    """Extra DynaMo rows, one per latent-action width (the bottleneck sweep)."""
    variants: list[str] = field(default_factory=list)
    """Extra rows with config overrides, each LABEL=OBJECTIVE:KEY=VALUE[,KEY=VALUE...], e.g.
    dynamo-jit=dynamo:jitter=0.3 (values read as Python literals)."""
    out: Path = Path("runs/probe_objectives")
    md: Optional[Path] = None
    """Also write the tables to this markdown file."""


def pretraining_data(t: TaskSpec, root: Path) -> Path:
    """The task's pretraining store, collected (and merged, for a pool) as the bench does."""
    path = pretrain_store(t, root)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    envs = t.pretrain_envs or [t.env]
    episodes, seed = (t.pretrain_demos, PRETRAIN_DATA_SEED) if t.pretrain_envs else (t.demos, 0)
    parts = [path] if len(envs) == 1 else [pool_store(root, pretrain_name(t), env) for env in envs]
    for env, part in zip(envs, parts):
        if not part.exists():
            part.parent.mkdir(parents=True, exist_ok=True)
            collect(CollectConfig(env=env, episodes=episodes, out=part, seed=seed, image_size=t.image_size,
                                  cameras=t.cameras, workers=1))
    if len(parts) > 1:
        merge_stores(parts, path)
    return path


def variants(t: TaskSpec, args: Args) -> list[tuple[str, str, dict]]:
    out = [(e, e, dict(t.objective_options.get(e, {}))) for e in args.encoders]
    out += [(f"dynamo-z{z}", "dynamo", {"latent_dim": z}) for z in args.dynamo_latent_dims]
    return out + [parse_variant(t, v) for v in args.variants]


def parse_variant(t: TaskSpec, spec: str) -> tuple[str, str, dict]:
    """LABEL=OBJECTIVE:KEY=VALUE,... -> (label, objective, overrides on top of the task's options)."""
    label, sep, rest = spec.partition("=")
    objective, _, pairs = rest.partition(":")
    if not sep or not label or objective not in OBJECTIVES:
        raise RobolearnError(f"--variants: expected LABEL=OBJECTIVE:KEY=VALUE,..., got '{spec}'")
    overrides = dict(t.objective_options.get(objective, {}))
    for pair in filter(None, pairs.split(",")):
        key, _, value = pair.partition("=")
        if key not in {f.name for f in dataclasses.fields(OBJECTIVES.get(objective).Config)}:
            raise RobolearnError(f"--variants: {objective} has no option '{key}'")
        try:
            overrides[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            overrides[key] = value
    return label, objective, overrides


def main(args: Args) -> None:
    torch.set_num_threads(1)
    root = args.out
    lines = []
    for t in SUITES[args.suite]():
        if args.tasks and t.name not in args.tasks:
            continue
        data = pretraining_data(t, root)
        rows = {}
        for label, objective, overrides in variants(t, args):
            per_seed = []
            for seed in args.seeds:
                enc = root / pretrain_name(t) / "enc" / f"{label}-s{seed}"
                if not (enc / "encoder.json").exists():
                    pretrain(pretrain_config(t, objective, overrides, seed, data, enc, {"wandb": "disabled"}))
                per_seed.append(json.loads((enc / "results.json").read_text()))
            rows[label] = {k: [r.get(f"val/{k}", float("nan")) for r in per_seed] for k in KEYS}
        base = np.mean(rows["none"]["probe_r2/mean"]) if "none" in rows else float("nan")
        lines += [f"## {t.name}: `{t.env}`, pretraining on {t.pretrain_demos or t.demos} demos of "
                  f"{', '.join(t.pretrain_envs) or t.env}, {t.pretrain_steps} steps, batch {t.pretrain_batch}, "
                  f"{t.image_size} px, encoder {t.encoder.name}, preset {t.pretrain_preset}, seeds {args.seeds}", "",
                  "| encoder | probe R² (per seed) | mean | − none | mean cosine | effective rank | per-dim std "
                  "| within-episode share |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for label, r in rows.items():
            r2 = r["probe_r2/mean"]
            cell = lambda k, f: format(float(np.mean(r[k])), f)  # noqa: E731
            lines.append(f"| {label} | {', '.join(f'{x:.2f}' for x in r2)} | {np.mean(r2):.2f} | "
                         f"{np.mean(r2) - base:+.2f} | {cell('mean_cosine', '.3f')} | {cell('effective_rank', '.1f')} | "
                         f"{cell('emb_std', '.3f')} | {cell('within_episode_share', '.2f')} |")
        lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.md:
        args.md.parent.mkdir(parents=True, exist_ok=True)
        args.md.write_text(text + "\n")


if __name__ == "__main__":
    main(tyro.cli(Args))
