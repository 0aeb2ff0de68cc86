"""robosuite 1.5 tasks as robolearn envs: robosuite/Lift-v0, robosuite/Stack-v0, robosuite/Door-v0.

Panda arm, BASIC composite controller (OSC_POSE for the arm, delta input in the base frame, 20 Hz),
default gripper. robosuite is imported only when an env is made (`pip install 'robolearn[sim]'`).

- action (7, float32 in [-1, 1]): end-effector position delta (x 5 cm), axis-angle rotation delta
  (x 0.5 rad), gripper (-1 open, +1 close). These are robosuite's own OSC_POSE action semantics.
- observation: `<camera>_image` for `agentview` and `robot0_eye_in_hand` (uint8, the right way up),
  `proprio` = end-effector position (3), orientation quaternion (4, x y z w as robosuite reports
  it) and the two gripper finger joints, `state` = robosuite's `object-state` vector (object poses and
  object-to-gripper offsets: what robomimic's low-dim policies see).
- success: robosuite's own `_check_success`; solving ends the episode; reward = success.
- reset: robosuite's own placement samplers, driven by a generator reseeded from the reset seed.
  `hard_reset` is off, so the MuJoCo model is built once per env and reused.

Images are rendered here with `mujoco.Renderer` on robosuite's model (robosuite's own offscreen
renderer stays off): the GL backend is the one robolearn.rendering picked (EGL, else OSMesa), no
EGL device selection happens, shadows/reflections/skybox and multisampling are off, the
framebuffer is the image size, and the large visual meshes (Panda links, pedestal: 168k triangles)
are drawn decimated to 10% of their faces (`robolearn.envs.render_model`; the gripper keeps its
own): 64 px frames of both cameras cost a third of the CPU time, and differ from full-detail ones
by ~0.5 of 255 per pixel on average. `light_meshes=False` renders robosuite's full meshes. MuJoCo renders row 0 at the top, so no flip is needed (robosuite's
own pipeline flips because it reads OpenGL buffers bottom-up).

The scripted experts (`robolearn.envs.robosuite_experts`) read privileged simulator state (object poses,
joint angles) and use their own rng only for action noise; robosuite ships no experts.
"""
from __future__ import annotations

import robolearn.rendering  # noqa: F401  (MUJOCO_GL before mujoco)

import logging
import os
import traceback
from typing import Optional

import mujoco
import numpy as np
from gymnasium import spaces

from robolearn.envs.base import SimEnv
from robolearn.envs.render_model import RenderTwin
from robolearn.envs.robosuite_experts import DoorExpert, LiftExpert, StackExpert, wrap
from robolearn.errors import RobolearnError

DEFAULT_CAMERAS = ["agentview", "robot0_eye_in_hand"]
CONTROL_HZ = 20
PROPRIO_BOUND = 4.0  # positions within a few metres, quaternion and finger joints within 1
STATE_BOUND = 10.0
EXTRA = "sim"


def import_robosuite():
    """robosuite and its controller loader, or a one-line error naming the pip extra."""
    # robosuite logs several warnings on import (no private macro file, optional robot models):
    # noise for our users. A filter survives robosuite re-setting the logger's level.
    logging.getLogger("robosuite_logs").addFilter(lambda record: record.levelno >= logging.ERROR)
    # On import robosuite asserts that MUJOCO_EGL_DEVICE_ID is one of CUDA_VISIBLE_DEVICES and
    # rewrites MUJOCO_GL to "egl" unless it is osmesa/glx: its renderer's device selection, which
    # fails on many machines. robolearn renders with mujoco.Renderer (backend and device chosen
    # by robolearn.rendering and MuJoCo), so robosuite sees neither variable and both are restored.
    saved = {k: os.environ.pop(k) for k in ("MUJOCO_EGL_DEVICE_ID",) if k in os.environ}
    saved["MUJOCO_GL"] = os.environ.get("MUJOCO_GL", "")
    try:
        import robosuite
        from robosuite.controllers import load_composite_controller_config
    except ImportError as e:
        raise RobolearnError(
            f"robosuite tasks need the optional dependency robosuite ({e}); install it with "
            f"pip install 'robolearn[{EXTRA}]'") from None
    finally:
        os.environ.update(saved)
    return robosuite, load_composite_controller_config


