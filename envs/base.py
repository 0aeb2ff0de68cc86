"""The shared MuJoCo env: model loading, control loop, cameras, offscreen rendering, state, faults.

A task subclass supplies the MJCF file and five small hooks (`_reset_task`, `_apply_action`,
`_proprio`, `_success`, and the task-state pair `_task_state`/`_set_task_state`); everything a
policy, the collector or the evaluator touches (spaces, `step`, `reset`, `get_state`/`set_state`,
rendering, simulator-fault containment) lives here once.
"""
from __future__ import annotations

import robolearn.rendering  # noqa: F401  (MUJOCO_GL must be set before mujoco is imported)

import atexit
import weakref
from pathlib import Path
from typing import Optional

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces

from robolearn.errors import RobolearnError

ASSETS = Path(__file__).resolve().parent / "assets"

# qpos, qvel, act, time, ctrl, mocap poses and the solver warm start: everything mj_step reads, so a
# restored state steps bit-for-bit like the original (the warm start changes contact solutions).
STATE_SPEC = mujoco.mjtState.mjSTATE_INTEGRATION

# MuJoCo does not raise on divergence: it warns, resets mjData to the initial pose and carries on.
# These counters are how a step finds out that happened.
_FAULT_WARNINGS = {
    mujoco.mjtWarning.mjWARN_BADQACC: "unstable simulation (non-finite or huge acceleration)",
    mujoco.mjtWarning.mjWARN_BADQVEL: "non-finite or huge velocity",
    mujoco.mjtWarning.mjWARN_BADQPOS: "non-finite or huge position",
}

# Envs holding a GL context. A Renderer left to its __del__ at interpreter exit fails noisily (EGL is
# torn down first), so whatever the caller did not close is closed at exit while EGL is still alive.
_OPEN_ENVS: "weakref.WeakSet[MujocoTaskEnv]" = weakref.WeakSet()
_exit_hook_registered = False


def _close_open_envs() -> None:
    for env in list(_OPEN_ENVS):
        env.close()


def _track(env: "MujocoTaskEnv") -> None:
    global _exit_hook_registered
    _OPEN_ENVS.add(env)
    if not _exit_hook_registered:
        # Registered after the first GL context exists, hence after mujoco.egl's own atexit
        # (eglTerminate): atexit runs last-in first-out, so this one runs before EGL goes away.
        atexit.register(_close_open_envs)
        _exit_hook_registered = True


class CameraRenderer:
    """Cameras and offscreen rendering on `self.model` / `self.data`, shared by our MuJoCo tasks and
    the robosuite and MetaWorld adapters: each camera's frame is rendered once per state (a step or
    `set_state` clears `_frames`), the GL context opens on the first render (physics-only envs never
    open one), and whatever is left open is closed at exit while EGL is still alive."""

    _scene_option: Optional[mujoco.MjvOption] = None
    """Visibility options for every render (robosuite hides its collision geoms); None: MuJoCo's."""
    _render_twin = None
    """A `robolearn.envs.render_model.RenderTwin` drawn in place of `model` (lighter meshes); None: `model`."""

    def _init_render_args(self, image_size: int, render: bool, render_mode: Optional[str]) -> None:
        """Check and keep the env kwargs every task shares: image size, rendering on/off, render_mode."""
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise RobolearnError(f"render_mode '{render_mode}' not supported; use one of {self.metadata['render_modes']}")
        if int(image_size) < 8:
            raise RobolearnError(f"image_size must be at least 8 pixels, got {image_size}")
        self.image_size = int(image_size)
        self.render_images = bool(render)
        self.render_mode = render_mode

    def _init_cameras(self, cameras: Optional[list[str]], default: list[str], label: str,
                      offsamples: Optional[int] = None) -> None:
        """Check and resolve the camera names (`label` names the env in errors); size the offscreen
        buffer to one image; `offsamples`: multisampling of it (0 saves a large share of software-GL time)."""
        self.cameras = list(default if cameras is None else cameras)
        if not self.cameras or len(set(self.cameras)) != len(self.cameras):
            raise RobolearnError(f"cameras must name one or more distinct cameras, got {self.cameras}")
        self._camera_ids = []
        for name in self.cameras:
            cid = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, name)
            if cid < 0:
                known = [self.model.camera(i).name for i in range(self.model.ncam)]
                raise RobolearnError(f"{label}: unknown camera '{name}'; known: {', '.join(known)}")
            self._camera_ids.append(cid)
        # The offscreen framebuffer only needs to hold one image; a small one renders faster.
        self.model.vis.global_.offwidth = self.image_size
        self.model.vis.global_.offheight = self.image_size
        if offsamples is not None:
            self.model.vis.quality.offsamples = offsamples
        self._renderer: Optional[mujoco.Renderer] = None
        self._frames: Optional[dict[str, np.ndarray]] = None  # frames of the current state, if rendered

    def render(self):
        """The first camera's frame (for videos); None when no render_mode was asked for."""
        if self.render_mode is None:
            return None
        return self.render_all()[self.cameras[0]].copy()  # a copy: the cached frame is also in obs

    def render_all(self, force: bool = False) -> dict[str, np.ndarray]:
        """Every camera's frame of the current state, rendered once per state (`force`: render again)."""
        if self._frames is None or force:
            r = self._get_renderer()
            data = self.data if self._render_twin is None else self._render_twin.sync(self.model, self.data)
            frames = {}
            for name, cid in zip(self.cameras, self._camera_ids):
                if self._scene_option is None:
                    r.update_scene(data, camera=cid)
                else:
                    r.update_scene(data, camera=cid, scene_option=self._scene_option)
                self._fast_flags(r.scene)
                frames[name] = r.render()
            self._frames = frames
        return self._frames

    def close(self):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
            _OPEN_ENVS.discard(self)
        super().close()

    def _get_renderer(self) -> mujoco.Renderer:
        if self._renderer is None:
            try:
                model = self.model if self._render_twin is None else self._render_twin.model
                self._renderer = mujoco.Renderer(model, self.image_size, self.image_size, max_geom=_max_geom(model))
            except Exception as e:  # no GL library, a bad MUJOCO_EGL_DEVICE_ID, ...
                raise RobolearnError(f"cannot render with MUJOCO_GL={robolearn.rendering.BACKEND}: "
                                     f"{type(e).__name__}: {e}") from None
            _track(self)
        return self._renderer

    @staticmethod
    def _fast_flags(scene: mujoco.MjvScene) -> None:
        # Shadows and reflections cost extra passes on a software renderer and add little at 64 px.
        scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
        scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
        scene.flags[mujoco.mjtRndFlag.mjRND_SKYBOX] = 0


