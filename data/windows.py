"""Windows over demonstrations: the torch Dataset every objective and image-based head reads.

One item (see `robolearn.pretraining` for the collated batch):
  images          uint8   (T_o, V, H, W, 3)   frames t-T_o+1 .. t, views in `cameras` order
  proprio         float32 (T_o, P)            normalized when the normalizer has the key
  state           float32 (T_o, S)            the privileged state, likewise (when the file has it)
  actions         float32 (T_a, A)            a_t .. a_{t+T_a-1}, normalized when a normalizer is given
  future_images   uint8   (K, V, H, W, 3)     frames t+1 .. t+K          (only when K = spec.future > 0)
  obs_pad (T_o,), action_pad (T_a,), future_pad (K,)   bool, True where the window left the episode
  task_features   float32 (T_o, F), future_task_features (K, F)   (when the file has them)
  episode, t      int64 scalars               episode = i of demo_<i>

Padding: context frames before the episode start repeat frame 0; actions past the end repeat the
last action; future frames past the end repeat the last frame. With spec.pad False only windows
lying wholly inside their episode are indexed.

Reading: a batch at a time (`batch`, which the trainers' loaders call; an item is a batch of one). From
the file, one contiguous h5py read per key per window (frames t-T_o+1 .. t+K for images, t .. t+T_a-1
for actions); images are chunked one frame per chunk, so only the needed frames are decompressed. In
RAM (`in_ram`), one fancy index per key for the whole batch (0.2 ms for 64 PointMass windows at 32 px,
against 3.6 ms from the file).
The h5py handle is opened lazily in the process that reads (each DataLoader worker opens its own,
whether the worker was forked or spawned) and is never pickled.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import h5py
import numpy as np
import psutil
import torch
from torch.utils.data import Dataset

from robolearn.errors import DataError, RobolearnError

from .store import IMAGE_SUFFIX, DemoStore, demo_index, open_store



@dataclass
class WindowSpec:
    """What windows an objective (or head) reads from the demonstration store."""

    obs_horizon: int = 1
    action_horizon: int = 1
    future: int = 0
    pad: bool = True
    """Allow windows that run past episode starts/ends (padded, masked); False keeps full ones."""


GiB = 1024**3
# Keep this much of the available memory free when loading in RAM: DataLoader workers, the model,
# and the OS page cache need room too.
RAM_FRACTION = 0.8


def resolve_cameras(store: DemoStore, cameras: Optional[list[str]]) -> list[str]:
    if not cameras:
        return list(store.cameras)
    missing = [c for c in cameras if c not in store.cameras]
    if missing:
        raise DataError(f"{store.path}: no camera {', '.join(missing)} "
                        f"(cameras in the file: {', '.join(store.cameras) or 'none'})")
    return list(cameras)


def frame_index(store: DemoStore, split: Optional[str] = None) -> list[tuple[str, int]]:
    """(demo, t) for every frame of a split (None = all demos), in store order."""
    return [(d, t) for d in store.demo_names(split) for t in range(store.length(d))]


def read_all_frames(store: DemoStore, cameras: Optional[list[str]] = None, split: Optional[str] = None,
                    batch_size: int = 256) -> Iterator[dict]:
    """Every frame of a split in store order, in batches that never span two demos:
    {"images": uint8 (N, V, H, W, 3), "proprio": float32 (N, P) raw (absent when the file has none),
    "demo": str, "t": int64 (N,)}."""
    cams = resolve_cameras(store, cameras)
    for demo in store.demo_names(split):
        n = store.length(demo)
        for lo in range(0, n, batch_size):
            sl = slice(lo, min(n, lo + batch_size))
            out = {"images": store.images(demo, cams, sl), "demo": demo, "t": np.arange(sl.start, sl.stop, dtype=np.int64)}
            if "proprio" in store.lowdim_keys:
                out["proprio"] = store.obs(demo, "proprio", sl).astype(np.float32, copy=False)
            yield out


def valid_times(n: int, spec: WindowSpec) -> np.ndarray:
    """Window start times t of an episode of n steps under spec."""
    if spec.pad:
        return np.arange(n, dtype=np.int64)
    lo = spec.obs_horizon - 1
    hi = n - max(spec.action_horizon, spec.future + 1)  # last t: t+T_a-1 <= n-1 and t+K <= n-1
    return np.arange(lo, hi + 1, dtype=np.int64) if hi >= lo else np.zeros(0, np.int64)


class WindowDataset(Dataset):
    def __init__(self, path, spec: WindowSpec, split: Optional[str] = "train", cameras: Optional[list[str]] = None,
                 normalizer=None, in_ram: bool = False, with_features: bool = True):
        if spec.obs_horizon < 1 or spec.action_horizon < 1 or spec.future < 0:
            raise RobolearnError(f"bad window spec {spec}: horizons must be >= 1 and future >= 0")
        self.path = Path(path)
        self.spec = spec
        self.split = split
        self.normalizer = normalizer
        with open_store(self.path) as store:
            self.cameras = resolve_cameras(store, cameras)
            self.demos = store.demo_names(split)
            self.lengths = np.array([store.length(d) for d in self.demos], dtype=np.int64)
            self.lowdim = [k for k in ("proprio", "state") if k in store.lowdim_keys]
            self.with_features = bool(with_features) and store.feature_dim > 0
            self.episode_ids = np.array([demo_index(d) for d in self.demos], dtype=np.int64)
            # Each demo's first row in the in-RAM arrays, which hold the demos end to end.
            self._ram_start = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)
            if in_ram:
                self._ram = self._load_in_ram(store)
            else:
                self._ram = None
        self._image_keys = [f"{c}{IMAGE_SUFFIX}" for c in self.cameras]
        idx_d, idx_t = [], []
        for i, n in enumerate(self.lengths):
            ts = valid_times(int(n), spec)
            idx_d.append(np.full(len(ts), i, np.int64))
            idx_t.append(ts)
        self._idx_demo = np.concatenate(idx_d) if idx_d else np.zeros(0, np.int64)
        self._idx_t = np.concatenate(idx_t) if idx_t else np.zeros(0, np.int64)
        self._h5: Optional[h5py.File] = None
        self._h5_pid: Optional[int] = None
        self._groups: dict = {}

    # ------------------------------------------------------------------ in-RAM
    def _load_in_ram(self, store: DemoStore) -> dict:
        need = 0
        for d in self.demos:
            g = store.h5["data"][d]
            keys = [f"obs/{k}" for k in self._keys_to_read()] + ["actions"]
            if self.with_features:
                keys.append("task_features")
            for k in keys:
                ds = g[k]
                need += int(np.prod(ds.shape)) * ds.dtype.itemsize
        avail = psutil.virtual_memory().available
        if need > RAM_FRACTION * avail:
            raise RobolearnError(f"{self.path}: --in-ram needs {need / GiB:.2f} GiB, only {avail / GiB:.2f} GiB "
                                 f"available; drop --in-ram")
        # One array per key over every demo, demos end to end, so that a batch is gathered by one fancy
        # index per key.
        parts = {"actions": lambda d: store.actions(d).astype(np.float32, copy=False)}
        if self.cameras:
            parts["images"] = lambda d: store.images(d, self.cameras)
        for key in self.lowdim:
            parts[key] = lambda d, key=key: store.obs(d, key).astype(np.float32, copy=False)
        if self.with_features:
            parts["task_features"] = lambda d: store.task_features(d).astype(np.float32, copy=False)
        ram = {}
        for key, read in parts.items():
            for d, lo, n in zip(self.demos, self._ram_start, self.lengths):
                x = read(d)
                if key not in ram:  # filled in place: no second copy of the images
                    ram[key] = np.empty((int(self.lengths.sum()), *x.shape[1:]), x.dtype)
                ram[key][lo:lo + n] = x
        return ram

    def _keys_to_read(self) -> list[str]:
        return [f"{c}{IMAGE_SUFFIX}" for c in self.cameras] + self.lowdim

    # ------------------------------------------------------------------ h5py handle
    def __getstate__(self):
        state = self.__dict__.copy()
        state["_h5"] = None
        state["_h5_pid"] = None
        state["_groups"] = {}
        return state

    def _group(self, demo: str):
        # A handle inherited through fork is not safe to use: reopen in each process.
        if self._h5 is None or self._h5_pid != os.getpid():
            self._h5 = h5py.File(self.path, "r")
            self._h5_pid = os.getpid()
            self._groups = {}
        g = self._groups.get(demo)
        if g is None:
            base = self._h5["data"][demo]
            g = {"actions": base["actions"]}
            obs = base["obs"]
            for k in self._image_keys:
                g[k] = obs[k]
            for key in self.lowdim:
                g[key] = obs[key]
            if self.with_features:
                g["task_features"] = base["task_features"]
            self._groups[demo] = g
        return g

    def close(self) -> None:
        if self._h5 is not None and self._h5_pid == os.getpid():
            self._h5.close()
        self._h5 = None
        self._groups = {}

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # ------------------------------------------------------------------ items
    def __len__(self) -> int:
        return len(self._idx_t)

    def index(self) -> list[tuple[str, int]]:
        """(demo, t) of every item, in item order."""
        return [(self.demos[d], int(t)) for d, t in zip(self._idx_demo, self._idx_t)]

    def __getitem__(self, i: int) -> dict:
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return {key: x[0] for key, x in self.batch([i]).items()}

    def __getitems__(self, items) -> list[dict]:
        """The items a plain DataLoader collates (it calls this with a batch's indices): read as one batch,
        then split: 4.8 ms for 64 PointMass windows at 32 px, where an item at a time took 8.8."""
        batch = self.batch(items)
        return [{key: x[j] for key, x in batch.items()} for j in range(len(items))]

    def batch(self, items) -> dict:
        """The collated batch of items (the format above with a leading batch dimension), gathered per key
        with one index array. `robolearn.distributed.sharded_loader` reads batches through it: per-item
        reads and torch's collation cost 14% of a 32 px IDM step."""
        items = np.asarray(items, np.int64)
        di, t = self._idx_demo[items], self._idx_t[items]
        n = self.lengths[di][:, None]
        to, ta, k = self.spec.obs_horizon, self.spec.action_horizon, self.spec.future
        ctx = t[:, None] + np.arange(-to + 1, 1)
        fut = t[:, None] + np.arange(1, k + 1)
        act = t[:, None] + np.arange(ta)
        # Context then future frames, and the actions, clipped into the episode (padding repeats the edge).
        rows, act_rows = np.clip(np.concatenate([ctx, fut], axis=1), 0, n - 1), np.clip(act, 0, n - 1)
        data = self._gather_ram(di, rows, act_rows) if self._ram is not None else self._read_h5(di, rows, act_rows)

        actions = data["actions"]
        if self.normalizer is not None:
            actions = self.normalizer.normalize("actions", actions)
        as_t = lambda x, dtype=None: torch.from_numpy(np.ascontiguousarray(x, dtype))  # noqa: E731
        out = {"actions": as_t(actions, np.float32), "obs_pad": as_t(ctx < 0), "action_pad": as_t(act > n - 1),
               "episode": as_t(self.episode_ids[di]), "t": as_t(t)}
        if "images" in data:
            out["images"] = as_t(data["images"][:, :to])
        for key in self.lowdim:
            x = data[key][:, :to]
            if self.normalizer is not None and key in self.normalizer:
                x = self.normalizer.normalize(key, x)
            out[key] = as_t(x, np.float32)
        if "task_features" in data:
            out["task_features"] = as_t(data["task_features"][:, :to], np.float32)
        if k > 0:
            out["future_pad"] = as_t(fut > n - 1)
            if "images" in data:
                out["future_images"] = as_t(data["images"][:, to:])
            if "task_features" in data:
                out["future_task_features"] = as_t(data["task_features"][:, to:], np.float32)
        return out

    def _gather_ram(self, di: np.ndarray, rows: np.ndarray, act_rows: np.ndarray) -> dict:
        first = self._ram_start[di][:, None]
        return {key: x[first + (act_rows if key == "actions" else rows)] for key, x in self._ram.items()}

    def _read_h5(self, di: np.ndarray, rows: np.ndarray, act_rows: np.ndarray) -> dict:
        """Per window one contiguous read per key (frames lo..hi of the context and future, the actions'
        span), then the rows picked from it."""
        per_key: dict[str, list] = {}
        for d, r, a in zip(di, rows, act_rows):
            g = self._group(self.demos[d])
            lo, hi = int(r[0]), int(r[-1]) + 1
            if self.cameras:
                per_key.setdefault("images", []).append(
                    np.stack([g[key][lo:hi] for key in self._image_keys], axis=1)[r - lo])
            a_lo = int(a[0])
            per_key.setdefault("actions", []).append(np.asarray(g["actions"][a_lo:int(a[-1]) + 1], np.float32)[a - a_lo])
            for key in self.lowdim:
                per_key.setdefault(key, []).append(np.asarray(g[key][lo:hi], np.float32)[r - lo])
            if self.with_features:
                per_key.setdefault("task_features", []).append(np.asarray(g["task_features"][lo:hi], np.float32)[r - lo])
        return {key: np.stack(xs) for key, xs in per_key.items()}
