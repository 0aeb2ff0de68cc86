"""robolearn/PointMass-v0: reach one of four goals; which one is a latent context seen only in the image.

After the multi-goal point mass of Brandfonbrener et al. (2023): the goal index is drawn at reset
from the reset seed and shown only as a green disc on the floor; `proprio` holds the ball's
position and velocity, never the goal, so a policy must read the goal from pixels.

- action: 2-D velocity command in [-1, 1], scaled to ±0.4 m/s per axis (velocity servos).
- proprio: [x, y, vx, vy] of the ball (m, m/s).
- success: 1 when the ball's centre is within 5 cm of the goal's centre, else 0; solving ends the
  episode. Reward is sparse and equals success.
- cameras: `top` (straight down on the whole arena).
- `state` observation (privileged, for the state-ceiling policy): the active goal's x, y.
- saved state: MuJoCo integration state + the goal index.
"""
from __future__ import annotations

import robolearn.rendering  # noqa: F401  (MUJOCO_GL before mujoco)

import mujoco
import numpy as np

from robolearn.envs.base import MujocoTaskEnv

N_GOALS = 4
GOAL_RADIUS = 0.35  # goals sit on a circle this far from the centre
# Diagonal directions keep every goal equally far from the start region and from the walls.
GOALS = np.array(
    [[GOAL_RADIUS * np.cos(np.pi / 4 + k * np.pi / 2), GOAL_RADIUS * np.sin(np.pi / 4 + k * np.pi / 2)] for k in range(N_GOALS)]
)
START_HALF_WIDTH = 0.1  # the ball starts uniformly in this square around the centre
SUCCESS_RADIUS = 0.05
MAX_SPEED = 0.4  # m/s at action 1 (about 1 px per step at 32 px, 2 at 64: motion an inverse model can see); must match the actuators' ctrlrange in pointmass.xml

DEFAULT_CAMERAS = ["top"]
FEATURE_NAMES = ["agent_x", "agent_y", "goal_x", "goal_y", "goal_index"]


class PointMassEnv(MujocoTaskEnv):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    XML = "pointmass.xml"
    DEFAULT_CAMERAS = DEFAULT_CAMERAS
    DEFAULT_HORIZON = 60
    CONTROL_HZ = 10
    ACTION_DIM = 2
    PROPRIO_DIM = 4
    PROPRIO_BOUND = (0.6, 0.6, 5.0, 5.0)  # x, y (m), vx, vy (m/s)
    TASK_STATE_SIZE = 1  # goal index
    STATE_DIM = 2

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        m = self.model
        self._goal_mocap = m.body_mocapid[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, "goal")]
        self.goal_index = 0

    @property
    def goal(self) -> np.ndarray:
        return GOALS[self.goal_index]

    @property
    def agent_pos(self) -> np.ndarray:
        return self.data.qpos[:2].copy()

    def _place_goal(self, index: int) -> None:
        self.goal_index = int(index)
        self.data.mocap_pos[self._goal_mocap, :2] = GOALS[self.goal_index]

    def _reset_task(self, rng: np.random.Generator) -> None:
        self._place_goal(rng.integers(N_GOALS))
        self.data.qpos[:2] = rng.uniform(-START_HALF_WIDTH, START_HALF_WIDTH, 2)

    def _apply_action(self, action: np.ndarray) -> None:
        self.data.ctrl[:2] = action * MAX_SPEED

    def _proprio(self) -> np.ndarray:
        return np.concatenate([self.data.qpos[:2], self.data.qvel[:2]])

    def _success(self) -> float:
        return float(np.linalg.norm(self.agent_pos - self.goal) <= SUCCESS_RADIUS)

    def _state(self) -> np.ndarray:
        return self.goal

    def _task_state(self) -> np.ndarray:
        return np.array([self.goal_index], dtype=np.float64)

    def _set_task_state(self, state: np.ndarray) -> None:
        self._place_goal(int(round(state[0])))


class PointMassExpert:
    """Proportional velocity controller to the active goal, with Gaussian action noise so demos vary.

    Full speed until 10 cm from the goal, then proportional; `mode` is the goal index.
    """

    SLOW_DISTANCE = 0.15
    NOISE_STD = 0.3  # large enough that an action is not predictable from one frame

    def __init__(self, env, rng: np.random.Generator):
        self.env: PointMassEnv = env.unwrapped
        self.rng = rng
        self.mode = int(self.env.goal_index)

    def act(self, obs=None) -> np.ndarray:
        err = self.env.goal - self.env.agent_pos
        cmd = err / self.SLOW_DISTANCE
        norm = np.linalg.norm(cmd)
        if norm > 1.0:  # saturate the speed, not each axis, so the path stays straight
            cmd = cmd / norm
        cmd = cmd + self.rng.normal(0.0, self.NOISE_STD, 2)
        return np.clip(cmd, -1.0, 1.0).astype(np.float32)


def expert(env, rng: np.random.Generator) -> PointMassExpert:
    return PointMassExpert(env, rng)


def task_features(env) -> np.ndarray:
    e: PointMassEnv = env.unwrapped
    pos, goal = e.agent_pos, e.goal
    return np.array([pos[0], pos[1], goal[0], goal[1], e.goal_index], dtype=np.float32)
