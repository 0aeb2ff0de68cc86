"""The checks `open_store` runs before anything reads a demonstration file: that it is an HDF5 file
with the layout described in `robolearn.data.store`, every demo consistent with the first. Every
problem is a one-line DataError naming the file.

Kept apart from `store` (which imports this module, never the reverse): demo ordering and the fields
derived from what passed stay with `DemoStore`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import NoReturn, Optional

import h5py
import numpy as np

from robolearn.errors import DataError

IMAGE_SUFFIX = "_image"


def _attr_str(v) -> Optional[str]:
    if v is None:
        return None
    if isinstance(v, (bytes, np.bytes_)):
        return v.decode()
    return str(v)


def _fail(path: Path, what: str) -> NoReturn:
    raise DataError(f"{path}: {what}")


def open_hdf5(path: Path) -> h5py.File:
    """`path` opened read-only, once it is known to be a readable HDF5 file."""
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not an HDF5 file")
    try:
        ok = h5py.is_hdf5(str(path))
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.__class__.__name__})") from None
    if not ok:
        raise DataError(f"{path}: not an HDF5 file")
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise DataError(f"{path}: cannot open as HDF5 ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None


def check_demo_groups(path: Path, f: h5py.File) -> list[str]:
    """The names of the groups under `data` (unordered): there must be a `data` group with one."""
    if "data" not in f or not isinstance(f["data"], h5py.Group):
        _fail(path, "no 'data' group (not a robomimic-layout demonstration file)")
    data = f["data"]
    names = [k for k in data.keys() if isinstance(data[k], h5py.Group)]
    if not names:
        _fail(path, "no demos in 'data'")
    return names


def read_env_args(path: Path, attrs: h5py.AttributeManager) -> dict:
    try:
        return json.loads(attrs["env_args"]) if "env_args" in attrs else {}
    except (TypeError, ValueError):
        _fail(path, "data attr env_args is not valid JSON")


def read_feature_names(path: Path, attrs: h5py.AttributeManager) -> list[str]:
    try:
        return list(json.loads(attrs["feature_names"])) if "feature_names" in attrs else []
    except (TypeError, ValueError):
        _fail(path, "data attr feature_names is not valid JSON")


def check_demos(path: Path, data: h5py.Group, names: list[str]
                ) -> tuple[dict[str, int], list[str], int, Optional[tuple[int, int]]]:
    """Every demo in `names` order, each held to the first's obs keys, action size and image size.
    Returns (steps per demo, obs keys, action size, image (H, W) or None without images)."""
    lengths: dict[str, int] = {}
    obs_keys = action_dim = image_hw = None
    for name in names:
        g = data[name]
        n, dim = _check_actions(path, name, g)
        keys = sorted(g["obs"].keys())
        if obs_keys is None:
            obs_keys, action_dim = keys, int(dim)
        elif keys != obs_keys:
            _fail(path, f"{name} has obs keys {keys}, {names[0]} has {obs_keys}")
        if dim != action_dim:
            _fail(path, f"{name}/actions has {dim} dims, {names[0]} has {action_dim}")
        image_hw = _check_obs(path, name, g["obs"], keys, n, image_hw)
        if "task_features" in g and g["task_features"].shape[:1] != (n,):
            _fail(path, f"{name}/task_features has {g['task_features'].shape[0]} steps but actions has {n}")
        lengths[name] = int(n)
    return lengths, obs_keys, action_dim, image_hw


def _check_actions(path: Path, name: str, g: h5py.Group) -> tuple[int, int]:
    """(steps, action size) of a demo with an `obs` group and finite (T, A) actions, T > 0."""
    if "actions" not in g:
        _fail(path, f"{name} has no 'actions'")
    if "obs" not in g or not isinstance(g["obs"], h5py.Group):
        _fail(path, f"{name} has no 'obs' group")
    acts = g["actions"]
    if acts.ndim != 2:
        _fail(path, f"{name}/actions must be (T, A), got shape {acts.shape}")
    n = acts.shape[0]
    if n == 0:
        _fail(path, f"{name} has no steps")
    if not np.isfinite(acts[()]).all():
        _fail(path, f"{name}/actions contain NaN or inf")
    return n, acts.shape[1]


def _check_obs(path: Path, name: str, obs: h5py.Group, keys: list[str], n: int,
               image_hw: Optional[tuple[int, int]]) -> Optional[tuple[int, int]]:
    """One step per action for every key; images uint8 (T, H, W, 3), all of one size. Returns that
    size: `image_hw` (the earlier demos'), or this demo's first image's when there was none."""
    for key in keys:
        ds = obs[key]
        if ds.shape[:1] != (n,):
            _fail(path, f"{name}/obs/{key} has {ds.shape[0] if ds.ndim else 0} steps but actions has {n}")
        if key.endswith(IMAGE_SUFFIX):
            if ds.dtype != np.uint8:
                _fail(path, f"{name}/obs/{key} must be uint8 images, got {ds.dtype}")
            if ds.ndim != 4 or ds.shape[-1] != 3:
                _fail(path, f"{name}/obs/{key} must be (T, H, W, 3), got shape {ds.shape}")
            if image_hw is None:
                image_hw = ds.shape[1:3]
            elif ds.shape[1:3] != image_hw:
                _fail(path, f"{name}/obs/{key} is {ds.shape[1]}x{ds.shape[2]} px, other images are "
                            f"{image_hw[0]}x{image_hw[1]}")
    return image_hw


def check_masks(path: Path, f: h5py.File, names: list[str]) -> dict[str, list[str]]:
    """The filter keys under `mask` (file order), each naming demos of `names` only (as stored)."""
    masks: dict[str, list[str]] = {}
    known = set(names)
    if "mask" in f and isinstance(f["mask"], h5py.Group):
        for key in f["mask"].keys():
            vals = [_attr_str(v) for v in np.asarray(f["mask"][key][()]).reshape(-1)]
            bad = [v for v in vals if v not in known]
            if bad:
                _fail(path, f"mask/{key} names demos not in the file: {', '.join(bad[:3])}")
            masks[key] = vals
    return masks
