"""robosuite and MetaWorld adapters: real physics, real rendering, the simulators' own success checks.

One expert episode per adapter family, image orientation, determinism per seed, state round trip,
clear errors (unknown task, missing optional dependency), lazy registration.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

import robolearn.rendering  # noqa: F401  (MUJOCO_GL before mujoco)
from robolearn.envs import get_task, make_env, metaworld_tasks, robosuite_tasks
from robolearn.errors import RobolearnError

# The `sim` extra is part of the install (`make venv`): without it these tests fail, loudly, instead of
# skipping; ROBOLEARN_NO_SIM=1 declares a machine without it on purpose (then only the tests that
# need no simulator run: errors, lazy registration).
_HAVE_SIM = all(importlib.util.find_spec(m) is not None for m in ("robosuite", "metaworld"))
needs_sim = pytest.mark.skipif(not _HAVE_SIM and os.environ.get("ROBOLEARN_NO_SIM") == "1",
                               reason="ROBOLEARN_NO_SIM=1: no `sim` extra (robosuite, metaworld)")

LIFT, MW = "robosuite/Lift-v0", "metaworld/pick-place-v3"


@pytest.fixture(scope="module")
def lift():
    env = make_env(LIFT, image_size=48)
    yield env
    env.close()


@pytest.fixture(scope="module")
def pick_place():
    env = make_env(MW, image_size=48)
    yield env
    env.close()


def expert_rng(seed: int) -> np.random.Generator:
    from robolearn.envs import expert_rng

    return expert_rng(seed)


def run_expert(env, env_id: str, seed: int, max_steps: int | None = None):
    obs, info = env.reset(seed=seed)
    expert = get_task(env_id).expert(env, expert_rng(seed))
    observations, infos = [obs], [info]
    while max_steps is None or len(infos) <= max_steps:
        obs, reward, terminated, truncated, info = env.step(expert.act(obs))
        assert reward == info["success"]
        observations.append(obs)
        infos.append(info)
        if terminated or truncated:
            break
    return observations, infos


@pytest.mark.slow
@needs_sim
@pytest.mark.parametrize("fixture, env_id", [("lift", LIFT), ("pick_place", MW)])
def test_expert_episode_succeeds_with_images(request, fixture, env_id):
    env = request.getfixturevalue(fixture)
    task = get_task(env_id)
    observations, infos = run_expert(env, env_id, seed=7)
    assert infos[-1]["is_success"] and infos[-1]["success"] == 1.0
    assert not any(i["is_success"] for i in infos[:-1])  # solving ends the episode
    obs = observations[-1]
    assert set(obs) == {f"{c}_image" for c in task.DEFAULT_CAMERAS} | {"proprio", "state"}
    for c in task.DEFAULT_CAMERAS:
        img = obs[f"{c}_image"]
        assert img.dtype == np.uint8 and img.shape == (48, 48, 3) and img.std() > 10
        # The scene changed between the first and the last frame (the arm moved, an object moved).
        assert np.abs(img.astype(int) - observations[0][f"{c}_image"]).mean() > 1
    for k in ("proprio", "state"):
        assert obs[k].dtype == np.float32 and env.observation_space[k].contains(obs[k])
    feats = task.task_features(env)
    assert feats.dtype == np.float32 and feats.shape == (len(task.FEATURE_NAMES),)
    assert env.action_space.shape == ((7,) if fixture == "lift" else (4,))


@pytest.mark.slow
@needs_sim
@pytest.mark.parametrize("env_id", ["robosuite/Stack-v0", "robosuite/Door-v0"])
def test_stack_and_door_experts_solve_an_episode(env_id):
    """The other robosuite experts, physics only (their success over 50 seeds:
    benchmarks/results/robosuite_expert/)."""
    env = make_env(env_id, render=False)
    try:
        _, infos = run_expert(env, env_id, seed=0)
    finally:
        env.close()
    assert infos[-1]["is_success"] and not any(i.get("sim_fault") for i in infos)


@pytest.mark.slow
@needs_sim
@pytest.mark.parametrize("fixture", ["lift", "pick_place"])
def test_gymnasium_check_env(request, fixture):
    import warnings

    from gymnasium.utils.env_checker import check_env

    env = request.getfixturevalue(fixture)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    assert [str(w.message) for w in caught] == []


def _blob_row(img: np.ndarray, channel: int) -> float:
    """Mean row of the pixels that are strongly one primary colour."""
    img = img.astype(int)
    others = [c for c in range(3) if c != channel]
    mask = (img[..., channel] > 120) & (img[..., others[0]] < 60) & (img[..., others[1]] < 60)
    assert mask.sum() >= 3, "the painted object is not in view"
    return float(np.nonzero(mask)[0].mean())


def _raise_and_render(env, qpos_z_addr: int, dz: float, camera: str) -> np.ndarray:
    u = env.unwrapped
    u.data.qpos[qpos_z_addr] += dz
    import mujoco

    mujoco.mj_forward(u.model, u.data)
    return u.render_all(force=True)[camera]


@pytest.mark.slow
@needs_sim
@pytest.mark.parametrize("camera", ["agentview"])
def test_robosuite_images_right_way_up(lift, camera):
    """Lift the cube 15 cm in the world: in an upright image it moves up (smaller row).

    Rendered upside down (OpenGL's bottom-up rows, as robosuite's own pipeline returns them
    before flipping) the cube would move down instead."""
    import mujoco

    u = lift.unwrapped
    lift.reset(seed=1)
    cube_geoms = [g for g in range(u.model.ngeom) if u.model.geom_bodyid[g] == u.rs.cube_body_id]
    saved = u.model.geom_rgba[cube_geoms].copy(), u.model.geom_matid[cube_geoms].copy()
    u.model.geom_matid[cube_geoms] = -1  # no texture: the plain colour below shows
    u.model.geom_rgba[cube_geoms] = [0, 0, 1, 1]  # pure blue: nothing else in the scene is
    try:
        jnt = u.model.body_jntadr[u.rs.cube_body_id]
        z = u.model.jnt_qposadr[jnt] + 2
        low = _blob_row(_raise_and_render(lift, z, 0.0, camera), 2)
        high = _blob_row(_raise_and_render(lift, z, 0.15, camera), 2)
        assert high < low - 3
        # And the table top fills the lower part of the frame: its rows are below the cube's.
        frame = u.render_all(force=True)[camera].astype(int)
        bright = frame.min(axis=2) > 170  # the white table top
        assert np.nonzero(bright)[0].mean() > high
    finally:
        u.model.geom_rgba[cube_geoms], u.model.geom_matid[cube_geoms] = saved
        mujoco.mj_forward(u.model, u.data)


def _red_centroid(img: np.ndarray) -> np.ndarray:
    img = img.astype(int)
    mask = (img[..., 0] > img[..., 1] + 50) & (img[..., 0] > img[..., 2] + 50)  # red
    assert mask.sum() >= 3, "the red object is not in view"
    return np.argwhere(mask).mean(0)


@pytest.mark.slow
@needs_sim
@pytest.mark.parametrize("fixture, env_id", [("lift", LIFT), ("pick_place", MW)])
def test_light_meshes_render_what_full_meshes_render(request, fixture, env_id):
    """The decimated render model (the default) shows what the simulator's full meshes show: every
    pixel within a few levels on average, the red object (Lift's cube; MetaWorld's puck and arm) at
    the same place in every camera, after the same actions from the same reset."""
    env = request.getfixturevalue(fixture)
    full = make_env(env_id, image_size=48, light_meshes=False)
    try:
        u = env.unwrapped
        rng = np.random.default_rng(0)
        for seed in (0, 1):
            a, _ = full.reset(seed=seed)
            b, _ = env.reset(seed=seed)
            for _ in range(6):
                act = rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)
                a, *_ = full.step(act)
                b, *_ = env.step(act)
            for cam in u.cameras:
                x, y = a[f"{cam}_image"].astype(int), b[f"{cam}_image"].astype(int)
                assert np.abs(x - y).mean() < 2.0, cam
                assert np.abs(_red_centroid(x) - _red_centroid(y)).max() < 1.0, cam
        # What makes it cheaper: at most 40% of the triangles are drawn.
        assert u._render_twin.model.mesh_facenum.sum() < 0.4 * u.model.mesh_facenum.sum()
    finally:
        full.close()


@pytest.mark.slow
@needs_sim
def test_metaworld_corner_cameras_turned_right_way_up():
    """MetaWorld's corner cameras are authored upside down; the adapter turns them.

    Raise the puck 15 cm: it must move up in every corner camera's image."""
    env = make_env(MW, image_size=96, cameras=["corner", "corner2", "corner3", "corner4"])
    try:
        u = env.unwrapped
        assert set(u.flipped_cameras) >= {"corner", "corner2", "corner3", "corner4"}
        env.reset(seed=2)
        geom = u.model.geom("objGeom").id
        u.model.geom_matid[geom] = -1
        u.model.geom_rgba[geom] = [0, 0, 1, 1]
        u.model.site_rgba[:, 3] = 0  # hide the goal marker (blue in this task)
        z = u.model.jnt_qposadr[u.model.body_jntadr[u.model.geom_bodyid[geom]]] + 2
        _raise_and_render(env, z, 0.0, "corner")
        low = {c: _blob_row(f, 2) for c, f in u.render_all(force=True).items()}
        _raise_and_render(env, z, 0.15, "corner")
        high = {c: _blob_row(f, 2) for c, f in u.render_all(force=True).items()}
        for c in low:
            assert high[c] < low[c] - 2, (c, low[c], high[c])
    finally:
        env.close()


