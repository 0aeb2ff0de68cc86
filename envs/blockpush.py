"""robolearn/BlockPush-v0: push a red and a yellow cube into a green and a blue target zone.

A cylindrical pusher moves in the plane (two slide joints with velocity servos). Either block may
go to either zone; the scripted expert picks the order and the assignment at random per episode,
so demonstrations have four modes.

- action: 2-D velocity command in [-1, 1], scaled to ±0.2 m/s per axis.
- proprio: [ee_x, ee_y, ee_vx, ee_vy] of the pusher (m, m/s).
- success: the fraction of target zones that hold a block (0, 0.5, 1). A block counts when its
  centre lies inside a zone; any block in any zone, one block per zone (two blocks in one zone count
  once). Solving (1.0) ends the episode. Reward is sparse and equals success.
- reset: block positions and yaws, pusher position and the two zones' positions (±3 cm) are drawn
  from the reset seed.
- cameras: `overview` (tilted top view) and `side` (oblique, from the front right).
- `state` observation (privileged, for the state-ceiling policy): per block x, y, sin 4θ, cos 4θ (a
  cube looks the same after a quarter turn), then both targets' x, y. Not the expert's plan.
- saved state: MuJoCo integration state + the expert's plan (first block, block 1's target; -1 =
  none) + the block that reached a zone first (-1 = none yet) + the episode's counters below.
- step info beside `success`: `first_block` (the block that reached a zone first), `mode_executed`
  (0..3 numbered as the expert's `mode`: that block and the zone it entered; -1 before), `blocks_entered` (0..2: blocks
  that were ever inside a zone this episode, the papers' metric: IBC/VQ-BeT/DynaMo count block-zone
  entries over the episode, ours `is_success` needs both blocks in at the same moment) and
  `block_switches` (times the pusher's contact went from one block to the other: the expert's plan
  makes 1, a policy that does not commit to a mode makes many).
"""
from __future__ import annotations

from typing import Optional

import robolearn.rendering  # noqa: F401  (MUJOCO_GL before mujoco)

import mujoco
import numpy as np

from robolearn.envs.base import MujocoTaskEnv
from robolearn.errors import RobolearnError

BLOCK_HALF = 0.025  # cube half-size (m)
EE_RADIUS = 0.02
ZONE_HALF = 0.05  # target zones are 10 cm squares, axis-aligned
TARGET_BASE = np.array([[-0.13, 0.18], [0.13, 0.18]])
TARGET_JITTER = 0.03
BLOCK_X, BLOCK_Y = (-0.18, 0.18), (-0.12, 0.04)
EE_X, EE_Y = (-0.2, 0.2), (-0.26, -0.2)
MIN_BLOCK_GAP = 0.1  # centre distance between the two blocks at reset
MAX_SPEED = 0.2  # m/s at action 1; must match the actuators' ctrlrange in blockpush.xml

DEFAULT_CAMERAS = ["overview", "side"]
MODE_INFO_KEY = "first_block"
"""The step-info key that tells the mode a policy executed (which block reached a zone first)."""
REPORT_COLUMNS = {"modes": "modes executed", "entered_1": "≥ 1 block entered", "entered_2": "2 blocks entered",
                  "switches": "block switches / ep"}
"""Columns this task adds to a suite report's rows (key in results.json -> table header)."""
CONTACT = 0.06
"""Pusher-to-block centre distance (m) that counts as touching: the pusher (r 2 cm) meets a 5 cm
cube's face at 4.5 cm and its corner at 5.5 cm."""


def report_columns(episodes: list[dict]) -> dict:
    """The task's report columns from a row's evaluated episodes (`per_episode` records of every seed):
    how many episodes executed each mode (which block reached a zone first), the papers' metric (the
    share of episodes in which >= 1 and 2 blocks ever entered a zone) and the mean number of times
    the pusher switched block per episode. Episodes recorded before these counters existed are left
    out of the shares."""
    modes: dict[int, int] = {}
    entered, switches = [], []
    for ep in episodes:
        info = ep.get("final_info", {})
        # the 4 modes; results written before `mode_executed` existed have the first block alone
        m = info.get("mode_executed", info.get(MODE_INFO_KEY))
        if m is not None and int(m) >= 0:
            modes[int(m)] = modes.get(int(m), 0) + 1
        if info.get("blocks_entered") is not None:
            entered.append(int(info["blocks_entered"]))
        if info.get("block_switches") is not None:
            switches.append(int(info["block_switches"]))
    share = (lambda k: round(sum(e >= k for e in entered) / len(entered), 3) if entered else None)  # noqa: E731
    return {"modes": {str(k): v for k, v in sorted(modes.items())}, "entered_1": share(1), "entered_2": share(2),
            "switches": round(float(np.mean(switches)), 2) if switches else None}
