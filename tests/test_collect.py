"""`collect`: the real BlockPush expert into a robomimic-layout file; determinism across seeds and workers."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from robolearn.config import CollectConfig
from robolearn.data.collect import _noise_rng, collect
from robolearn.errors import RobolearnError

ENV = "robolearn/BlockPush-v0"


def cfg(out, **kw) -> CollectConfig:
    return CollectConfig(**{"env": ENV, "episodes": 3, "out": out, "seed": 0, "image_size": 32,
                            "valid_fraction": 0.34, **kw})


def read(path) -> dict:
    with h5py.File(path, "r") as f:
        names = sorted(f["data"].keys(), key=lambda s: int(s.split("_")[1]))
        return {n: {k: f["data"][n][k][()] for k in ("actions", "states", "task_features", "obs/proprio")}
                | {"mode": int(f["data"][n].attrs["mode"])} for n in names}


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    return collect(cfg(tmp_path_factory.mktemp("c") / "bp.hdf5"))


def test_layout(collected):
    from robolearn.envs import get_task

    task = get_task(ENV)
    with h5py.File(collected, "r") as f:
        data = f["data"]
        assert sorted(data.keys()) == ["demo_0", "demo_1", "demo_2"]
        env_args = json.loads(data.attrs["env_args"])
        assert env_args["env_name"] == ENV and env_args["env_kwargs"]["image_size"] == 32
        assert env_args["env_kwargs"]["cameras"] == list(task.DEFAULT_CAMERAS)
        assert json.loads(data.attrs["feature_names"]) == list(task.FEATURE_NAMES)
        total = 0
        for name in data:
            g = data[name]
            n = g["actions"].shape[0]
            total += n
            assert g.attrs["num_samples"] == n and g["actions"].dtype == np.float32
            assert g["states"].dtype == np.float64 and g["states"].shape[0] == n
            assert g["rewards"].shape == (n,) and g["dones"][-1] == 1 and g["dones"][:-1].sum() == 0
            assert g["task_features"].shape == (n, len(task.FEATURE_NAMES))
            assert g.attrs["success"] > 0 and g.attrs["mode"] >= 0
            for cam in task.DEFAULT_CAMERAS:
                img = g[f"obs/{cam}_image"]
                assert img.dtype == np.uint8 and img.shape == (n, 32, 32, 3) and img.chunks == (1, 32, 32, 3)
                assert img.compression is not None
            assert g["obs/proprio"].dtype == np.float32 and g["obs/proprio"].shape[0] == n
            assert np.abs(g["actions"][()]).max() <= 1.0
        assert int(data.attrs["total"]) == total
        masks = [x for k in ("train", "valid") for x in f["mask"][k][()]]
        assert sorted(masks) == [b"demo_0", b"demo_1", b"demo_2"] and len(f["mask/valid"]) == 1


def test_obs_action_pairs(collected):
    """obs_t is what a_t was chosen from: replaying the expert on the stored obs gives the stored action."""
    from robolearn.envs import expert_rng, get_task, make_env

    task = get_task(ENV)
    env = make_env(ENV, image_size=32)
    try:
        obs, _ = env.reset(seed=0)
        expert = task.expert(env, expert_rng(0))
        with h5py.File(collected, "r") as f:
            g = f["data/demo_0"]
            np.testing.assert_array_equal(obs["proprio"], g["obs/proprio"][0])
            np.testing.assert_array_equal(expert.act(obs), g["actions"][0])
            # The env executed the stored (clean) action plus the task's default DART noise.
            noise = _noise_rng(0).normal(0.0, f["data"].attrs["collect_expert_noise"], 2)
            assert f["data"].attrs["collect_expert_noise"] == get_task(ENV).EXPERT_NOISE > 0
            obs, *_ = env.step(np.clip(g["actions"][0] + noise, -1, 1).astype(np.float32))
            np.testing.assert_array_equal(obs["proprio"], g["obs/proprio"][1])
    finally:
        env.close()


@pytest.mark.slow
def test_deterministic_for_seed_and_workers(collected, tmp_path):
    a = read(collected)
    b = read(collect(cfg(tmp_path / "again.hdf5", workers=2)))
    assert a.keys() == b.keys()
    for n in a:
        for k in a[n]:
            np.testing.assert_array_equal(a[n][k], b[n][k], err_msg=f"{n}/{k}")


def test_refusals_before_work(collected, tmp_path):
    out = tmp_path / "exists.hdf5"
    out.write_bytes(b"keep me")
    with pytest.raises(RobolearnError, match="exists"):
        collect(cfg(out))
    assert out.read_bytes() == b"keep me"
    with pytest.raises(RobolearnError):
        collect(cfg(tmp_path / "x.hdf5", env="robolearn/NoSuchEnv-v0"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists.hdf5"]


def test_gives_up_when_the_expert_keeps_failing(collected, tmp_path):
    out = tmp_path / "short.hdf5"
    # 5 steps are far too few to push a block: every attempt fails; 2 x 1.5 = 3 attempts, then stop.
    with pytest.raises(RobolearnError, match="only 0 of 3 attempts"):
        collect(cfg(out, episodes=2, horizon=5, max_attempts_factor=1.5))
    assert list(tmp_path.iterdir()) == []  # no final file, no temp file


def test_dart_noise_is_executed_but_the_clean_action_is_recorded(tmp_path):
    """expert_noise perturbs what the env executes; the file holds the expert's clean action for
    each stored state, and expert_mode fixes every episode's mode."""
    from robolearn.envs import get_task, make_env

    out = collect(cfg(tmp_path / "dart.hdf5", episodes=2, expert_noise=0.3, expert_mode=2))
    task = get_task(ENV)
    env = make_env(ENV, render=False)
    try:
        env.reset(seed=0)
        with h5py.File(out, "r") as f:
            assert f["data"].attrs["collect_expert_noise"] == 0.3 and f["data"].attrs["collect_expert_mode"] == 2
            for name in f["data"]:
                g = f["data"][name]
                assert g.attrs["mode"] == 2
                states, actions = g["states"][()], g["actions"][()]
                perturbed = 0
                for t in range(len(actions) - 1):
                    env.unwrapped.set_state(states[t])
                    clean = task.expert(env, np.random.default_rng(0), mode=2).act(None)
                    np.testing.assert_array_equal(clean, actions[t])
                    env.step(actions[t])
                    perturbed += not np.allclose(env.unwrapped.get_state(), states[t + 1])
                assert perturbed >= 0.9 * (len(actions) - 1)
    finally:
        env.close()


def test_expert_option_refusals(tmp_path):
    with pytest.raises(RobolearnError, match="no mode"):
        collect(cfg(tmp_path / "pm.hdf5", env="robolearn/PointMass-v0", expert_mode=1))
    with pytest.raises(RobolearnError, match="expert_noise"):
        collect(cfg(tmp_path / "neg.hdf5", expert_noise=-0.1))
    assert list(tmp_path.iterdir()) == []


def test_no_images_records_physics_only(tmp_path):
    """--no-images: what a state policy reads (proprio, state), the same episodes, no frames."""
    from robolearn.data.store import open_store

    path = collect(cfg(tmp_path / "state.hdf5", episodes=2, images=False))
    with open_store(path) as store:
        assert store.cameras == [] and {"proprio", "state"} <= set(store.lowdim_keys)
        assert store.length("demo_0") > 10