@pytest.mark.slow
@needs_sim
@pytest.mark.parametrize("fixture, env_id, steps", [("lift", LIFT, 15), ("pick_place", MW, 30)])
def test_deterministic_per_seed(request, fixture, env_id, steps):
    env = request.getfixturevalue(fixture)
    a, _ = run_expert(env, env_id, seed=11, max_steps=steps)
    other, _ = run_expert(env, env_id, seed=12, max_steps=2)
    b, _ = run_expert(env, env_id, seed=11, max_steps=steps)
    assert len(a) == len(b)
    for oa, ob in zip(a, b):
        for k in oa:
            np.testing.assert_array_equal(oa[k], ob[k])
    # Another seed is another layout (object poses in the privileged state).
    assert np.abs(other[0]["state"] - a[0]["state"]).max() > 1e-3


@pytest.mark.slow
@needs_sim
@pytest.mark.parametrize("fixture, env_id", [("lift", LIFT), ("pick_place", MW)])
def test_state_round_trip_reproduces_next_observation(request, fixture, env_id):
    env = request.getfixturevalue(fixture)
    u = env.unwrapped
    obs, _ = env.reset(seed=5)
    expert = get_task(env_id).expert(env, expert_rng(5))
    for _ in range(10):
        obs, *_ = env.step(expert.act(obs))
    state = u.get_state()
    assert state.dtype == np.float64 and state.shape == (u.state_size,)
    action = expert.act(obs)
    want, *_ = env.step(action)
    env.reset(seed=99)  # elsewhere entirely
    u.set_state(state)
    got, *_ = env.step(action)
    for k in want:
        if fixture == "pick_place":  # MetaWorld: bit for bit
            np.testing.assert_array_equal(got[k], want[k])
        elif k.endswith("_image"):  # robosuite: its controllers keep a little state of their own
            assert np.abs(got[k].astype(int) - want[k]).mean() < 1.0
        else:
            np.testing.assert_allclose(got[k], want[k], atol=2e-3)
    with pytest.raises(RobolearnError, match="expected"):
        u.set_state(state[:-1])


