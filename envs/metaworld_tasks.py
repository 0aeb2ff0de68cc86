"""MetaWorld v3 tasks as robolearn envs: `metaworld/<task>-v3` for each of the 50 MT50 tasks.

One adapter for all of them: the task's MetaWorld env class is built directly (no benchmark
wrappers), with the goal in its flat observation (`_partially_observable = False`, which the
scripted policies need) and a fresh object/goal layout per reset drawn from the reset seed
(`seeded_rand_vec`). metaworld is imported only when an env is made (`pip install 'robolearn[sim]'`).

- action (4, float32 in [-1, 1]): hand position delta (x 1 cm per step through the mocap weld) and
  gripper effort; MetaWorld's own action.
- observation: `<camera>_image` (uint8, the right way up), `proprio` = hand position and gripper
  opening (MetaWorld's first four observation entries), `state` = object poses (up to two objects,
  position + quaternion, zero-padded) and the goal position.
- success: MetaWorld's `info["success"]`; solving ends the episode; reward = success.
- experts: MetaWorld's scripted policies (`metaworld.policies`), acting on the flat observation.

Cameras: MetaWorld's `corner*` cameras are authored with their image-up axis pointing at the floor,
so they render upside down and mirrored (a half turn). Any camera whose up axis points below the
horizon at reset is turned a half turn about its viewing axis in the model, so every frame comes
out the right way up with no per-frame copy. Rendering is robolearn's: `mujoco.Renderer` on the env's
model with shadows, reflections, skybox and multisampling off and a framebuffer of the image size.
Each env owns its renderer and GL context; tests/test_sim_tasks.py checks that two envs rendering
in one process give the same frames as one alone.
"""
from __future__ import annotations

import robolearn.rendering  # noqa: F401  (MUJOCO_GL before mujoco)

import traceback
import warnings
from typing import Optional

import mujoco
import numpy as np
from gymnasium import spaces

from robolearn.envs.base import SimEnv
from robolearn.envs.render_model import RenderTwin
from robolearn.errors import RobolearnError

EXTRA = "sim"
# The 50 MT50 tasks (MetaWorld v3 names), in MetaWorld's own order; kept here so that registering
# them does not import metaworld. tests/test_sim_tasks.py checks the list against metaworld's.
MT50 = [
    "assembly-v3", "basketball-v3", "bin-picking-v3", "box-close-v3", "button-press-topdown-v3",
    "button-press-topdown-wall-v3", "button-press-v3", "button-press-wall-v3", "coffee-button-v3",
    "coffee-pull-v3", "coffee-push-v3", "dial-turn-v3", "disassemble-v3", "door-close-v3",
    "door-lock-v3", "door-open-v3", "door-unlock-v3", "hand-insert-v3", "drawer-close-v3",
    "drawer-open-v3", "faucet-open-v3", "faucet-close-v3", "hammer-v3", "handle-press-side-v3",
    "handle-press-v3", "handle-pull-side-v3", "handle-pull-v3", "lever-pull-v3", "peg-insert-side-v3",
    "pick-place-wall-v3", "pick-out-of-hole-v3", "reach-v3", "push-back-v3", "push-v3", "pick-place-v3",
    "plate-slide-v3", "plate-slide-side-v3", "plate-slide-back-v3", "plate-slide-back-side-v3",
    "peg-unplug-side-v3", "soccer-v3", "stick-push-v3", "stick-pull-v3", "push-wall-v3", "reach-wall-v3",
    "shelf-place-v3", "sweep-into-v3", "sweep-v3", "window-open-v3", "window-close-v3",
]
# ML45's held-out test tasks (metaworld.env_dict.ML45_V3["test"]); the other 45 are its train tasks.
ML45_TEST = ["bin-picking-v3", "box-close-v3", "hand-insert-v3", "door-lock-v3", "door-unlock-v3"]

DEFAULT_CAMERAS = ["corner2", "gripperPOV"]
CONTROL_HZ = 80  # MetaWorld's render_fps: 5 physics steps of 2.5 ms per action
DEFAULT_HORIZON = 500  # MetaWorld's max_path_length
OBS_OBJ = slice(4, 18)  # two objects' position + quaternion in the flat observation
OBS_GOAL = slice(36, 39)
FEATURE_NAMES = [
    *(f"obj{i}_{c}" for i in (1, 2) for c in ("x", "y", "z", "qx", "qy", "qz", "qw")),
    "goal_x", "goal_y", "goal_z", "hand_x", "hand_y", "hand_z", "gripper_open",
]
STATE_BOUND = 10.0


