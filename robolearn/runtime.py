"""Robot-side runtime for an exported policy bundle: numpy and onnxruntime only, no torch.

    from robolearn.runtime import BundlePolicy
    policy = BundlePolicy("bundle/", seed=0)
    policy.reset()                        # at the start of every episode
    action = policy.act(obs)              # obs: {"<camera>_image": uint8 (H, W, 3), "proprio": float (P,), ...}

A bundle (written by `robolearn export`) is a folder with `policy.onnx` (encoder + head in one
graph), `policy.json` (the spec this module validates) and `README.txt`. This module keeps what the
torch `Policy` keeps between steps: the observation history (the graph's per-step `features` fed
back as `history`), the action-chunk queue (T_a actions executed per graph call), and the noise for
generative heads (drawn here from a seeded numpy Generator, or passed in). Optional ACT-style
temporal ensembling calls the graph every step and averages the overlapping chunks.

Standalone on purpose: a robot computer installs numpy and onnxruntime, copies this file, and never
needs torch. Keep imports to the standard library, numpy and onnxruntime.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Optional

import numpy as np

SPEC_VERSION = 1
"""The bundle layout this runtime reads. Bumped on any incompatible change to policy.json or the graph."""
SPEC_FILE = "policy.json"
GRAPH_FILE = "policy.onnx"
NOISE_DISTRIBUTIONS = ("normal", "uniform")


class BundleError(ValueError):
    """A bundle or an observation that cannot be used; the message says what is wrong."""


# ----------------------------------------------------------------------------- the spec
def _field(d: Mapping, key: str, kind, where: str):
    if not isinstance(d, Mapping) or key not in d:
        raise BundleError(f"{where}: missing field '{key}'")
    v = d[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # JSON true/false are Python bools, which are ints: not a valid count or rate.
    if not isinstance(v, kinds) or (isinstance(v, bool) and bool not in kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise BundleError(f"{where}: field '{key}' must be {names}, got {type(v).__name__}")
    return v


def _positive_int(d: Mapping, key: str, where: str) -> int:
    v = _field(d, key, int, where)
    if v < 1:
        raise BundleError(f"{where}: field '{key}' must be >= 1, got {v}")
    return v


def _shape(v, where: str) -> tuple[int, ...]:
    if not isinstance(v, list) or not all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in v):
        raise BundleError(f"{where}: shape must be a list of positive integers, got {v!r}")
    return tuple(v)


def _bounds(v, dim: int, where: str) -> np.ndarray:
    """Action bounds: one number for every dimension, or one per dimension."""
    x = np.asarray(v, dtype=np.float64) if not isinstance(v, list) or all(
        isinstance(e, (int, float)) and not isinstance(e, bool) for e in v) else None
    if x is None or (x.ndim == 1 and len(x) != dim) or x.ndim > 1 or not np.isfinite(x).all():
        raise BundleError(f"{where}: must be a number or {dim} numbers, got {v!r}")
    return np.broadcast_to(x, (dim,)).astype(np.float32)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def lowdim_keys(spec: Mapping) -> list[str]:
    """The low-dim observation keys the graph takes, in input order. Bundles written before
    `observation.lowdim` existed took `proprio` alone, when their keys listed it."""
    obs = spec.get("observation") or {}
    if "lowdim" in obs:
        if not isinstance(obs["lowdim"], list) or not all(isinstance(k, str) for k in obs["lowdim"]):
            raise BundleError("observation.lowdim must be a list of key names")
        return list(obs["lowdim"])
    return ["proprio"] if "proprio" in (obs.get("keys") or {}) else []


def load_spec(bundle) -> dict:
    """Read and validate a bundle's policy.json; every problem is a one-line BundleError."""
    spec, where = _read_spec(Path(bundle))
    _check_header(spec, where)
    _check_observation(spec, where)
    _check_action(spec, where)
    _check_noise_spec(spec, where)
    _check_graph_entry(spec, where)
    return spec


