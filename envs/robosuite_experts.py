"""Scripted experts for the robosuite tasks (`robolearn.envs.robosuite_tasks`): P-controllers on
OSC_POSE deltas that read privileged simulator state (object poses, joint angles) through the env and use
their own rng only for action noise; robosuite ships no experts."""
from __future__ import annotations

import robolearn.rendering  # noqa: F401  (MUJOCO_GL before mujoco)

from typing import Optional

import mujoco
import numpy as np

POS_SCALE = 0.05  # m per unit action (OSC_POSE output_max for position)
ROT_SCALE = 0.5  # rad per unit action (OSC_POSE output_max for rotation)


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


def wrap(a: float, period: float) -> float:
    """a folded into [-period/2, period/2)."""
    return float((a + period / 2) % period - period / 2)


# The grip site's orientation pointing straight down with yaw 0 (its x axis along world y, as the
# Panda holds it at reset); yaw is a rotation of this about world z.
R_DOWN = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])


# ---------------------------------------------------------------------------- experts
class _PoseExpert:
    """Shared control: move the grip site to a target position and yaw, gripper open or closed.

    A P-controller on OSC_POSE deltas; orientation keeps the gripper pointing down, turned by `yaw`
    about world z. Gaussian noise from the expert's own rng is added to the arm part of the action.
    """

    MAX_SPEED = 0.5  # action norm cap for the position part (0.5 -> 2.5 cm per step)
    NOISE_STD = 0.02

    def __init__(self, env, rng: np.random.Generator):
        self.env = env.unwrapped  # a robosuite_tasks.RobosuiteEnv
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
        return wrap(self.env.body_yaw(body_id), np.pi / 2)


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
                self.carry_yaw = yaw + wrap(e.body_yaw(self.b) - e.body_yaw(self.a), np.pi / 2)
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
