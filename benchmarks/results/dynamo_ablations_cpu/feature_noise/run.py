"""The dynamo-ablations suite (ReachTarget, 10 head demos, 3 pretraining seeds) with the frozen rows' heads
trained with feature noise 2.0, as lift-fewshot's. Stage 1 (argument `base`): state, none, dynamo only;
stage 2 (`full`): every ablation row too, reusing stage 1's jobs (same folder)."""
import robolearn.rendering  # noqa: F401
import dataclasses
import sys
from pathlib import Path

import robolearn.bench as B
from robolearn.config import BenchConfig

stage = sys.argv[1] if len(sys.argv) > 1 else "base"
orig = B.SUITES["dynamo-ablations"]


def suite():
    tasks = [dataclasses.replace(t, feature_noise=2.0) for t in orig()]
    if stage == "base":
        tasks = [dataclasses.replace(t, dynamo_ablations=[]) for t in tasks]
    return tasks


if __name__ == "__main__":  # the bench's collection spawns workers, which import this file
    B.SUITES["dynamo-ablations"] = suite
    print(B.bench(BenchConfig(suite="dynamo-ablations", jobs=2, eval_workers=1, videos=0, wandb="disabled",
                              out=Path("/work/abl_noise/out"))))
