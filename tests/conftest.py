"""Shared fixtures: small real datasets collected once per test session by the real experts."""
from __future__ import annotations

import os

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("TQDM_DISABLE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

import robolearn.rendering  # noqa: E402,F401

# Every test runs on one thread: on a busy 2-core machine two threads ran 3-5x slower.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def pointmass_demos(tmp_path_factory):
    from robolearn.config import CollectConfig
    from robolearn.data.collect import collect

    out = tmp_path_factory.mktemp("pm") / "pointmass.hdf5"
    return collect(CollectConfig(env="robolearn/PointMass-v0", episodes=100, out=out, seed=0, image_size=32))


@pytest.fixture(scope="session")
def blockpush_demos(tmp_path_factory):
    from robolearn.config import CollectConfig
    from robolearn.data.collect import collect

    out = tmp_path_factory.mktemp("bp") / "blockpush.hdf5"
    # collect's defaults, as a user gets them (BlockPush's expert records with DART noise 0.2).
    return collect(CollectConfig(env="robolearn/BlockPush-v0", episodes=20, out=out, seed=0, image_size=32))


@pytest.fixture(scope="session")
def reach_demos(tmp_path_factory):
    """20 Reach episodes at 32 and 64 px: floor colour and 3 distractors redrawn every episode."""
    from robolearn.config import CollectConfig
    from robolearn.data.collect import collect

    root = tmp_path_factory.mktemp("reach")
    return {size: collect(CollectConfig(env="robolearn/Reach-v0", episodes=20, image_size=size, seed=0, workers=1,
                                        out=root / f"reach{size}.hdf5")) for size in (32, 64)}


@pytest.fixture(scope="session")
def reach_pool(tmp_path_factory):
    """The cpu suite's Reach task and the pool its encoders pretrain on, as the bench collects it (200 demos
    of `robolearn/Reach-v0`, 32 px)."""
    from robolearn.bench import SUITES
    from robolearn.config import CollectConfig
    from robolearn.data.collect import collect
    from robolearn.pipeline import PRETRAIN_DATA_SEED

    (task,) = [t for t in SUITES["cpu"]() if t.name == "reach"]
    data = collect(CollectConfig(env=task.pretrain_envs[0], episodes=task.pretrain_demos, seed=PRETRAIN_DATA_SEED,
                                 image_size=task.image_size, cameras=task.cameras, workers=1,
                                 out=tmp_path_factory.mktemp("reach_pool") / "reach.hdf5"))
    return task, data
