"""The blind floor of the Reach few-demonstration rung (cpu suite, dynamo-ablations suite): a policy that
ignores the image and always sends the head demos' mean action, which is what an MLP head outputs when
its input carries nothing. Same evaluation seeds as the bench (EVAL_SEED + 1000 * seed + episode).

    MUJOCO_GL=egl .venv/bin/python benchmarks/results/dynamo_ablations_cpu/blind_floor/blind.py DEMOS.hdf5

DEMOS: the suite's 10 ReachTarget demonstrations (`<bench out>/reach/demos.hdf5`)."""
import sys

import h5py
import numpy as np

import robolearn.rendering  # noqa: F401  (MUJOCO_GL before mujoco)
from robolearn.envs import make_env
from robolearn.evaluation.statistics import wilson_interval
from robolearn.pipeline import EVAL_SEED

with h5py.File(sys.argv[1]) as f:
    actions = np.concatenate([f[f"data/{k}/actions"][()] for k in f["data"]])
mean = actions.mean(0).astype(np.float32)
print(f"{len(actions)} demo steps, mean action {mean.round(3)}")
env = make_env("robolearn/ReachTarget-v0", image_size=32, cameras=["top"])
total = 0
for seed in (0, 1, 2):
    solved = 0
    for ep in range(50):
        env.reset(seed=EVAL_SEED + 1000 * seed + ep)
        done = False
        while not done:
            _, _, term, trunc, info = env.step(mean)
            done = term or trunc
        solved += bool(info.get("success", False))
    total += solved
    print(f"seed {seed}: {solved}/50")
low, high = wilson_interval(total, 150)
print(f"blind (mean action): {total}/150 = {total / 150:.2f} [{low:.2f}, {high:.2f}]")