HEAD_HORIZONS = {"mlp": (1, 5, 1), "vqbet": (3, 1, 1), "diffusion": (2, 16, 8)}
"""(T_o, T, T_a) per head where `robolearn train` gets no flags: VQ-BeT as DynaMo's block-push config
(window 3, 1-step chunks), Diffusion Policy's paper horizons, and the MLP re-planning every step
(a state MLP on 300 fixed-mode demos: 43/50 re-planning every step, 29/50 executing its 5-step
chunks; benchmarks/results/blockpush_ceiling.md)."""
HEAD_STEPS = {"mlp": 27000, "vqbet": 27000, "diffusion": 27000}
"""Gradient steps per head where `robolearn train` gets no --optim.steps: ~100 epochs of the 1,000-demo set
at batch 256 (69k windows), as the VQ-BeT and Diffusion Policy papers train (300+). The blockpush-state
suite trains VQ-BeT 15,000 and diffusion 11,000 steps to fit 2 CPU cores in under an hour (0.96 and 0.83 there;
robolearn/bench.py); at 3,000 steps, the generic default, every head solved 0/50
(benchmarks/results/blockpush_ceiling.md)."""
# DART noise (std, action units) `robolearn collect` adds to the executed action by default. The
# expert itself is noise-free; without noise the demos cover too few states for cloning (state MLP,
# 300 fixed-mode demos, re-planning every step: 26/50 solved without, 43/50 with 0.2;
# benchmarks/results/blockpush_ceiling.md).
EXPERT_NOISE = 0.2
DYNAMO_LATENT_DIM = 16
"""DynaMo's latent-action width for this task: the official Block Push config's."""
FEATURE_NAMES = [
    "block1_x", "block1_y", "block1_yaw",
    "block2_x", "block2_y", "block2_yaw",
    "target1_x", "target1_y", "target2_x", "target2_y",
    "ee_x", "ee_y",
    "first_block", "block1_target",
]


def _yaw(quat: np.ndarray) -> float:
    """Yaw of a cube folded into [-pi/4, pi/4): a quarter turn leaves a cube unchanged."""
    w, x, y, z = quat
    yaw = np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    return float((yaw + np.pi / 4) % (np.pi / 2) - np.pi / 4)