@pytest.mark.slow
@needs_sim
def test_two_metaworld_envs_in_one_process_render_like_one_alone():
    """The reported corruption with several MetaWorld envs per process does not occur here: each
    env has its own renderer, and interleaved rendering gives the frames a lone env gives."""
    alone = make_env(MW, image_size=32)
    try:
        alone.reset(seed=3)
        want = {k: v.copy() for k, v in alone.unwrapped.render_all(force=True).items()}
    finally:
        alone.close()
    a, b = make_env(MW, image_size=32), make_env("metaworld/door-open-v3", image_size=32)
    try:
        a.reset(seed=3)
        b.reset(seed=4)
        for _ in range(3):
            fb = b.unwrapped.render_all(force=True)
            fa = a.unwrapped.render_all(force=True)
        for k in want:
            np.testing.assert_array_equal(fa[k], want[k])
            assert not np.array_equal(fb[k], want[k])
    finally:
        a.close()
        b.close()


def test_unknown_task_names_raise_one_line_errors():
    with pytest.raises(RobolearnError) as e:
        make_env("metaworld/pick-place-v2")
    assert "did you mean 'metaworld/pick-place-v3'" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(RobolearnError, match="unknown MetaWorld task 'nope-v3'"):
        metaworld_tasks.MetaWorldEnv(task="nope-v3")
    with pytest.raises(RobolearnError, match="unknown robosuite task 'Nope'"):
        robosuite_tasks.RobosuiteEnv(task="Nope")
    if _HAVE_SIM:  # camera names are checked against the built model
        with pytest.raises(RobolearnError, match="unknown camera 'wrist'"):
            make_env(MW, cameras=["wrist"])


