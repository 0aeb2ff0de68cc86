"""Success of encoder x head combinations on a task, through `robolearn run`, plus training speeds.

    python benchmarks/pipeline_success.py --episodes 200 --seeds 0 1 2 --eval-episodes 50

Prints the report's table (success with Wilson 95% intervals over all seeds' episodes) and the
pretraining / head-training steps per second read from each run's metrics.jsonl. It measures; it
does not assert.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import tyro

from robolearn.config import RunConfig
from robolearn.pipeline import run
from robolearn.tracking import read_metrics


# The issues' benchmark scale; every `robolearn run` flag can change it (RunConfig is the one config).
BENCH = RunConfig(name="bench", episodes=200, seeds=[0, 1, 2], eval_episodes=50, pretrain_steps=2000,
                  train_steps=3000, wandb="disabled")


def speed(run_dir: Path) -> float | None:
    rows = [r["train/steps_per_s"] for r in read_metrics(run_dir) if r.get("train/steps_per_s")]
    return rows[-1] if rows else None


def main(cfg: RunConfig) -> None:
    report = run(cfg)
    root = Path(cfg.root) / cfg.name
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
    main(tyro.cli(RunConfig, default=BENCH, description=__doc__))