# ---------------------------------------------------------------------------- env
class RobosuiteEnv(SimEnv):
    """One robosuite manipulation task behind robolearn's env interface (see the module docstring)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": CONTROL_HZ}

    def __init__(self, task: str = "Lift", image_size: int = 84, cameras: Optional[list[str]] = None,
                 horizon: Optional[int] = None, render: bool = True, render_mode: Optional[str] = None,
                 light_meshes: bool = True):
        super().__init__()
        self.light_meshes = bool(light_meshes)
        if task not in TASK_SPECS:
            raise RobolearnError(f"unknown robosuite task '{task}'; known: {', '.join(TASK_SPECS)}")
        self._init_render_args(image_size, render, render_mode)
        self._task_spec = TASK_SPECS[task]
        self.task = task
        self.horizon = int(horizon) if horizon is not None else self._task_spec.horizon
        if self.horizon < 1:
            raise RobolearnError(f"horizon must be at least 1, got {horizon}")
        self.control_hz = CONTROL_HZ

        suite, load_config = import_robosuite()
        self._rs = suite.make(
            task, robots="Panda", controller_configs=load_config(controller="BASIC", robot="Panda"),
            has_renderer=False, has_offscreen_renderer=False, use_camera_obs=False, use_object_obs=True,
            reward_shaping=False, control_freq=CONTROL_HZ, horizon=10**9, ignore_done=True,
            hard_reset=False, seed=0, **self._task_spec.make_kwargs)
        self.model: mujoco.MjModel = self._rs.sim.model._model
        self.data: mujoco.MjData = self._rs.sim.data._data
        robot = self._rs.robots[0]
        self._eef_site = int(robot.eef_site_id["right"])
        self._finger_qpos = [int(i) for i in robot._ref_gripper_joint_pos_indexes["right"]]

        self._init_cameras(cameras, DEFAULT_CAMERAS, f"robosuite/{task}", offsamples=0)
        # Visual meshes only, as robosuite renders them (group 0 holds the collision geoms).
        self._scene_option = mujoco.MjvOption()
        self._scene_option.geomgroup[0] = 0
        self._scene_option.geomgroup[1] = 1

        # The door's placement is written into the model (body_pos/quat), not qpos, so the saved
        # state carries those bodies' poses too.
        self._placed_bodies = [mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, b)
                               for b in self._task_spec.placed_bodies]
        self._phys_size = mujoco.mj_stateSize(self.model, mujoco.mjtState.mjSTATE_INTEGRATION)
        # OSC pulls the arm's null space toward the joint angles it had at reset (drawn with noise
        # per reset), so a restored state carries them too.
        self._n_arm = len(self._arm_controller().initial_joint)
        # The Panda gripper integrates its command (`current_action`, one entry per finger).
        self.state_size = self._phys_size + self._n_arm + 2 + 7 * len(self._placed_bodies)

        raw = self._rs.reset()
        s = self.image_size
        obs = {f"{c}_image": spaces.Box(0, 255, (s, s, 3), np.uint8) for c in self.cameras} if self.render_images else {}
        obs["proprio"] = spaces.Box(-PROPRIO_BOUND, PROPRIO_BOUND, (9,), np.float32)
        obs["state"] = spaces.Box(-STATE_BOUND, STATE_BOUND, raw["object-state"].shape, np.float32)
        self.observation_space = spaces.Dict(obs)
        self.action_space = spaces.Box(-1.0, 1.0, (self._rs.action_dim,), np.float32)
        self._raw = raw
        self._steps = 0

    def _get_renderer(self):
        if self._renderer is None and self.light_meshes and self._render_twin is None:
            # Built at the first render (physics-only envs never pay for it); the gripper, large in
            # the wrist camera's view, keeps its full meshes.
            self._render_twin = RenderTwin(self.model, mujoco.MjSpec.from_string(self._rs.model.get_xml()),
                                           keep_detail=("gripper",))
        return super()._get_renderer()

    def _arm_controller(self):
        # Looked up each time: robosuite builds new controllers at every reset.
        return self._rs.robots[0].composite_controller.part_controllers["right"]

    def _gripper(self):
        return self._rs.robots[0].gripper["right"]

    # ------------------------------------------------------------------ privileged state
    @property
    def rs(self):
        """The wrapped robosuite env (privileged access for experts and features)."""
        return self._rs

    @property
    def eef_pos(self) -> np.ndarray:
        return self.data.site_xpos[self._eef_site].copy()

    @property
    def eef_mat(self) -> np.ndarray:
        return self.data.site_xmat[self._eef_site].reshape(3, 3).copy()

    def body_pos(self, body_id: int) -> np.ndarray:
        return self.data.xpos[body_id].copy()

    def body_yaw(self, body_id: int) -> float:
        m = self.data.xmat[body_id].reshape(3, 3)
        return float(np.arctan2(m[1, 0], m[0, 0]))

    def success(self) -> bool:
        return bool(self._rs._check_success())

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        super().reset(seed=seed)
        # robosuite's samplers hold a reference to its generator, so it is reseeded in place.
        child = np.random.default_rng(int(self.np_random.integers(2**63)))
        self._rs.rng.bit_generator.state = child.bit_generator.state
        self._raw = self._rs.reset()
        self._steps = 0
        self._frames = None
        ok = self.success()
        return self._observation(), {"success": float(ok), "is_success": ok}

    def step(self, action):
        a = np.asarray(action, dtype=np.float64).reshape(self.action_space.shape)
        if not np.isfinite(a).all():
            return self._fault("non-finite action")
        try:
            self._raw, _, _, _ = self._rs.step(np.clip(a, -1.0, 1.0))
        except Exception as e:  # robosuite/MuJoCo errors end this episode, not the run
            return self._fault(f"{type(e).__name__}: {e}", traceback.format_exc())
        self._steps += 1
        self._frames = None
        if not (np.isfinite(self.data.qpos).all() and np.isfinite(self.data.qvel).all()):
            return self._fault("non-finite state")
        solved = self.success()
        truncated = not solved and self._steps >= self.horizon
        return self._observation(), float(solved), solved, truncated, {"success": float(solved), "is_success": solved}

    # ------------------------------------------------------------------ state
    def get_state(self) -> np.ndarray:
        """MuJoCo's integration state, the arm controller's null-space posture, the gripper's
        integrated command, then the pose (pos, quat) of each body placed in the model."""
        phys = np.empty(self._phys_size)
        mujoco.mj_getState(self.model, self.data, phys, mujoco.mjtState.mjSTATE_INTEGRATION)
        placed = [np.concatenate([self.model.body_pos[b], self.model.body_quat[b]]) for b in self._placed_bodies]
        grip = np.broadcast_to(self._gripper().current_action, (2,))
        return np.concatenate([phys, self._arm_controller().initial_joint, grip, *placed])

    def set_state(self, state) -> None:
        state = np.asarray(state, dtype=np.float64).ravel()
        if state.shape != (self.state_size,):
            raise RobolearnError(f"robosuite/{self.task}.set_state: expected {self.state_size} floats, got {state.size}")
        p = self._phys_size
        initial_joint = state[p: p + self._n_arm].copy()
        p += self._n_arm
        self._gripper().current_action = state[p: p + 2].copy()
        p += 2
        for i, b in enumerate(self._placed_bodies):
            chunk = state[p + 7 * i: p + 7 * (i + 1)]
            self.model.body_pos[b], self.model.body_quat[b] = chunk[:3], chunk[3:]
        mujoco.mj_setState(self.model, self.data, state[: self._phys_size], mujoco.mjtState.mjSTATE_INTEGRATION)
        mujoco.mj_forward(self.model, self.data)
        # The controllers cache the arm's state (pose, Jacobian, mass matrix) and refresh it only
        # when flagged; a controller built by the last reset is not flagged, so refresh by force.
        composite = self._rs.robots[0].composite_controller
        composite.update_state()
        for part in composite.part_controllers.values():
            part.update(force=True)
        self._arm_controller().update_initial_joints(initial_joint)
        self._raw = self._rs._get_observations(force_update=True)
        self._frames = None

    # ------------------------------------------------------------------ helpers
    def _observation(self) -> dict[str, np.ndarray]:
        obs = {}
        if self.render_images:
            for name, frame in self.render_all().items():
                obs[f"{name}_image"] = frame
        proprio = np.concatenate([self.eef_pos, self._raw["robot0_eef_quat"], self.data.qpos[self._finger_qpos]])
        obs["proprio"] = np.clip(proprio, -PROPRIO_BOUND, PROPRIO_BOUND).astype(np.float32)
        obs["state"] = np.clip(self._raw["object-state"], -STATE_BOUND, STATE_BOUND).astype(np.float32)
        return obs


# ---------------------------------------------------------------------------- task objects
class _Spec:
    def __init__(self, horizon: int, expert_cls, feature_names: list[str], placed_bodies=(), make_kwargs=None):
        self.horizon = horizon
        self.expert_cls = expert_cls
        self.feature_names = feature_names
        self.placed_bodies = list(placed_bodies)
        self.make_kwargs = dict(make_kwargs or {})


def _lift_features(e: RobosuiteEnv) -> list[float]:
    c = e.rs.cube_body_id
    return [*e.body_pos(c), wrap(e.body_yaw(c), np.pi / 2), *e.eef_pos]


def _stack_features(e: RobosuiteEnv) -> list[float]:
    a, b = e.rs.cubeA_body_id, e.rs.cubeB_body_id
    return [*e.body_pos(a), wrap(e.body_yaw(a), np.pi / 2), *e.body_pos(b), wrap(e.body_yaw(b), np.pi / 2), *e.eef_pos]


def _door_features(e: RobosuiteEnv) -> list[float]:
    rs = e.rs
    handle = e.data.site_xpos[rs.door_handle_site_id]
    return [*handle, float(e.data.qpos[rs.hinge_qpos_addr]), float(e.data.qpos[rs.handle_qpos_addr]), *e.eef_pos]


_EEF = ["eef_x", "eef_y", "eef_z"]
TASK_SPECS = {
    "Lift": _Spec(200, LiftExpert, ["cube_x", "cube_y", "cube_z", "cube_yaw", *_EEF]),
    "Stack": _Spec(400, StackExpert, ["cubeA_x", "cubeA_y", "cubeA_z", "cubeA_yaw",
                                      "cubeB_x", "cubeB_y", "cubeB_z", "cubeB_yaw", *_EEF]),
    "Door": _Spec(400, DoorExpert, ["handle_x", "handle_y", "handle_z", "hinge_angle", "handle_angle", *_EEF],
                  placed_bodies=["Door_main"]),
}
_FEATURES = {"Lift": _lift_features, "Stack": _stack_features, "Door": _door_features}


class RobosuiteTask:
    """What robolearn needs of a task (expert, task_features, FEATURE_NAMES, DEFAULT_CAMERAS)."""

    EVAL_ENVS_PER_WORKER = 1
    """Envs an evaluation worker runs at most: a step (8-16 ms of CPU) dwarfs the ~0.1 ms message it
    saves, while each more env costs ~1 s of start-up (render twin, GL context) and its memory."""

    def __init__(self, name: str):
        self.name = name
        self.FEATURE_NAMES = list(TASK_SPECS[name].feature_names)
        self.DEFAULT_CAMERAS = list(DEFAULT_CAMERAS)

    def expert(self, env, rng: np.random.Generator):
        return TASK_SPECS[self.name].expert_cls(env, rng)

    def task_features(self, env) -> np.ndarray:
        return np.asarray(_FEATURES[self.name](env.unwrapped), dtype=np.float32)


ENTRY_POINT = "robolearn.envs.robosuite_tasks:RobosuiteEnv"
TASKS = {f"robosuite/{name}-v0": RobosuiteTask(name) for name in TASK_SPECS}
"""Env id -> task object; the gymnasium id's kwargs carry `task`."""