def import_metaworld():
    """The metaworld module, or a one-line error naming the pip extra."""
    try:
        import metaworld  # noqa: F401  (registers MetaWorld's gymnasium ids; imports the env classes)
        from metaworld.env_dict import ALL_V3_ENVIRONMENTS
        from metaworld.policies import ENV_POLICY_MAP
    except ImportError as e:
        raise RobolearnError(
            f"MetaWorld tasks need the optional dependency metaworld ({e}); install it with "
            f"pip install 'robolearn[{EXTRA}]'") from None
    return ALL_V3_ENVIRONMENTS, ENV_POLICY_MAP


def _half_turn_about_z(quat: np.ndarray) -> np.ndarray:
    """quat (w x y z) followed by a half turn about its own z (the camera's viewing axis)."""
    out = np.zeros(4)
    mujoco.mju_mulQuat(out, np.asarray(quat, np.float64), np.array([0.0, 0.0, 0.0, 1.0]))
    return out


class MetaWorldEnv(SimEnv):
    """One MetaWorld v3 task behind robolearn's env interface (see the module docstring)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": CONTROL_HZ}

    def __init__(self, task: str = "reach-v3", image_size: int = 64, cameras: Optional[list[str]] = None,
                 horizon: Optional[int] = None, render: bool = True, render_mode: Optional[str] = None,
                 light_meshes: bool = True):
        super().__init__()
        self.light_meshes = bool(light_meshes)
        if task not in MT50:
            raise RobolearnError(f"unknown MetaWorld task '{task}'; known (MT50): {', '.join(MT50)}")
        self._init_render_args(image_size, render, render_mode)
        self.task = task
        self.horizon = int(horizon) if horizon is not None else DEFAULT_HORIZON
        if not 1 <= self.horizon <= DEFAULT_HORIZON:
            # MetaWorld refuses to step past its max_path_length.
            raise RobolearnError(f"horizon must be in 1..{DEFAULT_HORIZON} for MetaWorld, got {horizon}")
        self.control_hz = CONTROL_HZ

        classes, _ = import_metaworld()
        mw = classes[task](width=self.image_size, height=self.image_size)
        # What MetaWorld's benchmarks do through set_task, without a fixed list of 50 layouts:
        # a new layout per reset, drawn from the env's own generator (reseeded in `reset`).
        mw._set_task_called = True
        mw._freeze_rand_vec = False
        mw.seeded_rand_vec = True
        mw._partially_observable = False
        if "sawyer_observation_space" in mw.__dict__:
            del mw.sawyer_observation_space  # cached with the goal masked out; recompute
        mw.observation_space = mw.sawyer_observation_space
        mw.max_path_length = DEFAULT_HORIZON
        self._mw = mw
        self.model: mujoco.MjModel = mw.model
        self.data: mujoco.MjData = mw.data

        self._init_cameras(cameras, DEFAULT_CAMERAS, f"metaworld/{task}", offsamples=0)

        self._phys_size = mujoco.mj_stateSize(self.model, mujoco.mjtState.mjSTATE_INTEGRATION)
        self.state_size = self._phys_size + 3 + 18  # + goal position + MetaWorld's previous-frame obs
        self._flat, _ = mw.reset()
        self.flipped_cameras = self._turn_upside_down_cameras()

        s = self.image_size
        obs = {f"{c}_image": spaces.Box(0, 255, (s, s, 3), np.uint8) for c in self.cameras} if self.render_images else {}
        hand = mw._HAND_SPACE
        obs["proprio"] = spaces.Box(np.append(hand.low, -1.0).astype(np.float32),
                                    np.append(hand.high, 1.0).astype(np.float32), (4,), np.float32)
        obs["state"] = spaces.Box(-STATE_BOUND, STATE_BOUND, (17,), np.float32)
        self.observation_space = spaces.Dict(obs)
        self.action_space = spaces.Box(-1.0, 1.0, (4,), np.float32)
        self._steps = 0
        self._solved = False

    def _get_renderer(self):
        if self._renderer is None and self.light_meshes and self._render_twin is None:
            # Built at the first render: physics-only envs never pay for it.
            self._render_twin = RenderTwin(self.model, mujoco.MjSpec.from_file(self._mw.model_name))
        return super()._get_renderer()

    def _turn_upside_down_cameras(self) -> list[str]:
        """Half-turn every camera whose image-up axis points below the horizon (see module doc)."""
        mujoco.mj_forward(self.model, self.data)
        flipped = []
        for cid in range(self.model.ncam):
            up = self.data.cam_xmat[cid].reshape(3, 3)[:, 1]
            if up[2] < -1e-6:
                self.model.cam_quat[cid] = _half_turn_about_z(self.model.cam_quat[cid])
                flipped.append(self.model.camera(cid).name)
        mujoco.mj_forward(self.model, self.data)
        return flipped

    # ------------------------------------------------------------------ privileged state
    @property
    def mw(self):
        """The wrapped MetaWorld env."""
        return self._mw

    @property
    def flat_obs(self) -> np.ndarray:
        """MetaWorld's 39-float observation (hand, gripper, objects, previous frame, goal)."""
        return self._flat

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        super().reset(seed=seed)
        self._mw.np_random = np.random.default_rng(int(self.np_random.integers(2**63)))
        self._flat, _ = self._mw.reset()
        self._steps = 0
        self._frames = None
        self._solved = False
        return self._observation(), {"success": 0.0, "is_success": False}

    def step(self, action):
        a = np.asarray(action, dtype=np.float64).reshape(self.action_space.shape)
        if not np.isfinite(a).all():
            return self._fault("non-finite action")
        try:
            self._flat, _, _, _, mw_info = self._mw.step(np.clip(a, -1.0, 1.0).astype(np.float32))
        except Exception as e:  # MetaWorld/MuJoCo errors end this episode, not the run
            return self._fault(f"{type(e).__name__}: {e}", traceback.format_exc())
        self._steps += 1
        self._frames = None
        if self._mw._did_see_sim_exception:
            return self._fault("MuJoCo simulation error")
        if not (np.isfinite(self.data.qpos).all() and np.isfinite(self.data.qvel).all()):
            return self._fault("non-finite state")
        solved = bool(mw_info["success"])
        truncated = not solved and self._steps >= self.horizon
        return self._observation(), float(solved), solved, truncated, {"success": float(solved), "is_success": solved}

    # ------------------------------------------------------------------ state
    def get_state(self) -> np.ndarray:
        """MuJoCo's integration state, the goal position, and MetaWorld's previous-frame observation."""
        phys = np.empty(self._phys_size)
        mujoco.mj_getState(self.model, self.data, phys, mujoco.mjtState.mjSTATE_INTEGRATION)
        return np.concatenate([phys, self._mw._target_pos, self._mw._prev_obs])

    def set_state(self, state) -> None:
        state = np.asarray(state, dtype=np.float64).ravel()
        if state.shape != (self.state_size,):
            raise RobolearnError(f"metaworld/{self.task}.set_state: expected {self.state_size} floats, got {state.size}")
        p = self._phys_size
        mujoco.mj_setState(self.model, self.data, state[:p], mujoco.mjtState.mjSTATE_INTEGRATION)
        self._mw._target_pos = state[p: p + 3].copy()
        self._mw._prev_obs = state[p + 3: p + 21].copy()
        for site, pos in self._mw._target_site_config:
            self.model.site(site).pos = pos
        mujoco.mj_forward(self.model, self.data)
        prev = self._mw._prev_obs.copy()
        self._flat = np.asarray(self._mw._get_obs(), np.float64)  # (this shifts the frame stack...)
        self._mw._prev_obs = prev  # ...which a restored state must not do
        self._frames = None

    # ------------------------------------------------------------------ helpers
    def _observation(self) -> dict[str, np.ndarray]:
        obs = {}
        if self.render_images:
            for name, frame in self.render_all().items():
                obs[f"{name}_image"] = frame
        space = self.observation_space["proprio"]
        obs["proprio"] = np.clip(self._flat[:4], space.low, space.high).astype(np.float32)
        state = np.concatenate([self._flat[OBS_OBJ], self._flat[OBS_GOAL]])
        obs["state"] = np.clip(state, -STATE_BOUND, STATE_BOUND).astype(np.float32)
        return obs


