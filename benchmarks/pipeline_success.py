"""Success of encoder x head combinations on a task, through `robolearn run`, plus training speeds.

    python benchmarks/pipeline_success.py --episodes 200 --seeds 0 1 2 --eval-episodes 50

Prints the report's table (success with Wilson 95% intervals over all seeds' episodes) and the
pretraining / head-training steps per second read from each run's metrics.jsonl. It measures; it
does not assert.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tyro

from robolearn.config import EncoderConfig, RunConfig
from robolearn.pipeline import run
from robolearn.tracking import read_metrics


@dataclass
class Args:
    name: str = "bench"
    root: Path = Path("runs")
    env: str = "robolearn/BlockPush-v0"
    episodes: int = 200
    objectives: list[str] = field(default_factory=lambda: ["idm", "none"])
    heads: list[str] = field(default_factory=lambda: ["mlp", "knn"])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    eval_episodes: int = 50
    pretrain_steps: int = 2000
    train_steps: int = 3000
    workers: int = 2
    encoder: str = "conv"
    dynamo_ablations: list[str] = field(default_factory=list)
    sirl_budgets: list[int] = field(default_factory=list)


def speed(run_dir: Path) -> float | None:
    rows = [r["train/steps_per_s"] for r in read_metrics(run_dir) if r.get("train/steps_per_s")]
    return rows[-1] if rows else None


def main(a: Args) -> None:
    cfg = RunConfig(name=a.name, root=a.root, env=a.env, episodes=a.episodes, objectives=a.objectives,
                    heads=a.heads, seeds=a.seeds, eval_episodes=a.eval_episodes, workers=a.workers,
                    pretrain_steps=a.pretrain_steps, train_steps=a.train_steps, encoder=EncoderConfig(name=a.encoder),
                    dynamo_ablations=a.dynamo_ablations, sirl_budgets=a.sirl_budgets, wandb="disabled")
    report = run(cfg)
    root = Path(a.root) / a.name
    print(report.read_text().split("## Results", 1)[1].split("##", 1)[0].strip())
    print("\n| run | stage | steps/s |\n| --- | --- | --- |")
    for stage in ("enc", "pol"):
        for d in sorted((root / stage).iterdir()):
            s = speed(d)
            if s is not None:
                print(f"| {d.name} | {'pretrain' if stage == 'enc' else 'head'} | {s:.1f} |")
    sps = [__import__("json").loads((d / "results.json").read_text()).get("steps_per_second")
           for d in sorted((root / "eval").iterdir())]
    sps = [s for s in sps if s]
    if sps:
        print(f"\nrollout env steps/s through the evaluator (policy inference included): mean {np.mean(sps):.0f}")


if __name__ == "__main__":
    main(tyro.cli(Args))
