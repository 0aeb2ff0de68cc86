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

The scripted experts read privileged simulator state (object poses, joint angles) and use their own
rng only for action noise; robosuite ships no experts.
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
from robolearn.errors import RobolearnError

DEFAULT_CAMERAS = ["agentview", "robot0_eye_in_hand"]
CONTROL_HZ = 20
POS_SCALE = 0.05  # m per unit action (OSC_POSE output_max for position)
ROT_SCALE = 0.5  # rad per unit action (OSC_POSE output_max for rotation)
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


# ---------------------------------------------------------------------------- rotations
def _quat_wxyz_to_mat(q: np.ndarray) -> np.ndarray:
    m = np.zeros(9)
    mujoco.mju_quat2Mat(m, np.asarray(q, np.float64))
    return m.reshape(3, 3)


def _rot_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _rotvec(r: np.ndarray) -> np.ndarray:
    """Axis-angle vector (axis * angle, |angle| <= pi) of a rotation matrix."""
    q = np.zeros(4)
    mujoco.mju_mat2Quat(q, np.ascontiguousarray(r, np.float64).ravel())
    v = np.zeros(3)
    mujoco.mju_quat2Vel(v, q, 1.0)
    return v


def _wrap(a: float, period: float) -> float:
    """a folded into [-period/2, period/2)."""
    return float((a + period / 2) % period - period / 2)


# The grip site's orientation pointing straight down with yaw 0 (its x axis along world y, as the
# Panda holds it at reset); yaw is a rotation of this about world z.
R_DOWN = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])


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


# ---------------------------------------------------------------------------- experts
class _PoseExpert:
    """Shared control: move the grip site to a target position and yaw, gripper open or closed.

    A P-controller on OSC_POSE deltas; orientation keeps the gripper pointing down, turned by `yaw`
    about world z. Gaussian noise from the expert's own rng is added to the arm part of the action.
    """

    MAX_SPEED = 0.5  # action norm cap for the position part (0.5 -> 2.5 cm per step)
    NOISE_STD = 0.02

    def __init__(self, env, rng: np.random.Generator):
        self.env: RobosuiteEnv = env.unwrapped
        self.rng = rng
        self.mode = 0  # one way of doing each task
        self.phase = 0
        self.timer = 0

    def _move(self, target: np.ndarray, yaw: float, grip: float, speed: Optional[float] = None,
              r_target: Optional[np.ndarray] = None) -> np.ndarray:
        e = self.env
        dp = (np.asarray(target) - e.eef_pos) / POS_SCALE
        n = np.linalg.norm(dp)
        cap = self.MAX_SPEED if speed is None else speed
        if n > cap:
            dp *= cap / n
        r_t = _rot_z(yaw) @ R_DOWN if r_target is None else r_target
        rot = np.clip(_rotvec(r_t @ e.eef_mat.T) / ROT_SCALE, -1.0, 1.0)
        arm = np.concatenate([dp, rot]) + self.rng.normal(0.0, self.NOISE_STD, 6)
        return np.clip(np.concatenate([arm, [grip]]), -1.0, 1.0).astype(np.float32)

    def _near(self, target, tol: float) -> bool:
        return bool(np.linalg.norm(np.asarray(target) - self.env.eef_pos) < tol)

    def _grasp_yaw(self, body_id: int) -> float:
        """Yaw that lines the fingers up with a cube's faces, the smallest turn from yaw 0."""
        return _wrap(self.env.body_yaw(body_id), np.pi / 2)


OPEN, CLOSE = -1.0, 1.0


class LiftExpert(_PoseExpert):
    """Above the cube, down, close, lift."""

    def __init__(self, env, rng):
        super().__init__(env, rng)
        self.cube = self.env.rs.cube_body_id

    def act(self, obs=None) -> np.ndarray:
        e = self.env
        cube = e.body_pos(self.cube)
        yaw = self._grasp_yaw(self.cube)
        if self.phase == 0:  # above the cube, turning to its yaw
            target = cube + [0, 0, 0.08]
            if self._near(target, 0.015):
                self.phase = 1
            return self._move(target, yaw, OPEN)
        if self.phase == 1:  # straight down
            target = cube + [0, 0, -0.005]
            if self._near(target, 0.01) or np.linalg.norm(cube[:2] - e.eef_pos[:2]) > 0.03:
                self.phase, self.timer = 2, 0
            return self._move(target, yaw, OPEN, speed=0.3)
        if self.phase == 2:  # close and hold still
            self.timer += 1
            if self.timer >= 8:
                self.phase = 3
            return self._move(cube + [0, 0, -0.005], yaw, CLOSE, speed=0.1)
        return self._move(cube + [0, 0, 0.15], yaw, CLOSE)