def _read_spec(bundle: Path) -> tuple[dict, str]:
    """policy.json parsed, and its path as the messages name it."""
    if not bundle.is_dir():
        raise BundleError(f"{bundle}: no such bundle folder")
    path = bundle / SPEC_FILE
    if not path.is_file():
        raise BundleError(f"{path}: missing (not a robolearn bundle; make one with `robolearn export`)")
    try:
        spec = json.loads(path.read_text())
    except (UnicodeDecodeError, ValueError) as e:
        raise BundleError(f"{path}: not valid JSON ({e})") from None
    where = str(path)
    if not isinstance(spec, dict):
        raise BundleError(f"{where}: expected a JSON object")
    return spec, where


def _check_header(spec: dict, where: str) -> None:
    """The spec version this runtime reads, provenance strings, control rate and horizons."""
    version = _field(spec, "spec_version", int, where)
    if version != SPEC_VERSION:
        raise BundleError(f"{where}: unsupported spec_version {version}; this runtime reads spec_version "
                          f"{SPEC_VERSION} (re-export the policy or use a matching robolearn version)")
    for key in ("robolearn_version", "weights_hash", "head", "env_id"):
        _field(spec, key, str, where)
    _field(spec, "env_kwargs", dict, where)
    hz = _field(spec, "control_hz", (int, float), where)
    if not hz > 0:
        raise BundleError(f"{where}: control_hz must be positive, got {hz}")
    t_o, t, t_a = (_positive_int(spec, k, where) for k in ("obs_horizon", "pred_horizon", "action_horizon"))
    if t_a > t:
        raise BundleError(f"{where}: action_horizon {t_a} exceeds pred_horizon {t}")
    _positive_int(spec, "feature_dim", where)


def _check_observation(spec: dict, where: str) -> None:
    """Cameras (uint8 (H, W, 3) frames) and low-dim keys (float32 (d,)): at least one of them."""
    obs = _field(spec, "observation", dict, where)
    cams = _field(obs, "cameras", list, where + " observation")
    if not all(isinstance(c, str) for c in cams):
        raise BundleError(f"{where}: observation.cameras must be a list of names")
    keys = _field(obs, "keys", dict, where + " observation")
    lowdim = lowdim_keys(spec)
    if not cams and not lowdim:
        raise BundleError(f"{where}: the policy observes nothing (no cameras, no low-dim keys)")
    for cam in cams:
        k = f"{cam}_image"
        entry = _field(keys, k, dict, where + " observation.keys")
        shp = _shape(entry.get("shape"), f"{where} observation.keys.{k}")
        if len(shp) != 3 or shp[2] != 3 or entry.get("dtype") != "uint8":
            raise BundleError(f"{where}: observation.keys.{k} must be uint8 (H, W, 3), got {entry}")
    for k in lowdim:
        entry = _field(keys, k, dict, where + " observation.keys")
        shp = _shape(entry.get("shape"), f"{where} observation.keys.{k}")
        if len(shp) != 1 or entry.get("dtype") != "float32":
            raise BundleError(f"{where}: observation.keys.{k} must be float32 (d,), got {entry}")

    feats = obs.get("features") or {}
    if not isinstance(feats, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("feature"), str) and isinstance(v.get("names", []), list)
            for v in feats.values()):
        raise BundleError(f"{where}: observation.features must map keys to {{feature, names}}")


def _check_action(spec: dict, where: str) -> None:
    act = _field(spec, "action", dict, where)
    dim = _positive_int(act, "dim", where + " action")
    low, high = (_bounds(_field(act, k, (int, float, list), where + " action"), dim, f"{where} action.{k}")
                 for k in ("low", "high"))
    if not (low <= high).all():  # equal where the demonstrations never moved that dimension
        raise BundleError(f"{where}: action bounds must satisfy low <= high, got [{act['low']}, {act['high']}]")