class BlockPushEnv(MujocoTaskEnv):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    XML = "blockpush.xml"
    DEFAULT_CAMERAS = DEFAULT_CAMERAS
    DEFAULT_HORIZON = 200
    CONTROL_HZ = 10
    ACTION_DIM = 2
    PROPRIO_DIM = 4
    PROPRIO_BOUND = (0.35, 0.35, 5.0, 5.0)  # x, y (m), vx, vy (m/s)
    # the plan (first block, block 1's target), the observed first block, then the episode counters:
    # blocks ever entered (2 flags), the block last touched (-1 = none), block switches, the zone the
    # first block entered (-1 = none yet)
    TASK_STATE_SIZE = 8
    STATE_DIM = 12

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        m = self.model

        def body(name):
            return mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, name)

        def joint(name):
            return mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, name)

        self._block_qpos = [int(m.jnt_qposadr[joint(n)]) for n in ("block1", "block2")]
        self._ee_qpos = [int(m.jnt_qposadr[joint(n)]) for n in ("ee_x", "ee_y")]
        self._ee_qvel = [int(m.jnt_dofadr[joint(n)]) for n in ("ee_x", "ee_y")]
        self._target_mocap = [int(m.body_mocapid[body(n)]) for n in ("target1", "target2")]
        self.plan = np.array([-1, -1], dtype=np.int64)
        self.first_block = -1
        self._clear_counters()

    def _clear_counters(self) -> None:
        self.first_zone = -1
        self.entered = np.zeros(2, dtype=bool)
        self.touched = -1
        self.switches = 0

    # ------------------------------------------------------------------ privileged state
    def block_pos(self, i: int) -> np.ndarray:
        return self.data.qpos[self._block_qpos[i]: self._block_qpos[i] + 2].copy()

    def block_yaw(self, i: int) -> float:
        a = self._block_qpos[i] + 3
        return _yaw(self.data.qpos[a: a + 4])

    def block_height(self, i: int) -> float:
        return float(self.data.qpos[self._block_qpos[i] + 2])

    def target_pos(self, j: int) -> np.ndarray:
        return self.data.mocap_pos[self._target_mocap[j], :2].copy()

    @property
    def ee_pos(self) -> np.ndarray:
        return self.data.qpos[self._ee_qpos].copy()

    def in_zone(self, i: int, j: int) -> bool:
        """Block i's centre inside zone j (and the block on the table, not flipped onto another)."""
        return bool(np.abs(self.block_pos(i) - self.target_pos(j)).max() <= ZONE_HALF
                    and self.block_height(i) < 2 * BLOCK_HALF)

    def set_plan(self, first_block: int, block1_target: int) -> None:
        """Record the expert's mode so task_features and the saved state carry it."""
        self.plan = np.array([first_block, block1_target], dtype=np.int64)

    # ------------------------------------------------------------------ hooks
    def _reset_task(self, rng: np.random.Generator) -> None:
        self.plan = np.array([-1, -1], dtype=np.int64)
        self.first_block = -1
        self._clear_counters()
        for j in range(2):
            self.data.mocap_pos[self._target_mocap[j], :2] = TARGET_BASE[j] + rng.uniform(-TARGET_JITTER, TARGET_JITTER, 2)
        while True:  # rejection sampling: two blocks apart from each other
            blocks = np.stack([rng.uniform(*BLOCK_X, 2), rng.uniform(*BLOCK_Y, 2)], axis=1)
            if np.linalg.norm(blocks[0] - blocks[1]) >= MIN_BLOCK_GAP:
                break
        for i in range(2):
            a = self._block_qpos[i]
            yaw = rng.uniform(0, np.pi / 2)
            self.data.qpos[a: a + 3] = [blocks[i, 0], blocks[i, 1], BLOCK_HALF]
            self.data.qpos[a + 3: a + 7] = [np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)]
        # The pusher starts below the block band (blocks at y >= -0.12, pusher at y <= -0.2): no overlap.
        self.data.qpos[self._ee_qpos] = [rng.uniform(*EE_X), rng.uniform(*EE_Y)]

    def _apply_action(self, action: np.ndarray) -> None:
        self.data.ctrl[:2] = action * MAX_SPEED

    def _proprio(self) -> np.ndarray:
        return np.concatenate([self.data.qpos[self._ee_qpos], self.data.qvel[self._ee_qvel]])

    def _success(self) -> float:
        occupied = sum(any(self.in_zone(i, j) for i in range(2)) for j in range(2))
        return occupied / 2.0

    def _step_info(self) -> dict:
        # Which block reached a target zone first, observed from the physics, so the mode a
        # learned policy chose can be counted (the expert's plan is not known for a policy).
        for i in range(2):
            zones = [j for j in range(2) if self.in_zone(i, j)]
            if zones:
                if self.first_block < 0:
                    self.first_block, self.first_zone = i, zones[0]
                self.entered[i] = True
        # the expert's mode numbering: 2 * first_block + the zone block 0 (red) goes to
        mode = -1 if self.first_block < 0 else 2 * self.first_block + (
            self.first_zone if self.first_block == 0 else 1 - self.first_zone)
        ee = self.ee_pos
        near = [i for i in range(2) if np.linalg.norm(self.block_pos(i) - ee) < CONTACT]
        if len(near) == 1:  # touching both at once (between them) decides nothing
            if self.touched >= 0 and near[0] != self.touched:
                self.switches += 1
            self.touched = near[0]
        return {"first_block": self.first_block, "mode_executed": mode, "blocks_entered": int(self.entered.sum()),
                "block_switches": self.switches}

    def _state(self) -> np.ndarray:
        out = []
        for i in range(2):
            a = self._block_qpos[i] + 3
            w, x, y, z = self.data.qpos[a: a + 4]
            yaw4 = 4 * np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
            out += [*self.block_pos(i), np.sin(yaw4), np.cos(yaw4)]
        return np.array(out + [*self.target_pos(0), *self.target_pos(1)])

    def _task_state(self) -> np.ndarray:
        return np.array([*self.plan, self.first_block, *self.entered, self.touched, self.switches, self.first_zone],
                        dtype=np.float64)

    def _set_task_state(self, state: np.ndarray) -> None:
        self.plan = np.round(state[:2]).astype(np.int64)
        self.first_block = int(round(state[2]))
        self.entered = np.round(state[3:5]).astype(bool)
        self.touched, self.switches = int(round(state[5])), int(round(state[6]))
        self.first_zone = int(round(state[7]))