def _max_geom(model: mujoco.MjModel) -> int:
    """Room in the scene for everything the model can draw, with margin. mujoco.Renderer's default
    of 10,000 geoms costs ~25 ms of CPU to allocate, per env: most of an env's start-up on our tasks."""
    return 2 * (model.ngeom + model.nsite + model.nbody + 8 * model.ntendon + model.nskin + model.nflex) + 100


class SimEnv(CameraRenderer, gym.Env):
    """What every simulated task shares beyond rendering: how a faulted step ends the episode.
    Our own tasks (MujocoTaskEnv) and the robosuite and MetaWorld adapters derive from it."""

    def _fault(self, reason: str, tb: Optional[str] = None):
        """End the episode instead of raising: one diverged episode must not kill a collection run."""
        self._frames = None
        obs = self._observation()
        for k in ("proprio", "state"):
            if k in obs:
                obs[k] = np.nan_to_num(obs[k], nan=0.0, posinf=0.0, neginf=0.0)
        info = {"success": 0.0, "is_success": False, "sim_fault": True, "fault": reason}
        if tb:  # the evaluator saves it beside its results (a fault must be debuggable, not just counted)
            info["fault_traceback"] = tb
        return obs, 0.0, True, False, info


class MujocoTaskEnv(SimEnv):
    """A planar MuJoCo task with camera images and a proprioceptive vector.

    Subclasses set the class attributes below and implement the hooks. Observations are a Dict of
    `<camera>_image` (uint8 H×W×3) per camera plus `proprio` (float32); actions are float32 in
    [-1, 1] (clipped here, so a policy slightly outside the box is not an error). The reward is
    sparse and equals `info["success"]`; `terminated` is set when the task is solved.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    XML: str = ""  # file name under assets/
    DEFAULT_CAMERAS: list[str] = []
    DEFAULT_HORIZON: int = 100
    CONTROL_HZ: int = 10
    ACTION_DIM: int = 2
    PROPRIO_DIM: int = 4
    # Symmetric bound per proprio entry (positions a little beyond the workspace, speeds far beyond
    # what the servos reach). Finite bounds keep gymnasium's checker quiet; values are clipped to
    # them so an observation is always inside its space.
    PROPRIO_BOUND: tuple[float, ...] = ()
    STATE_DIM: int = 0
    """Width of the privileged `state` observation (object poses, goals; what the state-ceiling
    policy sees instead of images). Never the expert's private plan."""
    STATE_BOUND: float = 10.0
    TASK_STATE_SIZE: int = 0  # floats appended to the MuJoCo state by `get_state`

    def __init__(
        self,
        image_size: int = 64,
        cameras: Optional[list[str]] = None,
        horizon: Optional[int] = None,
        render: bool = True,
        render_mode: Optional[str] = None,
    ):
        super().__init__()
        self._init_render_args(image_size, render, render_mode)
        self.model = mujoco.MjModel.from_xml_path(str(ASSETS / self.XML))
        self.data = mujoco.MjData(self.model)
        self.horizon = int(horizon) if horizon is not None else self.DEFAULT_HORIZON
        if self.horizon < 1:
            raise RobolearnError(f"horizon must be at least 1, got {horizon}")
        self.control_hz = self.CONTROL_HZ
        # Physics steps per control step: the control period over the MJCF timestep.
        self.frame_skip = max(1, int(round(1.0 / (self.CONTROL_HZ * self.model.opt.timestep))))

        self._init_cameras(cameras, self.DEFAULT_CAMERAS, type(self).__name__)

        s = self.image_size
        obs = {f"{c}_image": spaces.Box(0, 255, (s, s, 3), np.uint8) for c in self.cameras} if self.render_images else {}
        self._proprio_bound = np.asarray(self.PROPRIO_BOUND, dtype=np.float32)
        if self._proprio_bound.shape != (self.PROPRIO_DIM,):
            raise ValueError(f"{type(self).__name__}.PROPRIO_BOUND needs {self.PROPRIO_DIM} entries")
        obs["proprio"] = spaces.Box(-self._proprio_bound, self._proprio_bound, (self.PROPRIO_DIM,), np.float32)
        if self.STATE_DIM:
            obs["state"] = spaces.Box(-self.STATE_BOUND, self.STATE_BOUND, (self.STATE_DIM,), np.float32)
        self.observation_space = spaces.Dict(obs)
        self.action_space = spaces.Box(-1.0, 1.0, (self.ACTION_DIM,), np.float32)

        self._phys_state_size = mujoco.mj_stateSize(self.model, STATE_SPEC)
        self.state_size = self._phys_state_size + self.TASK_STATE_SIZE
        self._steps = 0

    # ------------------------------------------------------------------ task hooks
    def _reset_task(self, rng: np.random.Generator) -> None:
        """Randomize the initial configuration (called after mj_resetData, before mj_forward)."""
        raise NotImplementedError

    def _apply_action(self, action: np.ndarray) -> None:
        """Write a clipped action in [-1, 1] into `data.ctrl`."""
        raise NotImplementedError

    def _proprio(self) -> np.ndarray:
        raise NotImplementedError

    def _success(self) -> float:
        raise NotImplementedError

    def _state(self) -> np.ndarray:
        """The privileged low-dimensional state (STATE_DIM floats)."""
        return np.zeros(0)

    def _task_state(self) -> np.ndarray:
        return np.zeros(0)

    def _set_task_state(self, state: np.ndarray) -> None:
        pass

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        super().reset(seed=seed)
        mujoco.mj_resetData(self.model, self.data)
        self._reset_task(self.np_random)
        mujoco.mj_forward(self.model, self.data)
        self._steps = 0
        self._frames = None
        success = self._success()
        return self._observation(), {"success": success, "is_success": success >= 1.0, **self._step_info()}

    def step(self, action):
        a = np.asarray(action, dtype=np.float64).reshape(self.action_space.shape)
        if not np.isfinite(a).all():
            return self._fault("non-finite action")
        self._apply_action(np.clip(a, -1.0, 1.0))
        before = {w: self.data.warning[w].number for w in _FAULT_WARNINGS}
        mujoco.mj_step(self.model, self.data, nstep=self.frame_skip)
        self._steps += 1
        self._frames = None
        for w, reason in _FAULT_WARNINGS.items():
            if self.data.warning[w].number > before[w]:
                return self._fault(reason)
        if not (np.isfinite(self.data.qpos).all() and np.isfinite(self.data.qvel).all()):
            return self._fault("non-finite state")
        success = self._success()
        solved = success >= 1.0
        truncated = not solved and self._steps >= self.horizon
        info = {"success": success, "is_success": solved, **self._step_info()}
        return self._observation(), success, solved, truncated, info

    def _step_info(self) -> dict:
        """Task-specific scalars added to every step's info (what happened, not privileged state
        a policy could use: the evaluator only reports them)."""
        return {}

    # ------------------------------------------------------------------ state
    def get_state(self) -> np.ndarray:
        """Flat float64 state: MuJoCo's integration state, then the task's own (goal, plan)."""
        phys = np.empty(self._phys_state_size, dtype=np.float64)
        mujoco.mj_getState(self.model, self.data, phys, STATE_SPEC)
        return np.concatenate([phys, np.asarray(self._task_state(), dtype=np.float64)])

    def set_state(self, state) -> None:
        state = np.asarray(state, dtype=np.float64).ravel()
        if state.shape != (self.state_size,):
            raise RobolearnError(f"{type(self).__name__}.set_state: expected {self.state_size} floats, got {state.size}")
        mujoco.mj_setState(self.model, self.data, state[: self._phys_state_size], STATE_SPEC)
        self._set_task_state(state[self._phys_state_size:])
        # Recompute positions of bodies and cameras; the warm start in the state is left untouched.
        mujoco.mj_forward(self.model, self.data)
        self._frames = None

    # ------------------------------------------------------------------ helpers
    def _observation(self) -> dict[str, np.ndarray]:
        obs = {}
        if self.render_images:
            for name, frame in self.render_all().items():
                obs[f"{name}_image"] = frame
        proprio = np.asarray(self._proprio(), dtype=np.float32)
        obs["proprio"] = np.clip(proprio, -self._proprio_bound, self._proprio_bound)
        if self.STATE_DIM:
            state = np.asarray(self._state(), dtype=np.float32)
            obs["state"] = np.clip(state, -self.STATE_BOUND, self.STATE_BOUND)
        return obs
