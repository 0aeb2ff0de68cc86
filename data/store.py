"""The demonstration store: one HDF5 file in robomimic's layout, plus our extras.

Layout (robomimic):
  data                      attrs: total (int), env_args (JSON {"env_name", "type", "env_kwargs"})
  data/demo_<i>/actions     (T, A) float32      attrs on demo_<i>: num_samples (T)
  data/demo_<i>/rewards     (T,) float32
  data/demo_<i>/dones       (T,) uint8          1 on the episode's last step
  data/demo_<i>/states      (T, S) float64      flat simulator state (env.unwrapped.get_state())
  data/demo_<i>/obs/<cam>_image  (T, H, W, 3) uint8, chunks (1, H, W, 3), gzip: one frame per chunk,
                            so reading a window decompresses only the frames it needs
  data/demo_<i>/obs/proprio (T, P) float32
  mask/train, mask/valid    arrays of byte strings b"demo_<i>" (robomimic filter keys)
Extras (robomimic tools ignore them):
  data/demo_<i>/task_features (T, F) float32; demo attrs mode (int), success (float);
  data attrs feature_names (JSON list), robolearn_version.

obs_t at index t is the observation the action a_t was chosen from; the post-episode observation is
not stored (as in robomimic).

A file without mask keys opens with every demo in `train` and `valid` empty (`has_masks` False), so
nothing is held out silently; a file with only `mask/valid` puts the rest in train.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Optional

import h5py
import numpy as np

from robolearn import __version__
from robolearn.errors import DataError
from robolearn.locking import pid_alive

from .store_checks import (IMAGE_SUFFIX, _attr_str, check_demo_groups, check_demos, check_masks, open_hdf5,
                           read_env_args, read_feature_names)

# robomimic's EnvType.GYM_TYPE: our envs are registered gymnasium envs.
GYM_ENV_TYPE = 2
_DEMO_RE = re.compile(r"^demo_(\d+)$")


def _natural_key(name: str):
    m = _DEMO_RE.match(name)
    return (0, int(m.group(1)), "") if m else (1, 0, name)


def demo_sort(names: Iterable[str]) -> list[str]:
    """demo_0, demo_1, …, demo_10 (numeric order, not string order)."""
    return sorted(names, key=_natural_key)


def demo_index(name: str) -> int:
    """The integer i of demo_<i> (-1 for names not in that form)."""
    m = _DEMO_RE.match(name)
    return int(m.group(1)) if m else -1


def make_env_args(env_id: str, env_kwargs: Optional[dict] = None) -> dict:
    return {"env_name": env_id, "type": GYM_ENV_TYPE, "env_kwargs": dict(env_kwargs or {})}


def split_demos(names: list[str], valid_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """A seeded random train/valid split. At least one valid demo when valid_fraction > 0 and there
    are two or more demos, and always at least one train demo."""
    n = len(names)
    n_valid = int(round(n * float(valid_fraction)))
    if valid_fraction > 0 and n >= 2:
        n_valid = max(1, n_valid)
    n_valid = min(n_valid, max(n - 1, 0))
    perm = np.random.default_rng(seed).permutation(n)
    valid_idx = set(perm[:n_valid].tolist())
    train = [names[i] for i in range(n) if i not in valid_idx]
    valid = [names[i] for i in range(n) if i in valid_idx]
    return train, valid


def _names_array(names: list[str]) -> np.ndarray:
    if not names:
        return np.zeros(0, dtype="S1")
    return np.array([n.encode() for n in names], dtype=f"S{max(len(n) for n in names)}")


# ============================================================================ writer
class StoreWriter:
    """Writes demos one at a time into a temp file beside `path`; renames it over `path` on success.

        with StoreWriter(path, make_env_args(env_id, kwargs), feature_names=names) as w:
            for demo in demos:
                w.add_demo(demo)
        # file complete at `path` here; on an exception, no temp file is left and `path` is untouched

    A demo is a dict: actions (T, A); obs {key: (T, ...)} with `<cam>_image` uint8 (T, H, W, 3);
    optional rewards (T,), dones (T,), states (T, S), task_features (T, F), mode (int), success (float),
    attrs (extra demo attributes, e.g. an imported dataset's task string).

    Set `masks` ({filter key: [demo names]}) before finishing to write those filter keys (an imported
    file's) instead of a fresh seeded train/valid split; the split is still added when they have
    neither train nor valid.
    """

    def __init__(self, path, env_args: dict, *, valid_fraction: float = 0.1, seed: int = 0,
                 overwrite: bool = False, feature_names: Optional[list[str]] = None,
                 compression: str = "gzip", extra_attrs: Optional[dict] = None):
        self.path = Path(path)
        self.env_args = dict(env_args)
        self.valid_fraction = float(valid_fraction)
        self.seed = int(seed)
        self.overwrite = bool(overwrite)
        self.feature_names = list(feature_names) if feature_names is not None else None
        self.compression = compression
        self.extra_attrs = dict(extra_attrs or {})
        self.names: list[str] = []
        self.masks: Optional[dict[str, list[str]]] = None
        self._total = 0
        self._file: Optional[h5py.File] = None
        self._tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        self._done = False

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> "StoreWriter":
        self.open()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.finish()
        else:
            self.abort()

    def open(self) -> None:
        if self.path.exists() and not self.overwrite:
            raise DataError(f"{self.path} exists; pass --overwrite to replace it")
        if not self.path.parent.is_dir():
            raise DataError(f"{self.path}: folder {self.path.parent} does not exist")
        self._remove_stale_temps()
        self._file = h5py.File(self._tmp, "w")
        self._file.create_group("data")

    def _remove_stale_temps(self) -> None:
        """Temp files of writers killed mid-write (kill -9 runs no cleanup): their process is gone."""
        for p in self.path.parent.glob(f".{self.path.name}.tmp-*"):
            pid = p.name.rsplit("-", 1)[-1]
            if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
                p.unlink(missing_ok=True)

    def abort(self) -> None:
        """Close and delete the temp file; the final path is never touched."""
        try:
            if self._file is not None:
                self._file.close()
        finally:
            self._file = None
            self._tmp.unlink(missing_ok=True)

    def finish(self) -> Path:
        if self._done:
            return self.path
        if self._file is None:
            raise DataError(f"{self.path}: writer is not open")
        try:
            if not self.names:
                raise DataError(f"{self.path}: no demos to write")
            f = self._file
            data = f["data"]
            data.attrs["total"] = int(self._total)
            data.attrs["env_args"] = json.dumps(self.env_args)
            data.attrs["robolearn_version"] = __version__
            if self.feature_names is not None:
                data.attrs["feature_names"] = json.dumps(self.feature_names)
            for k, v in self.extra_attrs.items():
                data.attrs[k] = v
            masks = dict(self.masks or {})
            unknown = sorted({n for v in masks.values() for n in v} - set(self.names))
            if unknown:
                raise DataError(f"{self.path}: masks name demos not written: {', '.join(unknown[:3])}")
            if "train" not in masks and "valid" not in masks:
                masks["train"], masks["valid"] = split_demos(self.names, self.valid_fraction, self.seed)
            mask = f.create_group("mask")
            for key in sorted(masks):
                mask.create_dataset(key, data=_names_array(demo_sort(masks[key])))
            f.close()
            self._file = None
            self._publish()
        except BaseException:
            self.abort()
            raise
        self._done = True
        return self.path

    def _publish(self) -> None:
        if self.overwrite:
            os.replace(self._tmp, self.path)
            return
        # A hard link fails atomically if the target appeared meanwhile: never clobber without overwrite.
        try:
            os.link(self._tmp, self.path)
        except FileExistsError:
            raise DataError(f"{self.path} appeared while writing; pass --overwrite to replace it") from None
        except OSError:  # filesystems without hard links
            if self.path.exists():
                raise DataError(f"{self.path} appeared while writing; pass --overwrite to replace it") from None
            os.replace(self._tmp, self.path)
            return
        self._tmp.unlink()

    # ------------------------------------------------------------------ demos
    def add_demo(self, demo: dict) -> str:
        if self._file is None:
            raise DataError(f"{self.path}: writer is not open")
        name = f"demo_{len(self.names)}"
        where = f"{self.path}: {name}"
        actions = np.asarray(demo["actions"], dtype=np.float32)
        if actions.ndim != 2 or len(actions) == 0:
            raise DataError(f"{where}: actions must be (T, A) with T > 0, got {actions.shape}")
        if not np.isfinite(actions).all():
            raise DataError(f"{where}: actions contain NaN or inf")
        n = len(actions)
        obs = demo.get("obs") or {}
        if not obs:
            raise DataError(f"{where}: no observations")

        def per_step(key, x, dtype):
            x = np.asarray(x, dtype=dtype)
            if x.shape[:1] != (n,):
                raise DataError(f"{where}: {key} has {x.shape[:1]} steps, actions have {n}")
            return x

        g = self._file["data"].create_group(name)
        g.create_dataset("actions", data=actions)
        rewards = demo.get("rewards")
        g.create_dataset("rewards", data=per_step("rewards", np.zeros(n) if rewards is None else rewards, np.float32))
        dones = demo.get("dones")
        if dones is None:
            dones = np.zeros(n, np.uint8)
            dones[-1] = 1
        g.create_dataset("dones", data=per_step("dones", dones, np.uint8))
        if demo.get("states") is not None:
            g.create_dataset("states", data=per_step("states", demo["states"], np.float64))
        og = g.create_group("obs")
        for key in sorted(obs):
            x = np.asarray(obs[key])
            if key.endswith(IMAGE_SUFFIX):
                if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] != 3:
                    raise DataError(f"{where}: obs/{key} must be uint8 (T, H, W, 3), got {x.dtype} {x.shape}")
                x = per_step(f"obs/{key}", x, np.uint8)
                og.create_dataset(key, data=x, chunks=(1, *x.shape[1:]), compression=self.compression,
                                  **({"compression_opts": 4} if self.compression == "gzip" else {}))
            else:
                og.create_dataset(key, data=per_step(f"obs/{key}", x, np.float32))
        if demo.get("task_features") is not None:
            feats = per_step("task_features", demo["task_features"], np.float32)
            g.create_dataset("task_features", data=feats.reshape(n, -1))
        g.attrs["num_samples"] = n
        g.attrs["mode"] = int(demo.get("mode", -1))
        g.attrs["success"] = float(demo.get("success", float("nan")))
        for k, v in (demo.get("attrs") or {}).items():
            g.attrs[k] = v
        self.names.append(name)
        self._total += n
        return name

    def copy_demo(self, group: h5py.Group, attrs: Optional[dict] = None) -> str:
        """Append a demo group of another (validated) store as it is stored: chunks and compression
        kept, so merging stores costs file copying, not re-encoding frames."""
        if self._file is None:
            raise DataError(f"{self.path}: writer is not open")
        name = f"demo_{len(self.names)}"
        self._file.copy(group, self._file["data"], name=name)
        for k, v in (attrs or {}).items():
            self._file["data"][name].attrs[k] = v
        self.names.append(name)
        self._total += int(group["actions"].shape[0])
        return name


def write_store(path, demos: list[dict], env_args: dict, *, valid_fraction: float = 0.1, seed: int = 0,
                overwrite: bool = False, feature_names: Optional[list[str]] = None,
                compression: str = "gzip") -> Path:
    """Write a whole list of demos atomically (see StoreWriter)."""
    with StoreWriter(path, env_args, valid_fraction=valid_fraction, seed=seed, overwrite=overwrite,
                     feature_names=feature_names, compression=compression) as w:
        for d in demos:
            w.add_demo(d)
    return Path(path)


def merge_stores(parts: list, path, *, overwrite: bool = False) -> Path:
    """One store holding every demo of `parts` (stores of different envs with the same observation
    keys, action size, image size and env kwargs): the pretraining pool of the few-shot setting.

    Demos are taken round-robin over the parts (demo_0 from the first, demo_1 from the second, ...),
    so any prefix of the file (the pretraining probe reads the first train demos) covers every env.
    Each demo keeps its part's train/valid assignment and gets attribute `env` (its env id); frames
    are copied as stored (no recompression). The file has no single env: `env_args.env_name` is null
    and data attr `source_envs` lists the parts' envs."""
    parts = [Path(p) for p in parts]
    if len(parts) < 2:
        raise DataError(f"{path}: merging needs two or more stores, got {len(parts)}")
    stores = []
    try:
        for p in parts:
            stores.append(open_store(p))
        first = stores[0]
        sig0 = (first.obs_keys, first.action_dim, first.image_shape, first.feature_dim, first.env_kwargs)
        for s in stores[1:]:
            sig = (s.obs_keys, s.action_dim, s.image_shape, s.feature_dim, s.env_kwargs)
            for what, a, b in zip(("obs keys", "action size", "image size", "task feature size", "env kwargs"), sig0, sig):
                if a != b:
                    raise DataError(f"cannot merge {s.path} into {path}: its {what} {b} differ from {first.path}'s {a}")
        envs = [s.env_id for s in stores]
        env_args = {"env_name": None, "type": GYM_ENV_TYPE, "env_kwargs": dict(first.env_kwargs)}
        writer = StoreWriter(path, env_args, overwrite=overwrite, feature_names=first.feature_names or None,
                             extra_attrs={"source_envs": json.dumps(envs)})
        with writer:
            masks: dict[str, list[str]] = {"train": [], "valid": []}
            queues = [list(s.demo_names(None)) for s in stores]
            valid = [set(s.demo_names("valid")) for s in stores]
            while any(queues):
                for s, env, q, held in zip(stores, envs, queues, valid):
                    if q:
                        demo = q.pop(0)
                        name = writer.copy_demo(s.h5["data"][demo], attrs={"env": env or ""})
                        masks["valid" if demo in held else "train"].append(name)
            writer.masks = masks
    finally:
        for s in stores:
            s.close()
    return Path(path)


# ============================================================================ reader
class DemoStore:
    """A validated (see `store_checks`), read-only view of a demonstration file. Use `open_store(path)`."""

    def __init__(self, path, h5: h5py.File):
        self.path = Path(path)
        self._h5 = h5
        try:
            self._validate()
        except BaseException:
            h5.close()
            raise

    # ------------------------------------------------------------------ validation
    def _validate(self) -> None:
        """Run the checks of `store_checks` (the first problem found is the one reported) and keep
        what they read; the fields derived from it follow."""
        f = self._h5
        names = demo_sort(check_demo_groups(self.path, f))
        self._names = names
        data = f["data"]
        self.env_args = read_env_args(self.path, data.attrs)
        self.env_id: Optional[str] = self.env_args.get("env_name")
        self.env_kwargs: dict = dict(self.env_args.get("env_kwargs") or {})
        self.feature_names: list[str] = read_feature_names(self.path, data.attrs)
        self.robolearn_version = _attr_str(data.attrs.get("robolearn_version"))
        self._lengths, obs_keys, self.action_dim, image_hw = check_demos(self.path, data, names)
        self._set_obs_fields(obs_keys, image_hw, data[names[0]])
        self._set_masks(check_masks(self.path, f, names))

    def _set_obs_fields(self, obs_keys: list[str], image_hw, first: h5py.Group) -> None:
        """Cameras, image size and low-dim sizes, from what every demo was checked to share."""
        self.obs_keys: list[str] = list(obs_keys)
        image_keys = [k for k in self.obs_keys if k.endswith(IMAGE_SUFFIX)]
        cams = [k[: -len(IMAGE_SUFFIX)] for k in image_keys]
        order = list(self.env_kwargs.get("cameras") or [])
        # The order the env was asked for (so views keep their collection order), else alphabetical.
        self.cameras: list[str] = [c for c in order if c in cams] + sorted(c for c in cams if c not in order)
        self.image_size: int = int(image_hw[0]) if image_hw is not None else 0
        self.image_shape = tuple(int(x) for x in image_hw) if image_hw is not None else None
        self.lowdim_keys: list[str] = [k for k in self.obs_keys if not k.endswith(IMAGE_SUFFIX)]
        self.proprio_dim: int = int(np.prod(first["obs"]["proprio"].shape[1:])) if "proprio" in self.obs_keys else 0
        self.feature_dim: int = int(first["task_features"].shape[1]) if "task_features" in first else 0
        if self.feature_dim and not self.feature_names:
            self.feature_names = [f"f{i}" for i in range(self.feature_dim)]

    def _set_masks(self, masks: dict[str, list[str]]) -> None:
        """Filter keys; without train/valid, every demo not held out in `valid` is train."""
        self._masks: dict[str, list[str]] = {key: demo_sort(vals) for key, vals in masks.items()}
        self.has_masks = "train" in self._masks or "valid" in self._masks
        if "valid" not in self._masks:
            self._masks["valid"] = []
        if "train" not in self._masks:
            held = set(self._masks["valid"])
            self._masks["train"] = [n for n in self._names if n not in held]

    # ------------------------------------------------------------------ API
    @property
    def h5(self) -> h5py.File:
        return self._h5

    @property
    def splits(self) -> list[str]:
        return sorted(self._masks)

    def demo_names(self, split: Optional[str] = None) -> list[str]:
        """Demo names of a split ('train', 'valid', any other filter key) or all (None), natural order."""
        if split is None:
            return list(self._names)
        if split not in self._masks:
            raise DataError(f"{self.path}: no split '{split}' (splits: {', '.join(self.splits)})")
        return list(self._masks[split])

    def _demo(self, demo: str) -> h5py.Group:
        if demo not in self._lengths:
            raise DataError(f"{self.path}: no demo '{demo}'")
        return self._h5["data"][demo]

    def length(self, demo: str) -> int:
        self._demo(demo)
        return self._lengths[demo]

    def lengths(self, split: Optional[str] = None) -> dict[str, int]:
        return {d: self._lengths[d] for d in self.demo_names(split)}

    def total_steps(self, split: Optional[str] = None) -> int:
        return int(sum(self._lengths[d] for d in self.demo_names(split)))

    def actions(self, demo: str) -> np.ndarray:
        return self._demo(demo)["actions"][()].astype(np.float32, copy=False)

    def obs(self, demo: str, key: str, index=None) -> np.ndarray:
        """One observation key of a demo, all steps or `index` (a slice reads only those frames)."""
        g = self._demo(demo)["obs"]
        if key not in g:
            raise DataError(f"{self.path}: no obs key '{key}' (keys: {', '.join(self.obs_keys)})")
        return g[key][()] if index is None else g[key][index]

    def images(self, demo: str, cameras: Optional[list[str]] = None, index=None) -> np.ndarray:
        """uint8 (T, V, H, W, 3): views stacked in `cameras` order (default: all cameras)."""
        cams = self.cameras if cameras is None else cameras
        return np.stack([self.obs(demo, f"{c}{IMAGE_SUFFIX}", index) for c in cams], axis=1)

    def rewards(self, demo: str) -> Optional[np.ndarray]:
        g = self._demo(demo)
        return g["rewards"][()] if "rewards" in g else None

    def states(self, demo: str) -> Optional[np.ndarray]:
        g = self._demo(demo)
        return g["states"][()] if "states" in g else None

    def task_features(self, demo: str) -> Optional[np.ndarray]:
        g = self._demo(demo)
        return g["task_features"][()].astype(np.float32, copy=False) if "task_features" in g else None

    def mode(self, demo: str) -> int:
        return int(self._demo(demo).attrs.get("mode", -1))

    def success(self, demo: str) -> float:
        return float(self._demo(demo).attrs.get("success", float("nan")))

    def close(self) -> None:
        if self._h5 is not None:
            try:
                self._h5.close()
            finally:
                self._h5 = None

    def __enter__(self) -> "DemoStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DemoStore({str(self.path)!r}, {len(self._names)} demos)"


def open_store(path) -> DemoStore:
    """Open and validate a demonstration file; every problem is a one-line DataError."""
    path = Path(path)
    return DemoStore(path, open_hdf5(path))


# ============================================================================ summary & hash
def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} GiB"


def summary(path) -> str:
    """The text `robolearn info` prints: episodes, steps, env, keys with shapes/dtypes, modes, success."""
    with open_store(path) as s:
        data = s.h5["data"]
        names = s.demo_names(None)
        lens = np.array([s.length(d) for d in names])
        lines = [f"{s.path}  ({_fmt_bytes(s.path.stat().st_size)})"]
        kw = json.dumps(s.env_kwargs, sort_keys=True)
        lines.append(f"  env        {s.env_id or '(unknown)'}  {kw}")
        split_note = "" if s.has_masks else "  (no mask/train, mask/valid: all demos are train)"
        lines.append(f"  episodes   {len(names)} (train {len(s.demo_names('train'))}, "
                     f"valid {len(s.demo_names('valid'))}){split_note}")
        lines.append(f"  steps      {int(lens.sum())} (length min {lens.min()} / mean {lens.mean():.1f} / max {lens.max()})")
        first = data[names[0]]
        rows = []

        def add(key, ds):
            shape = (int(lens.sum()), *ds.shape[1:])
            extra = f"  chunks {ds.chunks}, {ds.compression}" if ds.compression else ""
            rows.append((key, str(shape), str(ds.dtype), extra))

        for key in ("actions", "rewards", "dones", "states", "task_features"):
            if key in first:
                add(key, first[key])
        for key in s.obs_keys:
            add(f"obs/{key}", first["obs"][key])
        w = max(len(r[0]) for r in rows)
        w2 = max(len(r[1]) for r in rows)
        lines.append("  keys")
        lines += [f"    {k:<{w}}  {shp:<{w2}}  {dt}{ex}" for k, shp, dt, ex in rows]
        if s.cameras:
            lines.append(f"  cameras    {', '.join(s.cameras)} ({s.image_size} px)")
        if s.feature_names:
            lines.append(f"  features   {', '.join(s.feature_names)}")
        modes = Counter(s.mode(d) for d in names)
        lines.append("  modes      " + ", ".join(f"{m}: {c}" for m, c in sorted(modes.items()))
                     + ("  (-1: not recorded)" if -1 in modes else ""))
        succ = np.array([s.success(d) for d in names])
        succ = succ[np.isfinite(succ)]
        lines.append(f"  success    {'mean %.3f' % succ.mean() if len(succ) else 'not recorded'}")
        if "collect_attempts" in data.attrs:
            lines.append(f"  collected  {len(names)} of {int(data.attrs['collect_attempts'])} expert attempts "
                         f"({int(data.attrs.get('collect_failed', 0))} failed"
                         + (f", {int(data.attrs['collect_sim_faults'])} of them simulator faults"
                            if data.attrs.get("collect_sim_faults") else "") + ")")
        if "source" in data.attrs:
            rate = [f"robot {_attr_str(data.attrs['robot_type'])}" if "robot_type" in data.attrs else "",
                    f"{float(data.attrs['fps']):g} fps" if "fps" in data.attrs else ""]
            rate = ", ".join(r for r in rate if r)
            lines.append(f"  source     {_attr_str(data.attrs['source'])}" + (f" ({rate})" if rate else ""))
        synth = json.loads(_attr_str(data.attrs["synthesized"])) if "synthesized" in data.attrs else []
        if synth:
            lines.append(f"  synthesized {', '.join(synth)}: not in the source; "
                         + "; ".join({"rewards": "rewards are 0", "dones": "done is 1 on each episode's last step only"}
                                     .get(k, k) for k in synth))
        if s.robolearn_version:
            lines.append(f"  written by robolearn {s.robolearn_version}")
    return "\n".join(lines)


def file_hash(path) -> str:
    """A 16-hex-digit key for caches derived from a demonstration file.

    Hashes the file's size and mtime, the `data` attrs, the demo names and lengths, and the bytes of
    every demo's actions. Rewriting the file (even with the same content) changes mtime and so the
    key, which only costs a cache miss; reading all images would make this slow on big files.
    """
    path = Path(path)
    st = path.stat()
    h = hashlib.sha256()
    h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    with open_store(path) as s:
        attrs = s.h5["data"].attrs
        for k in sorted(attrs.keys()):
            h.update(k.encode())
            h.update(repr(attrs[k]).encode())
        for d in s.demo_names(None):
            h.update(f"{d}:{s.length(d)}".encode())
            h.update(np.ascontiguousarray(s.actions(d)).tobytes())
    return h.hexdigest()[:16]
