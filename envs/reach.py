"""robolearn/Reach-v0 and robolearn/ReachTarget-v0: the few-demonstration rung of the task ladder.

The inverse-dynamics paper's setting (Brandfonbrener et al. 2023): plentiful demonstrations of many
contexts to pretrain on, then a handful of demonstrations of one target context. Here:
- Reach-v0 (pretraining data): the point mass reaches a goal drawn anywhere in the arena each
  episode (shown as a green disc);
- ReachTarget-v0 (the few-shot task): the goal is always at TARGET_GOAL.
Both redraw the floor colour and three distractor discs (colour and position) every episode, so a
few target demonstrations cannot cover the visual variation while the pretraining data does. The
policy sees the image only (`robolearn train --no-use-proprio`): it must read the ball's position
from pixels, to within a few centimetres.

- action: 2-D velocity command in [-1, 1], scaled to ±0.4 m/s per axis.
- proprio: [x, y, vx, vy] of the ball; `state` observation: the goal's x, y.
- success: the ball's centre within 5 cm of the goal; solving ends the episode.
- saved state: MuJoCo integration state (distractor positions are mocap, inside it) + goal x, y +
  the floor's and the distractors' colours.
"""
from __future__ import annotations

import robolearn.rendering  # noqa: F401  (MUJOCO_GL before mujoco)

from typing import Optional

import mujoco
import numpy as np

from robolearn.envs.pointmass import PointMassEnv, expert  # noqa: F401  (the same expert: go to env.goal)

GOAL_HALF = 0.4  # goals lie in this square
MIN_GOAL_DISTANCE = 0.25  # from the start
TARGET_GOAL = (0.3, -0.25)
N_DISTRACTORS = 3
START_HALF_WIDTH = 0.15

DEFAULT_CAMERAS = ["top"]
FEATURE_NAMES = ["agent_x", "agent_y", "goal_x", "goal_y"]


class ReachEnv(PointMassEnv):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    XML = "reach.xml"
    DEFAULT_HORIZON = 60
    TASK_STATE_SIZE = 2 + 3 * (1 + N_DISTRACTORS)  # goal x, y; floor and distractor colours
    STATE_DIM = 2

    def __init__(self, fixed_goal: Optional[tuple[float, float]] = None, **kwargs):
        super().__init__(**kwargs)
        m = self.model
        self.fixed_goal = None if fixed_goal is None else np.asarray(fixed_goal, np.float64)
        self._goal_xy = np.zeros(2)
        self._floor = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "floor")
        self._distractor_geoms = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, f"distractor{i}") for i in range(N_DISTRACTORS)]
        self._distractor_mocap = [int(m.body_mocapid[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, f"distractor{i}")])
                                  for i in range(N_DISTRACTORS)]

    @property
    def goal(self) -> np.ndarray:
        return self._goal_xy.copy()

    def _set_goal(self, xy) -> None:
        self._goal_xy = np.asarray(xy, np.float64).copy()
        self.data.mocap_pos[self._goal_mocap, :2] = self._goal_xy
        self.goal_index = -1

    def _colours(self) -> np.ndarray:
        ids = [self._floor, *self._distractor_geoms]
        return self.model.geom_rgba[ids, :3].ravel().copy()

    def _set_colours(self, rgb: np.ndarray) -> None:
        ids = [self._floor, *self._distractor_geoms]
        self.model.geom_rgba[ids, :3] = np.asarray(rgb, np.float64).reshape(len(ids), 3)

    def _reset_task(self, rng: np.random.Generator) -> None:
        start = rng.uniform(-START_HALF_WIDTH, START_HALF_WIDTH, 2)
        self.data.qpos[:2] = start
        if self.fixed_goal is not None:
            self._set_goal(self.fixed_goal)
        else:
            while True:
                g = rng.uniform(-GOAL_HALF, GOAL_HALF, 2)
                if np.linalg.norm(g - start) >= MIN_GOAL_DISTANCE:
                    break
            self._set_goal(g)
        # Light floors and saturated-ish discs: the ball (blue) and the goal (green) stay visible.
        floor = rng.uniform(0.55, 0.95, 3)
        discs = rng.uniform(0.1, 0.9, (N_DISTRACTORS, 3))
        self._set_colours(np.concatenate([floor, discs.ravel()]))
        for i, mid in enumerate(self._distractor_mocap):
            self.data.mocap_pos[mid, :2] = rng.uniform(-0.45, 0.45, 2)

    def _state(self) -> np.ndarray:
        return self.goal

    def _task_state(self) -> np.ndarray:
        return np.concatenate([self._goal_xy, self._colours()])

    def _set_task_state(self, state: np.ndarray) -> None:
        self._set_goal(state[:2])
        self._set_colours(state[2:])
        self._frames = None


class ReachTargetEnv(ReachEnv):
    def __init__(self, **kwargs):
        kwargs.setdefault("fixed_goal", TARGET_GOAL)
        super().__init__(**kwargs)


def task_features(env) -> np.ndarray:
    e: ReachEnv = env.unwrapped
    pos, goal = e.agent_pos, e.goal
    return np.array([pos[0], pos[1], goal[0], goal[1]], dtype=np.float32)