class MetaWorldExpert:
    """MetaWorld's scripted policy for the task, on the env's flat observation.

    The policies are deterministic; `rng` (the expert's own stream) adds Gaussian noise of
    `noise_std` to the arm's motion, 0 by default (MetaWorld's policies, as published)."""

    def __init__(self, env, rng: np.random.Generator, noise_std: float = 0.0):
        self.env: MetaWorldEnv = env.unwrapped
        _, policies = import_metaworld()
        self.policy = policies[self.env.task]()
        self.rng = rng
        self.noise_std = float(noise_std)
        self.mode = 0

    def act(self, obs=None) -> np.ndarray:
        with warnings.catch_warnings():
            # The policies warn on every large step ("Constant(s) may be too high"); the env clips.
            warnings.simplefilter("ignore")
            a = np.asarray(self.policy.get_action(self.env.flat_obs), np.float64)
        if self.noise_std > 0:
            a[:3] += self.rng.normal(0.0, self.noise_std, 3)
        return np.clip(a, -1.0, 1.0).astype(np.float32)


class MetaWorldTask:
    """What robolearn needs of a task (expert, task_features, FEATURE_NAMES, DEFAULT_CAMERAS)."""

    FEATURE_NAMES = FEATURE_NAMES
    DEFAULT_CAMERAS = DEFAULT_CAMERAS
    EVAL_ENVS_PER_WORKER = 1
    """Envs an evaluation worker runs at most: a step (8-16 ms of CPU) dwarfs the ~0.1 ms message it
    saves, while each more env costs ~1 s of start-up (render twin, GL context) and its memory."""

    def __init__(self, name: str):
        self.name = name

    def expert(self, env, rng: np.random.Generator) -> MetaWorldExpert:
        return MetaWorldExpert(env, rng)

    def task_features(self, env) -> np.ndarray:
        flat = env.unwrapped.flat_obs
        return np.concatenate([flat[OBS_OBJ], flat[OBS_GOAL], flat[:4]]).astype(np.float32)