class StackExpert(_PoseExpert):
    """Pick cube A (red), carry it above cube B (green), lower it onto B, open, back off."""

    def __init__(self, env, rng):
        super().__init__(env, rng)
        self.a, self.b = self.env.rs.cubeA_body_id, self.env.rs.cubeB_body_id
        self.carry_yaw = 0.0

    def act(self, obs=None) -> np.ndarray:
        e = self.env
        pa, pb = e.body_pos(self.a), e.body_pos(self.b)
        if self.phase == 0:
            yaw = self._grasp_yaw(self.a)
            target = pa + [0, 0, 0.08]
            if self._near(target, 0.015):
                self.phase = 1
            return self._move(target, yaw, OPEN)
        if self.phase == 1:
            yaw = self._grasp_yaw(self.a)
            target = pa + [0, 0, -0.005]
            if self._near(target, 0.01):
                self.phase, self.timer = 2, 0
            return self._move(target, yaw, OPEN, speed=0.3)
        if self.phase == 2:
            yaw = self._grasp_yaw(self.a)
            self.timer += 1
            if self.timer >= 8:
                self.phase = 3
                # Carry with B's yaw (as seen from A's grasp) so A lands square on B.
                self.carry_yaw = yaw + _wrap(e.body_yaw(self.b) - e.body_yaw(self.a), np.pi / 2)
            return self._move(pa + [0, 0, -0.005], yaw, CLOSE, speed=0.1)
        # The grip site sits at A's centre: offsets below are for A's centre.
        grip_to_a = e.eef_pos - pa
        if self.phase == 3:  # lift clear of B
            target = np.array([*e.eef_pos[:2], pb[2] + 0.12])
            if e.eef_pos[2] > pb[2] + 0.09:
                self.phase = 4
            return self._move(target, self.carry_yaw, CLOSE)
        if self.phase == 4:  # over B
            target = np.array([*pb[:2], pb[2] + 0.12]) + grip_to_a * [1, 1, 0]
            if np.linalg.norm(pa[:2] - pb[:2]) < 0.008:
                self.phase = 5
            return self._move(target, self.carry_yaw, CLOSE)
        if self.phase == 5:  # down until A sits just above B (A half 0.02, B half 0.025)
            target = np.array([*pb[:2], pb[2] + 0.05]) + grip_to_a
            if pa[2] - pb[2] < 0.052:
                self.phase, self.timer = 6, 0
            return self._move(target, self.carry_yaw, CLOSE, speed=0.2)
        if self.phase == 6:  # open
            self.timer += 1
            if self.timer >= 5:
                self.phase = 7
            return self._move(e.eef_pos, self.carry_yaw, OPEN, speed=0.0)
        return self._move(e.eef_pos + [0, 0, 0.05], self.carry_yaw, OPEN, speed=0.3)


def _axis_rot(axis: np.ndarray, angle: float) -> np.ndarray:
    q = np.zeros(4)
    mujoco.mju_axisAngle2Quat(q, np.asarray(axis, np.float64), float(angle))
    return _quat_wxyz_to_mat(q)