def _check_noise_spec(spec: dict, where: str) -> None:
    """`noise`: null, or the shape and distribution of a generative head's noise input."""
    noise = spec.get("noise", None)
    if noise is not None:
        if not isinstance(noise, dict):
            raise BundleError(f"{where}: field 'noise' must be null or an object")
        _shape(noise.get("shape"), f"{where} noise")
        if noise.get("distribution") not in NOISE_DISTRIBUTIONS:
            raise BundleError(f"{where}: noise.distribution must be one of {NOISE_DISTRIBUTIONS}, "
                              f"got {noise.get('distribution')!r}")


def _check_graph_entry(spec: dict, where: str) -> None:
    """`graph`: a file name inside the bundle (never a path out of it) and its sha256."""
    graph = _field(spec, "graph", dict, where)
    gfile = _field(graph, "file", str, where + " graph")
    if Path(gfile).name != gfile:
        raise BundleError(f"{where}: graph.file must be a file name inside the bundle, got {gfile!r}")
    _field(graph, "sha256", str, where + " graph")


# ----------------------------------------------------------------------------- the policy
class BundlePolicy:
    """An exported policy, stepped one observation at a time (one robot, unbatched).

    seed: seeds the numpy Generator that draws the noise of generative heads (diffusion: normal
        initial noise; VQ-BeT: one uniform per code layer). `reset(seed=...)` reseeds.
    temporal_ensemble: None executes T_a actions of each chunk, then calls the graph again (what
        training assumed). A float k calls the graph every step and executes the exponentially
        weighted mean of every chunk's prediction for the current step, weights exp(-k * i) with
        i = 0 for the oldest chunk (ACT, Zhao et al. 2023; k = 0.01 there).
    threads: onnxruntime intra-op threads (1 keeps latency predictable beside a control loop).
    """

    def __init__(self, path, seed: int = 0, temporal_ensemble: Optional[float] = None, threads: int = 1):
        import onnxruntime as ort  # lazy: `load_spec` and the checks need only numpy

        self.path = Path(path)
        self.spec = spec = load_spec(self.path)
        graph = self.path / spec["graph"]["file"]
        if not graph.is_file():
            raise BundleError(f"{graph}: missing (the bundle is incomplete; re-export it)")
        if sha256_file(graph) != spec["graph"]["sha256"]:
            raise BundleError(f"{graph}: contents do not match the sha256 in {SPEC_FILE} (corrupt or replaced file)")
        if temporal_ensemble is not None and not math.isfinite(float(temporal_ensemble)):
            raise BundleError(f"temporal_ensemble must be a finite number or None, got {temporal_ensemble}")
        if int(threads) < 1:
            raise BundleError(f"threads must be >= 1, got {threads}")

        so = ort.SessionOptions()
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # The `plan` input has a default value (an initializer) by design; onnxruntime warns about
        # every such input at load. Errors still surface as exceptions.
        so.log_severity_level = 3
        # One robot: pinning the graph's dynamic batch axis to 1 lets onnxruntime fold the shape
        # arithmetic that a dynamic batch keeps (a quarter of the diffusion graph's nodes).
        so.add_free_dimension_override_by_name("batch", 1)
        try:
            self.session = ort.InferenceSession(str(graph), so, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types for a corrupt model
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise BundleError(f"{graph}: onnxruntime cannot load it ({msg[:300]})") from None

        self.cameras: list[str] = list(spec["observation"]["cameras"])
        self.obs_spec: dict = spec["observation"]["keys"]
        self.image_shape = tuple(self.obs_spec[f"{self.cameras[0]}_image"]["shape"]) if self.cameras else None
        self.lowdim_keys: list[str] = lowdim_keys(spec)
        self.lowdim_dims = {k: int(self.obs_spec[k]["shape"][0]) for k in self.lowdim_keys}
        self.use_proprio = "proprio" in self.lowdim_keys
        self.proprio_dim = self.lowdim_dims.get("proprio", 0)
        self.action_dim = int(spec["action"]["dim"])
        self.action_low = _bounds(spec["action"]["low"], self.action_dim, "action.low")
        self.action_high = _bounds(spec["action"]["high"], self.action_dim, "action.high")
        self.action_names: Optional[list[str]] = spec["action"].get("names")
        self.features: dict = dict(spec["observation"].get("features") or {})
        self.obs_horizon = int(spec["obs_horizon"])
        self.pred_horizon = int(spec["pred_horizon"])
        self.action_horizon = int(spec["action_horizon"])
        self.feature_dim = int(spec["feature_dim"])
        self.control_hz = float(spec["control_hz"])
        self.env_id: str = spec["env_id"]
        self.env_kwargs: dict = dict(spec["env_kwargs"])
        noise = spec.get("noise")
        self.noise_shape: Optional[tuple[int, ...]] = tuple(noise["shape"]) if noise else None
        self.noise_distribution: Optional[str] = noise["distribution"] if noise else None
        self.temporal_ensemble = None if temporal_ensemble is None else float(temporal_ensemble)
        self._check_graph()
        self._rng = np.random.default_rng(seed)
        self.reset()

    # ------------------------------------------------------------------ validation
    def _check_graph(self) -> None:
        """The graph's inputs and outputs must be the ones the spec describes."""
        v = len(self.cameras)
        want = {"images": ("tensor(uint8)", [v, *self.image_shape])} if self.cameras else {}
        for k, d in self.lowdim_dims.items():
            want[k] = ("tensor(float)", [d])
        if self.obs_horizon > 1:
            want["history"] = ("tensor(float)", [self.obs_horizon - 1, self.feature_dim])
        if self.noise_shape is not None:
            want["noise"] = ("tensor(float)", list(self.noise_shape))
        have = {i.name: i for i in self.session.get_inputs()}
        where = self.path / self.spec["graph"]["file"]
        if set(have) != set(want):
            raise BundleError(f"{where}: graph inputs {sorted(have)} do not match {SPEC_FILE} (expected {sorted(want)})")
        for name, (dtype, dims) in want.items():
            i = have[name]
            if i.type != dtype or list(i.shape[1:]) != dims:
                raise BundleError(f"{where}: input '{name}' is {i.type} {i.shape}, "
                                  f"{SPEC_FILE} says {dtype} [batch, {', '.join(map(str, dims))}]")
        outs = {o.name for o in self.session.get_outputs()}
        if not {"actions", "features"} <= outs:
            raise BundleError(f"{where}: graph outputs {sorted(outs)} lack 'actions'/'features'")
        # `plan` (bool, default True) lets a step that only needs this frame's features skip the head.
        self._has_plan = any(i.name == "plan" for i in self.session.get_overridable_initializers())

    def check_obs(self, obs) -> dict[str, np.ndarray]:
        """Validated graph feeds of one observation: `images` uint8 (1, V, H, W, 3) when the policy
        has cameras, and each low-dim key float32 (1, d)."""
        if not isinstance(obs, Mapping):
            raise BundleError(f"observation must be a dict of arrays, got {type(obs).__name__}")
        have = ", ".join(sorted(map(str, obs))) or "none"
        obs = self._by_bundle_keys(obs)
        feeds = {}
        views = []
        for cam in self.cameras:
            key = f"{cam}_image"
            if key not in obs:
                raise BundleError(f"observation has no '{key}'{self._lerobot_name(key)} (got keys: {have})")
            x = np.asarray(obs[key])
            if x.dtype != np.uint8:
                raise BundleError(f"observation '{key}' must be uint8, got {x.dtype}")
            if x.shape != self.image_shape:
                raise BundleError(f"observation '{key}' must have shape {self.image_shape}, got {x.shape}")
            views.append(x)
        if views:
            feeds["images"] = np.stack(views)[None]
        for key, d in self.lowdim_dims.items():
            if key not in obs:
                raise BundleError(f"observation has no '{key}'{self._lerobot_name(key)} (got keys: {have})")
            p = np.asarray(obs[key])
            if p.dtype.kind != "f":
                raise BundleError(f"observation '{key}' must be a float array (float32), got {p.dtype}")
            if p.shape != (d,):
                raise BundleError(f"observation '{key}' must have shape ({d},), got {p.shape}")
            if not np.isfinite(p).all():
                raise BundleError(f"observation '{key}' holds NaN or inf")
            feeds[key] = p.astype(np.float32)[None]
        return feeds

    def _lerobot_name(self, key: str) -> str:
        ft = self.features.get(key)
        if not ft:
            return ""
        names = ft.get("names") or []
        if names:
            alt = f" or its values {', '.join(names)}"
        else:
            alt = f" or camera '{key[: -len('_image')]}'" if key.endswith("_image") else ""
        return f" (LeRobot: '{ft['feature']}'{alt})"

    def _by_bundle_keys(self, obs: Mapping) -> Mapping:
        """An observation under LeRobot's names (the recording's features, e.g. observation.state, or a
        LeRobot robot's get_observation(): one value per joint name, frames by camera name) -> the
        bundle's keys. One already under the bundle's keys passes as it is."""
        need = [f"{c}_image" for c in self.cameras] + self.lowdim_keys
        if not self.features or all(k in obs for k in need):
            return obs
        out = dict(obs)
        for k in need:
            ft = self.features.get(k)
            if k in out or ft is None:
                continue
            names = ft.get("names") or []
            if ft["feature"] in obs:
                out[k] = obs[ft["feature"]]
            elif k.endswith("_image") and k[: -len("_image")] in obs:
                out[k] = obs[k[: -len("_image")]]
            elif names and any(n in obs for n in names):
                missing = [n for n in names if n not in obs]
                if missing:
                    raise BundleError(f"observation lacks {', '.join(map(repr, missing))} of {ft['feature']} "
                                      f"(this policy reads {', '.join(names)})")
                out[k] = np.asarray([obs[n] for n in names], dtype=np.float32)
        return out

    def action_dict(self, action) -> dict[str, float]:
        """An action from `act` under the recording's per-dimension names (what a LeRobot robot's
        send_action takes); a BundleError when the bundle has no names."""
        if not self.action_names:
            raise BundleError(f"{self.path}: the policy's actions have no names (its data did not record them)")
        a = np.asarray(action, dtype=np.float32).reshape(-1)
        if len(a) != len(self.action_names):
            raise BundleError(f"action must have {len(self.action_names)} values, got {len(a)}")
        return {n: float(v) for n, v in zip(self.action_names, a)}

    def _check_noise(self, noise) -> np.ndarray:
        x = np.asarray(noise, dtype=np.float32)
        if x.shape == self.noise_shape:
            x = x[None]
        if x.shape != (1, *self.noise_shape):
            raise BundleError(f"noise must have shape {self.noise_shape}, got {np.shape(noise)}")
        return x

    # ------------------------------------------------------------------ graph calls
    def draw_noise(self, batch_size: int = 1) -> Optional[np.ndarray]:
        """(B, *noise_shape) float32 from the seeded Generator; None for deterministic heads."""
        if self.noise_shape is None:
            return None
        shape = (batch_size, *self.noise_shape)
        if self.noise_distribution == "normal":
            return self._rng.standard_normal(shape, dtype=np.float32)
        return self._rng.random(shape, dtype=np.float32)

    def run(self, obs_feeds, proprio: Optional[np.ndarray] = None, history: Optional[np.ndarray] = None,
            noise: Optional[np.ndarray] = None, plan: bool = True):
        """One graph call: -> (actions (B, T, A) or None when plan is False, features (B, D)).

        obs_feeds: the dict `check_obs` returns (batch of 1), or, for image policies, the images
        array itself with `proprio` beside it. Inputs the graph does not take are ignored; missing
        history and noise are zero-filled (their values do not reach the output that is asked for).
        For batches, open policy.onnx with onnxruntime directly: its batch axis is dynamic."""
        if isinstance(obs_feeds, Mapping):
            feeds = dict(obs_feeds)
        else:
            feeds = {"images": obs_feeds}
            if self.use_proprio:
                feeds["proprio"] = proprio
        b = next(iter(feeds.values())).shape[0]
        if self.obs_horizon > 1:
            feeds["history"] = history if history is not None else \
                np.zeros((b, self.obs_horizon - 1, self.feature_dim), np.float32)
        if self.noise_shape is not None:
            feeds["noise"] = noise if noise is not None else np.zeros((b, *self.noise_shape), np.float32)
        if not plan and self._has_plan:
            feeds["plan"] = np.array(False)
            return None, self.session.run(["features"], feeds)[0]
        actions, features = self.session.run(["actions", "features"], feeds)
        return (actions if plan else None), features

    # ------------------------------------------------------------------ control
    def reset(self, seed: Optional[int] = None) -> None:
        """Start an episode: forget history, queued actions and ensembled chunks. `seed` reseeds the
        noise Generator; without it the noise stream goes on from the last episode."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._history: Optional[np.ndarray] = None  # (1, T_o - 1, D): the previous steps' features
        self._queue = np.zeros((0, self.action_dim), np.float32)
        self._chunks: list[tuple[int, np.ndarray]] = []  # (start step, (T, A)) for temporal ensembling
        self._step = 0
        self.last_planned = False
        """Whether the last `act` called the head (a new chunk); for logging and tests."""

    def act(self, obs, noise=None) -> np.ndarray:
        """One control step: observation dict -> action float32 (A,), within the action bounds.

        noise: this step's noise (noise_shape) for a generative head, used only if the step plans a
        new chunk; None draws it from the seeded Generator."""
        feeds = self.check_obs(obs)
        ensemble = self.temporal_ensemble is not None
        plan = ensemble or len(self._queue) == 0
        if plan and self.noise_shape is not None:
            noise = self._check_noise(noise) if noise is not None else self.draw_noise(1)
        else:
            noise = None

        history = None
        if self.obs_horizon > 1:
            if self._history is None:
                # A new episode's history is its first frame repeated, as the training windows are padded.
                _, f0 = self.run(feeds, plan=False)
                self._history = np.repeat(f0[:, None], self.obs_horizon - 1, axis=1)
            history = self._history
        actions = features = None
        if plan or self.obs_horizon > 1:
            actions, features = self.run(feeds, history=history, noise=noise, plan=plan)
        if self.obs_horizon > 1:
            self._history = np.concatenate([self._history[:, 1:], features[:, None]], axis=1)

        if ensemble:
            self._chunks.append((self._step, actions[0]))
            self._chunks = [(s, c) for s, c in self._chunks if self._step - s < len(c)]
            preds = np.stack([c[self._step - s] for s, c in self._chunks])  # oldest first
            w = np.exp(-self.temporal_ensemble * np.arange(len(preds), dtype=np.float64))
            action = (preds * (w / w.sum())[:, None]).sum(0)
        else:
            if plan:
                self._queue = actions[0, : self.action_horizon]
            action, self._queue = self._queue[0], self._queue[1:]
        self.last_planned = plan
        self._step += 1
        return np.clip(action, self.action_low, self.action_high).astype(np.float32)

    def __repr__(self) -> str:
        return (f"BundlePolicy({str(self.path)!r}, head={self.spec['head']}, T_o={self.obs_horizon}, "
                f"T={self.pred_horizon}, T_a={self.action_horizon}, {self.control_hz:g} Hz)")


__all__ = ["BundleError", "BundlePolicy", "SPEC_VERSION", "load_spec", "lowdim_keys"]
