"""Collection and evaluation speed on the simulator adapters (robosuite, MetaWorld) and our own tasks.

Per env: `robolearn collect` (scripted expert, every default camera rendered, HDF5 written) as
stored frames per second of wall time, start-up included; and `robolearn eval --policy expert`
as env steps per second of rollout time (the evaluator's own figure, worker start-up excluded).

    .venv/bin/python benchmarks/adapter_speed.py
    .venv/bin/python benchmarks/adapter_speed.py --envs metaworld/reach-v3 --episodes 4 --workers 2
"""
from __future__ import annotations

import robolearn.rendering  # noqa: F401  (MUJOCO_GL before mujoco)

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import tyro


@dataclass
class Args:
    envs: list[str] = field(default_factory=lambda: [
        "robosuite/Lift-v0", "robosuite/Door-v0", "metaworld/pick-place-v3", "metaworld/drawer-open-v3",
        "robolearn/BlockPush-v0"])
    episodes: int = 4
    """Episodes collected and evaluated per env."""
    image_size: int = 64
    """robolearn's collection default (robomimic uses 84)."""
    workers: int = 1
    """Collector and evaluator processes."""


def collect_speed(env_id: str, args: Args, tmp: Path) -> dict:
    from robolearn.config import CollectConfig
    from robolearn.data.collect import collect

    out = tmp / f"{env_id.replace('/', '_')}.hdf5"
    t0 = time.perf_counter()
    collect(CollectConfig(env=env_id, episodes=args.episodes, out=out, image_size=args.image_size,
                          workers=args.workers, overwrite=True))
    wall = time.perf_counter() - t0
    with h5py.File(out, "r") as f:
        frames = sum(int(g["actions"].shape[0]) for g in f["data"].values())
        attempts = int(f["data"].attrs.get("collect_attempts", args.episodes))
    return {"frames": frames, "attempts": attempts, "collect_s": wall, "frames_per_s": frames / wall}


def eval_speed(env_id: str, args: Args, tmp: Path) -> dict:
    from robolearn.config import EvalConfig
    from robolearn.evaluate import evaluate

    res = evaluate(EvalConfig(policy="expert", env=env_id, episodes=args.episodes, workers=args.workers,
                              videos=0, out=tmp / f"eval_{env_id.replace('/', '_')}",
                              image_size=args.image_size, wandb="disabled", overwrite=True))
    return {"eval_success": res["success_rate"], "eval_steps": res["env_steps"], "steps_per_s": res["steps_per_second"]}


def main(args: Args) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for env_id in args.envs:
            row = {"env": env_id, **collect_speed(env_id, args, Path(d)), **eval_speed(env_id, args, Path(d))}
            rows.append(row)
            print(f"{env_id:28} collect {row['frames']:5d} frames {row['frames_per_s']:6.1f} frames/s | "
                  f"eval {row['eval_steps']:5d} steps {row['steps_per_s']:6.1f} steps/s "
                  f"(expert success {row['eval_success']:.2f})", flush=True)
    print(f"\n{args.episodes} episodes per env, {args.image_size} px, default cameras, {args.workers} worker(s)")


if __name__ == "__main__":
    main(tyro.cli(Args))