class DoorExpert(_PoseExpert):
    """Pinch the lever handle, turn it down to free the latch, pull the door open around its hinge.

    The gripper first turns in place to point into the door along its normal (the lever's rotation
    axis), then closes on the lever's top and bottom faces. After the grasp it moves as if welded
    to the lever: its target pose is the grasp pose carried by
    a rotation about the latch axis (turning) and then about the hinge axis (opening), each a
    little ahead of the measured joint angle. The latch only clears the frame past ~1.3 rad, and
    its spring pulls it back, so the turn is held while the door opens.
    """

    GRASP_OFFSET = 0.095  # grasp this far along the lever from its axis (lever spans 0..0.15 m)
    LATCH_GOAL = 1.5  # rad; the joint limit is 1.57
    LATCH_OPEN = 1.35  # the latch is free of the frame past ~1.3 rad
    LEAD = 0.3  # rad ahead of the measured angle

    def __init__(self, env, rng):
        super().__init__(env, rng)
        m = self.env.model
        self.latch_body = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, "Door_latch")
        self.handle_geom = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "Door_handle")
        self.hinge_jnt = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, "Door_hinge")
        self.latch_jnt = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, "Door_latch_joint")
        self.rel_pos = self.rel_mat = None  # grasp pose in the latch frame
        self.start = None

    def _angles(self) -> tuple[float, float]:
        rs, d = self.env.rs, self.env.data
        return float(d.qpos[rs.hinge_qpos_addr]), float(d.qpos[rs.handle_qpos_addr])

    def _grasp_pose(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Grasp point on the lever, the gripper orientation there, and the door normal.

        The gripper points into the door (along the normal) with its fingers opening vertically,
        pinching the lever's top and bottom faces: a down-pointing Panda hand, some 20 cm wide
        along the finger axis, would hit the door panel."""
        d = self.env.data
        lat_pos = d.xpos[self.latch_body]
        lever = d.geom_xpos[self.handle_geom] - lat_pos
        normal = d.xaxis[self.latch_jnt].copy()  # from the lever toward the door
        if lever @ normal > 0:
            normal = -normal
        along = lever - (lever @ normal) * normal
        along /= np.linalg.norm(along)
        point = lat_pos + (lever @ normal) * normal + self.GRASP_OFFSET * along
        # The fingers separate along the grip site's x axis; of the two vertical choices, the one
        # pointing down is a quarter turn from the gripper's start pose (the other is a half turn).
        z = normal
        x = np.array([0.0, 0.0, -1.0])
        x = x - (x @ z) * z
        x /= np.linalg.norm(x)
        return point, np.stack([x, np.cross(z, x), z], axis=1), normal

    def act(self, obs=None) -> np.ndarray:
        e, d = self.env, self.env.data
        hinge, latch = self._angles()
        if self.phase < 4:
            point, mat, normal = self._grasp_pose()
            if self.phase == 0:  # turn to point at the door first, in place: turning while
                if self.start is None:  # moving makes the arm swing wide
                    self.start = e.eef_pos
                if np.linalg.norm(_rotvec(mat @ e.eef_mat.T)) < 0.15:
                    self.phase = 1
                return self._move(self.start, 0.0, OPEN, r_target=mat)
            if self.phase == 1:  # in front of the lever
                target = point - 0.08 * normal
                if self._near(target, 0.015):
                    self.phase = 2
                return self._move(target, 0.0, OPEN, r_target=mat)
            if self.phase == 2:  # forward around the lever
                if self._near(point, 0.008):
                    self.phase, self.timer = 3, 0
                return self._move(point, 0.0, OPEN, speed=0.3, r_target=mat)
            self.timer += 1  # close
            if self.timer >= 8:
                self.phase = 4
                lat_pos, lat_mat = d.xpos[self.latch_body], d.xmat[self.latch_body].reshape(3, 3)
                self.rel_pos = lat_mat.T @ (e.eef_pos - lat_pos)
                self.rel_mat = lat_mat.T @ e.eef_mat
            return self._move(point, 0.0, CLOSE, speed=0.1, r_target=mat)
        if self.phase == 4 and latch > self.LATCH_OPEN:
            self.phase = 5
        latch_goal = min(latch + self.LEAD, self.LATCH_GOAL) if self.phase == 4 else self.LATCH_GOAL
        hinge_goal = hinge + (self.LEAD if self.phase == 5 else 0.0)
        # Where the grasp would be with the lever at latch_goal and the door at hinge_goal.
        lat_pos, lat_mat = d.xpos[self.latch_body], d.xmat[self.latch_body].reshape(3, 3)
        pos = lat_pos + lat_mat @ self.rel_pos
        mat = lat_mat @ self.rel_mat
        r_latch = _axis_rot(d.xaxis[self.latch_jnt], latch_goal - latch)
        pos, mat = lat_pos + r_latch @ (pos - lat_pos), r_latch @ mat
        r_hinge = _axis_rot(d.xaxis[self.hinge_jnt], hinge_goal - hinge)
        anchor = d.xanchor[self.hinge_jnt]
        pos, mat = anchor + r_hinge @ (pos - anchor), r_hinge @ mat
        return self._move(pos, 0.0, CLOSE, speed=0.3, r_target=mat)


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
    return [*e.body_pos(c), _wrap(e.body_yaw(c), np.pi / 2), *e.eef_pos]


def _stack_features(e: RobosuiteEnv) -> list[float]:
    a, b = e.rs.cubeA_body_id, e.rs.cubeB_body_id
    return [*e.body_pos(a), _wrap(e.body_yaw(a), np.pi / 2), *e.body_pos(b), _wrap(e.body_yaw(b), np.pi / 2), *e.eef_pos]


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
