"""The two MuJoCo tasks and their experts, with real physics and real (headless) rendering."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import robolearn.rendering  # noqa: F401  (MUJOCO_GL before mujoco)
from robolearn.envs import TASKS, expert_rng, get_task, make_env
from robolearn.errors import RobolearnError

PM, BP = "robolearn/PointMass-v0", "robolearn/BlockPush-v0"
IDS = [PM, BP, "robolearn/Reach-v0", "robolearn/ReachTarget-v0"]


@pytest.fixture
def env_factory():
    """make_env that closes every env it made, so GL contexts do not pile up across tests."""
    made = []

    def make(env_id, **kwargs):
        env = make_env(env_id, **kwargs)
        made.append(env)
        return env

    yield make
    for env in made:
        env.close()


def run_expert(env, env_id: str, seed: int, max_steps: int | None = None):
    """One expert episode: (observations, actions, infos), observations including the reset one."""
    obs, info = env.reset(seed=seed)
    expert = get_task(env_id).expert(env, expert_rng(seed))
    observations, actions, infos = [obs], [], [info]
    while max_steps is None or len(actions) < max_steps:
        action = expert.act(obs)
        obs, _, terminated, truncated, info = env.step(action)
        observations.append(obs)
        actions.append(action)
        infos.append(info)
        if terminated or truncated:
            break
    return observations, actions, infos


@pytest.mark.parametrize("env_id", IDS)
def test_gymnasium_check_env(env_factory, env_id):
    env = env_factory(env_id, image_size=32, render_mode="rgb_array")
    from gymnasium.utils.env_checker import check_env

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize("env_id", IDS)
def test_interface(env_factory, env_id):
    task = get_task(env_id)
    env = env_factory(env_id, image_size=32)
    u = env.unwrapped
    assert set(env.observation_space.spaces) == {f"{c}_image" for c in task.DEFAULT_CAMERAS} | {"proprio", "state"}
    assert env.action_space.shape == (2,) and env.action_space.dtype == np.float32
    assert u.control_hz == 10 and u.state_size == u.get_state().size
    obs, info = env.reset(seed=0)
    assert info["success"] == 0.0 and info["is_success"] is False
    assert obs["proprio"].dtype == np.float32 and obs[f"{task.DEFAULT_CAMERAS[0]}_image"].shape == (32, 32, 3)
    feats = task.task_features(env)
    assert feats.dtype == np.float32 and feats.shape == (len(task.FEATURE_NAMES),)
    expert = task.expert(env, np.random.default_rng(0))
    assert isinstance(expert.mode, int)
    action = expert.act(obs)
    assert action.dtype == np.float32 and action.shape == (2,) and np.abs(action).max() <= 1.0
    obs, reward, terminated, truncated, info = env.step(action)
    assert {"success", "is_success"} <= set(info) and reward == info["success"]


@pytest.mark.slow
@pytest.mark.parametrize("env_id", IDS)
def test_expert_solves_the_task(env_factory, env_id):
    env = env_factory(env_id, render=False)
    for seed in range(5):
        _, _, infos = run_expert(env, env_id, seed)
        assert infos[-1]["is_success"] and infos[-1]["success"] == 1.0, f"seed {seed}: {infos[-1]}"
        assert all("success" in i for i in infos)
    # Horizon truncation: a do-nothing policy runs out of time without solving.
    env = env_factory(env_id, render=False, horizon=7)
    env.reset(seed=0)
    for step in range(7):
        _, _, terminated, truncated, info = env.step(np.zeros(2, np.float32))
        assert not terminated and truncated == (step == 6)


def test_blockpush_expert_is_multimodal(env_factory):
    env = env_factory(BP, render=False)
    env.reset(seed=0)
    modes = {get_task(BP).expert(env, np.random.default_rng(s)).mode for s in range(20)}
    assert modes == {0, 1, 2, 3}
    # The chosen plan is recorded in the task features (last two: first_block, block1_target).
    expert = get_task(BP).expert(env, np.random.default_rng(3))
    feats = get_task(BP).task_features(env)
    assert (feats[-2], feats[-1]) == (expert.mode // 2, expert.mode % 2)


def test_blockpush_expert_mode_can_be_fixed(env_factory):
    env = env_factory(BP, render=False)
    env.reset(seed=0)
    task = get_task(BP)
    for mode in range(4):
        expert = task.expert(env, np.random.default_rng(0), mode=mode)
        assert expert.mode == mode and tuple(env.unwrapped.plan) == (mode // 2, mode % 2)
    with pytest.raises(RobolearnError, match="mode"):
        task.expert(env, np.random.default_rng(0), mode=4)


@pytest.mark.slow
def test_blockpush_expert_is_memoryless(env_factory):
    """An action depends on the current state and the mode only (what a cloned policy can see):
    an expert made mid-episode, or made in another env restored to the same state, acts exactly
    like the one that has run since the reset, at every step of a whole episode."""
    task = get_task(BP)
    env, other = env_factory(BP, render=False), env_factory(BP, render=False)
    other.reset(seed=1)
    for seed in (5, 6):
        obs, _ = env.reset(seed=seed)
        expert = task.expert(env, np.random.default_rng(seed))
        first_blocks = set()
        for step in range(env.unwrapped.horizon):
            action = expert.act(obs)
            fresh = task.expert(env, np.random.default_rng(1000 + step), mode=expert.mode)
            np.testing.assert_array_equal(fresh.act(obs), action, err_msg=f"seed {seed} step {step}")
            other.unwrapped.set_state(env.unwrapped.get_state())
            elsewhere = task.expert(other, np.random.default_rng(2000 + step), mode=expert.mode)
            np.testing.assert_array_equal(elsewhere.act(None), action, err_msg=f"seed {seed} step {step}")
            first_blocks.add(expert.current_block())
            obs, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
        assert info["is_success"] and first_blocks == {0, 1}  # both blocks pushed, the switch included


def test_blockpush_partial_success_counts_half(env_factory):
    env = env_factory(BP, render=False)
    env.reset(seed=0)
    u = env.unwrapped
    # Teleport block 1 onto target 2: one zone of two is filled.
    a = u._block_qpos[0]
    u.data.qpos[a: a + 2] = u.target_pos(1)
    _, _, terminated, _, info = env.step(np.zeros(2, np.float32))
    assert info["success"] == 0.5 and not info["is_success"] and not terminated


def test_frames_are_not_blank_and_cameras_differ(env_factory):
    env = env_factory(BP, image_size=64)
    obs, _ = env.reset(seed=1)
    over, side = obs["overview_image"], obs["side_image"]
    for img in (over, side):
        assert img.dtype == np.uint8 and img.shape == (64, 64, 3)
        assert img.std() > 10.0
    assert np.abs(over.astype(np.int16) - side.astype(np.int16)).mean() > 10.0
    pm = env_factory(PM, image_size=64)
    obs, _ = pm.reset(seed=1)
    assert obs["top_image"].std() > 10.0
    # render() is the first camera's frame, for videos.
    rgb = env_factory(BP, image_size=48, render_mode="rgb_array")
    obs, _ = rgb.reset(seed=2)
    np.testing.assert_array_equal(rgb.render(), obs["overview_image"])


@pytest.mark.slow
@pytest.mark.parametrize("env_id", IDS)
def test_same_seed_same_episode(env_factory, env_id):
    env = env_factory(env_id, image_size=24)
    a_obs, a_act, _ = run_expert(env, env_id, seed=7, max_steps=25)
    b_obs, b_act, _ = run_expert(env, env_id, seed=7, max_steps=25)
    assert len(a_act) == len(b_act)
    np.testing.assert_array_equal(np.stack(a_act), np.stack(b_act))
    for x, y in zip(a_obs, b_obs):
        for k in x:
            np.testing.assert_array_equal(x[k], y[k])
    c_obs, _, _ = run_expert(env, env_id, seed=8, max_steps=3)
    assert not np.array_equal(a_obs[0]["proprio"], c_obs[0]["proprio"])


def test_pointmass_goal_is_only_in_the_image(env_factory):
    env = env_factory(PM, image_size=32)
    env.reset(seed=0)
    u = env.unwrapped
    state = u.get_state()
    other = state.copy()
    other[-1] = (u.goal_index + 1) % 4  # the task state is the goal index
    action = np.array([0.3, -0.2], np.float32)
    u.set_state(state)
    obs_a, *_ = env.step(action)
    u.set_state(other)
    obs_b, *_ = env.step(action)
    np.testing.assert_array_equal(obs_a["proprio"], obs_b["proprio"])
    assert np.abs(obs_a["top_image"].astype(np.int16) - obs_b["top_image"].astype(np.int16)).max() > 50
    # The goal is in the privileged `state` (for the state ceiling), never in what an image policy reads.
    assert set(obs_a) == {"top_image", "proprio", "state"}
    np.testing.assert_allclose(obs_b["state"], u.goal)
    # Goals are drawn per reset seed, and all of them occur.
    goals = set()
    for seed in range(30):
        env.reset(seed=seed)
        goals.add(u.goal_index)
    assert goals == {0, 1, 2, 3}


@pytest.mark.parametrize("env_id", IDS)
def test_state_round_trip_reproduces_next_observation(env_factory, env_id):
    env = env_factory(env_id, image_size=24)
    task = get_task(env_id)
    obs, _ = env.reset(seed=3)
    expert = task.expert(env, np.random.default_rng(3))
    for _ in range(12):
        obs, *_ = env.step(expert.act(obs))
    state = env.unwrapped.get_state()
    assert state.dtype == np.float64 and state.shape == (env.unwrapped.state_size,)
    action = expert.act(obs)
    want, *_ = env.step(action)
    want_feats = task.task_features(env)
    for _ in range(5):
        env.step(np.ones(2, np.float32))
    # Restored in the same env after it moved on, and in a fresh env reset to another seed.
    fresh = env_factory(env_id, image_size=24)
    fresh.reset(seed=99)
    for e in (env, fresh):
        e.unwrapped.set_state(state)
        got, *_ = e.step(action)
        for k in want:
            np.testing.assert_array_equal(got[k], want[k])
        np.testing.assert_array_equal(task.task_features(e), want_feats)
    with pytest.raises(RobolearnError):
        env.unwrapped.set_state(state[:-1])


@pytest.mark.parametrize("env_id", IDS)
def test_simulator_fault_ends_episode_instead_of_raising(env_factory, env_id):
    env = env_factory(env_id, image_size=16)
    env.reset(seed=0)
    env.unwrapped.data.qvel[:] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the passive checker may flag the fault step's observation
        obs, reward, terminated, truncated, info = env.step(np.zeros(2, np.float32))
        assert terminated and info["sim_fault"] and info["success"] == 0.0
        assert np.isfinite(obs["proprio"]).all()
        env.reset(seed=0)
        _, _, terminated, _, info = env.step(np.array([np.nan, 0.0], np.float32))
    assert terminated and info["sim_fault"]


def test_unknown_env_id_raises():
    for call in (get_task, make_env):
        with pytest.raises(RobolearnError) as e:
            call("robolearn/Nope-v0")
        msg = str(e.value)
        assert "unknown env id 'robolearn/Nope-v0'" in msg and "\n" not in msg
        assert all(k in msg for k in TASKS)


def test_unknown_camera_raises():
    with pytest.raises(RobolearnError, match="unknown camera 'wrist'"):
        make_env(BP, cameras=["wrist"])


def test_blockpush_info_names_the_mode_executed_and_counts_blocks_and_switches(env_factory):
    """What a rollout reports: the expert's own mode is read back from the physics, both blocks
    entered a zone, and the pusher went from one block to the other (at least) once."""
    task = get_task(BP)
    env = env_factory(BP, render=False)
    for mode in range(4):
        obs, info = env.reset(seed=40 + mode)
        assert (info["mode_executed"], info["blocks_entered"], info["block_switches"]) == (-1, 0, 0)
        expert = task.expert(env, expert_rng(40 + mode), mode=mode)
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(expert.act(obs))
            done = terminated or truncated
        assert info["is_success"] and info["mode_executed"] == mode
        assert info["blocks_entered"] == 2 and info["block_switches"] >= 1