def env_id(task: str) -> str:
    """robolearn's gymnasium id of an MT50 task name: 'pick-place-v3' -> 'metaworld/pick-place-v3'."""
    return f"metaworld/{task}"


# ML10's split (metaworld.env_dict.ML10_V3), a subset of ML45's train tasks plus held-out tasks that
# are not in it: 10 + 5 tasks.
ML10_TRAIN = ["reach-v3", "push-v3", "pick-place-v3", "door-open-v3", "drawer-close-v3",
              "button-press-topdown-v3", "peg-insert-side-v3", "window-open-v3", "sweep-v3", "basketball-v3"]
ML10_TEST = ["drawer-open-v3", "door-close-v3", "shelf-place-v3", "sweep-into-v3", "lever-pull-v3"]


def fewshot_split(size: str = "small") -> tuple[list[str], list[str]]:
    """(pretraining pool, held-out few-shot tasks) as robolearn env ids, disjoint.

    - "ml45": MetaWorld's ML45 split, 45 pool tasks and 5 held out (bin-picking, box-close,
      hand-insert, door-lock, door-unlock): the split of the meta-learning literature.
    - "small": MetaWorld's ML10 split, 10 pool tasks and 5 held out, sized for a 2-core CPU:
      MetaWorld collection runs at roughly 10-20 frames/s there with two 64-px cameras
      (benchmarks/adapter_speed.py: ~23 ms of CPU per corner-camera frame, the Sawyer meshes
      dominate), so 20 demos of ~80 steps for each of 45 pool tasks is over an hour of collection
      before any pretraining; 10 tasks is about 20 minutes. It is a published split (results
      compare), its pool spans the primitives (reach, push, pick-place, open, close, press, insert,
      sweep), and its scripted policies succeed in 85-100% of episodes
      (benchmarks/expert_success.py; collection keeps successful episodes only).
    """
    if size == "ml45":
        return [env_id(t) for t in MT50 if t not in ML45_TEST], [env_id(t) for t in ML45_TEST]
    if size == "small":
        return [env_id(t) for t in ML10_TRAIN], [env_id(t) for t in ML10_TEST]
    raise RobolearnError(f"unknown few-shot split '{size}'; use 'ml45' or 'small'")


ENTRY_POINT = "robolearn.envs.metaworld_tasks:MetaWorldEnv"
TASKS = {env_id(name): MetaWorldTask(name) for name in MT50}
"""Env id -> task object; the gymnasium id's kwargs carry `task`."""
