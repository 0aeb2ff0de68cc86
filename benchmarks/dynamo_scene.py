"""Is it the per-episode scene? DynaMo against the frozen random init on Reach with and without it.

Reach redraws its floor colour and three distractor discs every episode. DynaMo's loss has no term
that prefers the agent's motion to a per-episode constant (both are predictable from past frames),
so on Reach its probe stays at the random init's while its within-episode share of variance falls.
This benchmark pretrains `none` and `dynamo` exactly as the cpu suite's Reach rung does (200 demos,
32 px, 400 steps, batch 32, the short preset) on two pools that differ in one thing: the scene
redrawn per episode (`robolearn/Reach-v0`) or held fixed (the same env with its floor and distractor
draws replaced by one fixed draw), and prints the probe R² and within-episode share of each.

    .venv/bin/python benchmarks/dynamo_scene.py --seeds 0 1 2 --out runs/dynamo_scene
    .venv/bin/python benchmarks/dynamo_scene.py --seeds 0 --out runs/dynamo_scene \
        --ablations no_forward no_inverse no_bottleneck no_covariance no_stopgrad   # where DynaMo learns
"""
from __future__ import annotations

import robolearn.rendering  # noqa: F401  (MUJOCO_GL before mujoco)

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import gymnasium
import numpy as np
import torch
import tyro

from robolearn import envs
from robolearn.config import CollectConfig
from robolearn.data.collect import collect
from robolearn.envs import reach
from robolearn.bench import SUITES
from robolearn.pipeline import pretrain_config
from robolearn.pretrain import pretrain

FIXED_ID = "robolearn/ReachFixedScene-v0"


class ReachFixedSceneEnv(reach.ReachEnv):
    """Reach with one floor colour and one distractor layout for every episode (goal and start still
    drawn per episode, from the same random stream as Reach-v0)."""

    def _reset_task(self, rng: np.random.Generator) -> None:
        super()._reset_task(rng)
        scene = np.random.default_rng(12345)
        floor = scene.uniform(0.55, 0.95, 3)
        discs = scene.uniform(0.1, 0.9, (reach.N_DISTRACTORS, 3))
        self._set_colours(np.concatenate([floor, discs.ravel()]))
        for mid in self._distractor_mocap:
            self.data.mocap_pos[mid, :2] = scene.uniform(-0.45, 0.45, 2)


envs.TASKS[FIXED_ID] = reach  # the same features, expert and settings as Reach-v0
gymnasium.register(id=FIXED_ID, entry_point=ReachFixedSceneEnv)


@dataclass
class Args:
    seeds: list[int] = field(default_factory=lambda: [0])
    out: Path = Path("runs/dynamo_scene")
    ablations: list[str] = field(default_factory=list)
    """DynaMo ablations (no_forward no_inverse no_bottleneck no_covariance no_stopgrad) to add as rows,
    pretrained on the fixed-scene pool only (where the full DynaMo learns)."""


KEYS = ("val/probe_r2/agent_x", "val/probe_r2/agent_y", "val/probe_r2/mean", "val/within_episode_share",
        "val/effective_rank")


def main(args: Args) -> None:
    torch.set_num_threads(1)
    (task,) = [t for t in SUITES["cpu"]() if t.name == "reach"]  # its demos, steps, batch, image size, preset
    rows = []
    for env_id, scene in (("robolearn/Reach-v0", "redrawn per episode"), (FIXED_ID, "fixed")):
        data = args.out / f"{env_id.split('/')[-1]}.hdf5"
        if not data.exists():
            args.out.mkdir(parents=True, exist_ok=True)
            collect(CollectConfig(env=env_id, episodes=task.pretrain_demos, out=data, seed=0,
                                  image_size=task.image_size, workers=1))
        variants = [("none", None), ("dynamo", None)]
        variants += [("dynamo", a) for a in args.ablations] if env_id == FIXED_ID else []
        for objective, ablation in variants:
            name = objective if ablation is None else f"dynamo-{ablation}"
            for seed in args.seeds:
                enc = args.out / f"{env_id.split('/')[-1]}-{name}-s{seed}"
                if not (enc / "results.json").exists():  # pretrained as the bench does (an interrupted one resumes)
                    overrides = {} if ablation is None else {ablation: True}
                    pretrain(pretrain_config(task, objective, overrides, seed, data, enc, {"wandb": "disabled"}))
                r = json.loads((enc / "results.json").read_text())
                rows.append((scene, name, seed, *[r[k] for k in KEYS]))
    print("| scene | encoder | seed | agent_x R² | agent_y R² | mean R² | within-episode share | effective rank |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for scene, objective, seed, *vals in rows:
        print(f"| {scene} | {objective} | {seed} | " + " | ".join(f"{v:.2f}" if i < 4 else f"{v:.1f}"
                                                              for i, v in enumerate(vals)) + " |")


if __name__ == "__main__":
    main(tyro.cli(Args))