@pytest.mark.parametrize("module, env_id", [("robosuite", LIFT), ("metaworld", MW)])
def test_missing_optional_dependency_names_the_extra(monkeypatch, module, env_id):
    # A None entry in sys.modules makes `import module` raise ImportError, as when not installed.
    for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(RobolearnError) as e:
        make_env(env_id)
    msg = str(e.value)
    assert "pip install 'robolearn[sim]'" in msg and module in msg and "\n" not in msg


def test_registering_imports_neither_simulator():
    code = ("import sys, robolearn.envs as e; "
            "assert 'robosuite/Door-v0' in e.TASKS and 'metaworld/window-close-v3' in e.TASKS; "
            "print('robosuite' in sys.modules, 'metaworld' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@needs_sim
def test_task_lists_match_metaworld():
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS, ML45_V3
    from metaworld.policies import ENV_POLICY_MAP

    assert sorted(metaworld_tasks.MT50) == sorted(ALL_V3_ENVIRONMENTS)
    assert set(metaworld_tasks.MT50) <= set(ENV_POLICY_MAP)
    assert sorted(metaworld_tasks.ML45_TEST) == sorted(ML45_V3["test"])
    from metaworld.env_dict import ML10_V3

    for size, split in (("ml45", ML45_V3), ("small", ML10_V3)):
        pool, held_out = metaworld_tasks.fewshot_split(size)
        assert sorted(pool) == sorted(metaworld_tasks.env_id(t) for t in split["train"])
        assert sorted(held_out) == sorted(metaworld_tasks.env_id(t) for t in split["test"])
        assert not set(pool) & set(held_out) and set(pool) | set(held_out) <= set(metaworld_tasks.TASKS)
    with pytest.raises(RobolearnError, match="unknown few-shot split"):
        metaworld_tasks.fewshot_split("ml100")


@pytest.mark.slow
@needs_sim
def test_collect_and_expert_eval_through_robolearn(tmp_path, pick_place):
    """`robolearn collect` and `robolearn eval --policy expert` (spawned workers) on an adapter task,
    through the same code paths as our own tasks."""
    import h5py

    from robolearn.config import CollectConfig, EvalConfig
    from robolearn.data.collect import collect
    from robolearn.data.store import open_store
    from robolearn.evaluate import evaluate

    env_id = MW
    out = collect(CollectConfig(env=env_id, episodes=2, out=tmp_path / "mw.hdf5", image_size=24, valid_fraction=0.5))
    task = get_task(env_id)
    with open_store(out) as store:
        demo = store.demo_names()[0]
        n = store.length(demo)
        assert store.images(demo).shape[:2] == (n, len(task.DEFAULT_CAMERAS))
        assert store.task_features(demo).shape == (n, len(task.FEATURE_NAMES))
        assert store.states(demo).shape == (n, pick_place.unwrapped.state_size)
    with h5py.File(out, "r") as f:
        g = f[f"data/{demo}"]
        assert g["obs/state"].shape == (n, 17) and g["obs/proprio"].shape == (n, 4)
        assert g.attrs["success"] == 1.0
    res = evaluate(EvalConfig(policy="expert", env=env_id, episodes=2, workers=2, videos=0,
                              out=tmp_path / "eval", image_size=24, wandb="disabled"))
    assert res["success_rate"] == 1.0 and res["episodes"] == 2


@pytest.mark.slow
@needs_sim
@pytest.mark.skipif(not __import__("ctypes.util").util.find_library("OSMesa"), reason="no OSMesa library")
def test_osmesa_fallback_renders_both_families():
    """The software fallback (no EGL): both adapters render under MUJOCO_GL=osmesa, in a fresh process."""
    import os

    code = ("import robolearn.rendering as r; from robolearn.envs import make_env\n"
            "for i in ('robosuite/Lift-v0', 'metaworld/reach-v3'):\n"
            "    e = make_env(i, image_size=16); o, _ = e.reset(seed=0)\n"
            "    print(r.BACKEND, i, min(float(v.std()) for k, v in o.items() if k.endswith('_image')))\n"
            "    e.close()\n")
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    env["MUJOCO_GL"] = "osmesa"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.split("\n")[:2]
    assert [ln.split()[:2] for ln in lines] == [["osmesa", "robosuite/Lift-v0"], ["osmesa", "metaworld/reach-v3"]]
    assert all(float(ln.split()[2]) > 5 for ln in lines)  # real pictures, not blank frames