# ---------------------------------------------------------------------- expert
def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v)
    return v / n if n > 1e-9 else np.zeros_like(v)


def _perp(u: np.ndarray) -> np.ndarray:
    return np.array([-u[1], u[0]])


def _closest_on_segment(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.clip(np.dot(c - a, ab) / max(np.dot(ab, ab), 1e-12), 0.0, 1.0)
    return a + t * ab


def _ramp(x: float, zero: float, one: float) -> float:
    """0 at `zero`, 1 at `one`, linear in between (either order), clipped."""
    return float(np.clip((x - zero) / (one - zero), 0.0, 1.0))


class BlockPushExpert:
    """Pushes each block from behind along the line to its target, in the order of its mode.

    mode = 2 * first_block + swap: block `first_block` (0 = red block1, 1 = yellow block2) is pushed
    first; block1 goes to target 1 + swap (green = 1, blue = 2), block2 to the other.

    Memoryless: an action is a function of the current privileged state and the episode's mode only
    (no hysteresis, counters or noise), so a policy that sees the state and the mode has everything
    the expert decides from. Demo diversity comes from the collector's DART noise (`expert_noise`:
    executed, not recorded). `mode` fixes the plan; by default it is drawn from `rng`. Per step:
    - the block to push: the first in the mode's order whose centre is not yet DONE inside its zone;
    - push goal: the block's target, or a via point beside the other block when that one is in the way;
    - push direction: toward the goal, turned in 15° steps when the point behind the block is out
      of reach (a wall) or blocked (the other block);
    - the command blends pushing along the line (steering back onto it) with going to a point behind
      the block (detouring around both blocks), weighted by how well the pusher is aligned behind the
      block: a smooth boundary instead of a switch with hysteresis.
    """

    APPROACH = 0.085  # pre-push point: this far behind the block centre
    OBSTACLE = BLOCK_HALF * np.sqrt(2) + EE_RADIUS + 0.015  # pusher keeps out of this circle
    BLOCK_CLEARANCE = 0.08  # a pushed block passes the other block's centre at least this far
    # A block whose centre is this far inside its zone (per axis) is finished; pushing on toward the
    # centre would waste steps, and a block that overshot toward a wall may be unreachable from beyond.
    DONE = ZONE_HALF - 0.01
    REACH = 0.28  # waypoints stay this far from the centre (pusher joint range is ±0.3)
    # Alignment weights (m): full push within LAT_IN of the line, none beyond LAT_OUT; and only from
    # behind the block (along the push direction, the pusher centre at most ALONG_IN before the block's).
    LAT_IN, LAT_OUT = 0.005, 0.04
    STEER = 0.02  # lateral offset (m) at which pushing steers back onto the line at half speed
    SLOW = 0.06  # distance (m) to a waypoint below which the approach slows down
    ALONG_IN, ALONG_OUT = -0.04, -0.03
    BACK_IN, BACK_OUT = -0.11, -0.13

    def __init__(self, env, rng: np.random.Generator, mode: Optional[int] = None):
        self.env: BlockPushEnv = env.unwrapped
        if mode is None:
            self.first_block = int(rng.integers(2))
            self.swap = int(rng.integers(2))
        else:
            if int(mode) not in range(4):
                raise RobolearnError(f"BlockPush expert mode must be 0..3 (2 * first_block + swap), got {mode}")
            self.first_block, self.swap = divmod(int(mode), 2)
        self.mode = 2 * self.first_block + self.swap
        self.order = [self.first_block, 1 - self.first_block]
        self.assigned = [self.swap, 1 - self.swap]  # target index of block 0 and block 1
        self.env.set_plan(self.first_block, self.swap)

    # -------------------------------------------------------------- planning helpers
    def current_block(self) -> int:
        """The first block in the mode's order not yet finished, or -1 when both are."""
        e = self.env
        for b in self.order:
            if np.abs(e.block_pos(b) - e.target_pos(self.assigned[b])).max() >= self.DONE:
                return b
        return -1

    def _block_goal(self, b: int) -> np.ndarray:
        """The target, or a via point when the other block sits near the straight path."""
        e = self.env
        p, t, c = e.block_pos(b), e.target_pos(self.assigned[b]), e.block_pos(1 - b)
        cp = _closest_on_segment(p, t, c)
        v = cp - c
        if np.linalg.norm(v) >= self.BLOCK_CLEARANCE or np.linalg.norm(t - c) < self.BLOCK_CLEARANCE:
            return t
        side = _unit(v) if np.linalg.norm(v) > 1e-3 else _unit(_perp(t - p))
        via = c + side * (self.BLOCK_CLEARANCE + 0.03)
        return np.clip(via, -self.REACH + 0.03, self.REACH - 0.03)

    def _push_direction(self, b: int, goal: np.ndarray) -> np.ndarray:
        """Unit push direction: toward `goal`, or the nearest direction (15° steps) whose pre-push
        point the pusher can reach, i.e. inside its workspace and clear of the other block.

        A block against a wall, or with the other block right behind it, cannot be pushed straight
        to its goal; pushing it at an angle moves it out of the corner, and the next steps re-aim."""
        e = self.env
        p, other = e.block_pos(b), e.block_pos(1 - b)
        base = np.arctan2(*(goal - p)[::-1])
        for k in (0, 1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6):
            a = base + k * np.pi / 12
            u = np.array([np.cos(a), np.sin(a)])
            pre = p - u * self.APPROACH
            if np.abs(pre).max() <= self.REACH and np.linalg.norm(pre - other) >= self.OBSTACLE:
                return u
        return _unit(goal - p)

    def _route(self, ee: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """The next waypoint to `goal`: the goal itself, or a detour around the nearest block in the way.

        Outside a block's circle, a path through it bends to a point beside it; inside (just after a
        push), the pusher slides along the circle instead of cutting through the block."""
        e = self.env
        blocks = sorted((e.block_pos(i) for i in range(2)), key=lambda c: np.linalg.norm(c - ee))
        for c in blocks:
            if np.linalg.norm(goal - c) < self.OBSTACLE:
                continue  # the goal is inside this block's circle: nudging the block is unavoidable
            if np.linalg.norm(ee - c) < self.OBSTACLE:
                out, g = _unit(ee - c), _unit(goal - ee)
                if g @ out >= 0:
                    continue  # already moving away from this block
                tangent = g - (g @ out) * out
                tangent = _unit(tangent) if np.linalg.norm(tangent) > 1e-3 else _perp(out)
                return ee + 0.03 * tangent + 0.01 * out
            v = _closest_on_segment(ee, goal, c) - c
            if np.linalg.norm(v) < self.OBSTACLE:
                side = _unit(v) if np.linalg.norm(v) > 1e-3 else _unit(_perp(goal - ee))
                return np.clip(c + side * (self.OBSTACLE + 0.025), -self.REACH, self.REACH)
        return goal

    # -------------------------------------------------------------- control
    def act(self, obs=None) -> np.ndarray:
        e = self.env
        b = self.current_block()
        if b < 0:
            return np.zeros(2, np.float32)
        ee, p = e.ee_pos, e.block_pos(b)
        goal = self._block_goal(b)
        dist = np.linalg.norm(goal - p)
        u = self._push_direction(b, goal)
        n = _perp(u)
        rel = ee - p
        along, lat = float(rel @ u), float(rel @ n)

        speed = np.clip(dist / 0.05, 0.25, 1.0)
        push = speed * u - np.clip(lat / self.STEER, -1.0, 1.0) * 0.5 * n
        pre = p - u * self.APPROACH
        approach = (self._route(ee, pre) - ee) / self.SLOW
        approach /= max(1.0, np.linalg.norm(approach))
        w = (_ramp(abs(lat), self.LAT_OUT, self.LAT_IN) * _ramp(along, self.ALONG_OUT, self.ALONG_IN)
             * _ramp(along, self.BACK_OUT, self.BACK_IN))
        cmd = w * push + (1.0 - w) * approach
        norm = np.linalg.norm(cmd)
        if norm > 1.0:
            cmd = cmd / norm
        return np.clip(cmd, -1.0, 1.0).astype(np.float32)


def expert(env, rng: np.random.Generator, mode: Optional[int] = None) -> BlockPushExpert:
    """The scripted expert; `mode` (0..3) fixes the plan, else it is drawn from `rng`."""
    return BlockPushExpert(env, rng, mode)


def task_features(env) -> np.ndarray:
    e: BlockPushEnv = env.unwrapped
    b1, b2 = e.block_pos(0), e.block_pos(1)
    t1, t2 = e.target_pos(0), e.target_pos(1)
    ee = e.ee_pos
    return np.array(
        [b1[0], b1[1], e.block_yaw(0), b2[0], b2[1], e.block_yaw(1),
         t1[0], t1[1], t2[0], t2[1], ee[0], ee[1], e.plan[0], e.plan[1]],
        dtype=np.float32,
    )
