"""`robolearn import robomimic`: a robomimic HDF5 dataset (robosuite tasks) -> a robolearn store.

robomimic's files already have the store's layout (data/demo_<i>/{actions, rewards, dones, states,
obs/<key>}, mask/<filter key>, data attr env_args); what differs is the observations. robomimic keeps
every sensor as its own obs key (`agentview_image`, `robot0_eye_in_hand_image`, `robot0_eef_pos`,
`robot0_eef_quat`, `robot0_gripper_qpos`, `object`, ...) and a `next_obs` group. The import keeps the
chosen cameras as `<cam>_image`, concatenates the chosen low-dimensional keys into `proprio` (and
`object` into the privileged `state`), drops `next_obs` (the store keeps only the observation each
action was chosen from), copies every filter key (train/valid and others such as `20_percent`), and
keeps robomimic's env_args verbatim.

`robolearn eval` needs a robolearn env, so when the file's env is a robosuite task with a robolearn
adapter (`env_args` type 1, `Lift` -> `robosuite/Lift-v0`, Panda, OSC_POSE) and the imported keys mean
what the adapter's observations mean (proprio = eef pos + quat + gripper qpos, state = `object`), the
store's env becomes that adapter at the imported cameras and image size, with robomimic's env_args
kept beside it (`robomimic_env_args`). robomimic's datasets hold images the right way up (robomimic
flips robosuite's OpenGL-convention frames when it writes them), as the adapter renders them, so
images are copied unflipped; `--flip-images` turns datasets written bottom-up (e.g. LIBERO's) over.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Optional

import h5py
import numpy as np
from tqdm.auto import tqdm

from robolearn.errors import DataError, RobolearnError

from .store import GYM_ENV_TYPE, IMAGE_SUFFIX, StoreWriter, demo_sort
from .store_checks import _attr_str, open_hdf5
from .video import resize

# robomimic's default low-dimensional observation set for robosuite arms.
ROBOMIMIC_PROPRIO = ("robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos")
ROBOMIMIC_STATE = ("object",)
ROBOSUITE_ENV_TYPE = 1  # robomimic's EnvType.ROBOSUITE_TYPE


def _arm_controller(kw: dict) -> Optional[str]:
    """The arm controller type in robosuite 1.4 (`type`) or 1.5 (BASIC composite, `body_parts`) form."""
    cc = kw.get("controller_configs")
    if not isinstance(cc, dict):
        return None
    parts = cc.get("body_parts")
    if isinstance(parts, dict):
        arm = parts.get("right") or parts.get("arms", {}).get("right") or {}
        return arm.get("type") if isinstance(arm, dict) else None
    return cc.get("type")


def robolearn_env_args(env_args: dict, cams: list[str], size: Optional[tuple[int, int]], prop_keys: list[str],
                       state_keys: list[str]) -> tuple[dict, str]:
    """(the store's env_args, a line saying which env `robolearn eval` will build and why).

    The env is a robolearn adapter only where a policy trained on the import sees there what it saw
    in the file; otherwise robomimic's env_args stay as they are and eval needs `--env`."""
    from robolearn.envs import robosuite_tasks  # lazy: importing the envs loads MuJoCo, which an import needs only here

    name, kw = env_args.get("env_name"), env_args.get("env_kwargs") or {}
    if env_args.get("type") != ROBOSUITE_ENV_TYPE or not name:
        return env_args, "env: not a robosuite task; `robolearn eval` needs --env"
    env_id = f"robosuite/{name}-v0"
    robots = kw.get("robots", "Panda")
    robots = [robots] if isinstance(robots, str) else list(robots)
    controller = _arm_controller(kw)
    why = None
    if env_id not in robosuite_tasks.TASKS:
        why = f"robolearn has no adapter for robosuite's {name} (it has {', '.join(robosuite_tasks.TASKS)})"
    elif robots != ["Panda"]:
        why = f"robots {robots}, the adapter drives one Panda"
    elif controller not in (None, "OSC_POSE"):
        why = f"controller {controller}, the adapter's actions are OSC_POSE deltas"
    elif prop_keys and list(prop_keys) != list(ROBOMIMIC_PROPRIO):
        why = f"proprio {' + '.join(prop_keys)}, the adapter's is {' + '.join(ROBOMIMIC_PROPRIO)}"
    elif state_keys and list(state_keys) != list(ROBOMIMIC_STATE):
        why = f"state {' + '.join(state_keys)}, the adapter's is {' + '.join(ROBOMIMIC_STATE)}"
    elif size is not None and size[0] != size[1]:
        why = f"images {size[0]}x{size[1]}, the adapter renders square ones (pass --image-size)"
    if why:
        return env_args, f"env: robomimic's {name} kept as is ({why}); `robolearn eval` needs --env"
    kwargs = {"image_size": int(size[0]), "cameras": list(cams)} if cams else {"render": False}
    mapped = {"env_name": env_id, "type": GYM_ENV_TYPE, "env_kwargs": kwargs, "robomimic_env_args": env_args}
    return mapped, f"env: robomimic's {name} -> {env_id} for `robolearn eval`"


def _choose(kind: str, asked: Optional[list[str]], default: list[str], available: list[str], path: Path) -> list[str]:
    if asked is None:
        return default
    missing = [k for k in asked if k not in available]
    if missing:
        raise RobolearnError(f"{path}: no {kind} {', '.join(missing)} (available: {', '.join(available) or 'none'})")
    return list(asked)


def import_robomimic(cfg) -> Path:
    """Import cfg.path into the store cfg.out (atomic); returns cfg.out."""
    path, out = Path(cfg.path), Path(cfg.out)
    if out.exists() and not cfg.overwrite:
        raise RobolearnError(f"{out} exists; pass --overwrite to replace it")
    if cfg.image_size is not None and cfg.image_size < 8:
        raise RobolearnError(f"--image-size must be >= 8 px, got {cfg.image_size}")
    f = open_hdf5(path)
    try:
        data, names = _demos(f, path)
        obs0 = data[names[0]]["obs"]
        cams, prop_keys, state_keys = _chosen_keys(cfg, obs0, path)
        size = _image_size(cfg, obs0, cams, path)
        env_args, env_line = robolearn_env_args(_env_args(data, cfg, size, path), cams, size, prop_keys, state_keys)
        masks = _masks(f, names, path)
        writer = StoreWriter(out, env_args, valid_fraction=cfg.valid_fraction, seed=cfg.seed, overwrite=cfg.overwrite,
                             extra_attrs={"source": f"robomimic: {path.resolve()}",
                                          "proprio_keys": json.dumps(prop_keys), "state_keys": json.dumps(state_keys)})
        rename: dict[str, str] = {}
        frames = 0
        t0 = time.perf_counter()
        bar = tqdm(total=len(names), desc="import robomimic", unit="demo", dynamic_ncols=True)
        try:
            writer.open()
            for d in names:
                demo = _read_demo(data[d], f"{path}: data/{d}", cams, prop_keys, state_keys, size, cfg.flip_images)
                demo["attrs"]["source_demo"] = d
                rename[d] = writer.add_demo(demo)
                frames += len(demo["actions"])
                bar.update(1)
            if masks:
                writer.masks = {k: [rename[v] for v in vals] for k, vals in masks.items()}
            writer.finish()
        except BaseException:
            writer.abort()
            raise
        finally:
            bar.close()
    finally:
        f.close()
    elapsed = time.perf_counter() - t0
    print(f"imported {len(names)} demos, {frames} steps ({frames / max(elapsed, 1e-9):.0f} frames/s); cameras "
          f"{', '.join(cams) or 'none'}; proprio = {' + '.join(prop_keys) or 'none'}; state = "
          f"{' + '.join(state_keys) or 'none'}; filter keys {', '.join(sorted(masks)) or 'none (seeded split)'} -> {out}\n"
          f"{env_line}", file=sys.stderr)
    return out


def _demos(f: h5py.File, path: Path) -> tuple[h5py.Group, list[str]]:
    """The `data` group and its demos in order, each with actions and an obs group."""
    if "data" not in f or not isinstance(f["data"], h5py.Group):
        raise DataError(f"{path}: no 'data' group (not a robomimic dataset)")
    data = f["data"]
    names = demo_sort(k for k in data.keys() if isinstance(data[k], h5py.Group))
    if not names:
        raise DataError(f"{path}: no demos in 'data'")
    for d in names:
        if "actions" not in data[d] or "obs" not in data[d]:
            raise DataError(f"{path}: data/{d} needs 'actions' and an 'obs' group")
    return data, names


def _chosen_keys(cfg, obs0: h5py.Group, path: Path) -> tuple[list[str], list[str], list[str]]:
    """(cameras, proprio keys, state keys): the asked ones, checked against the first demo's, or robomimic's
    defaults among them."""
    keys = sorted(obs0.keys())
    all_cams = [k[: -len(IMAGE_SUFFIX)] for k in keys if k.endswith(IMAGE_SUFFIX)]
    lowdim = [k for k in keys if not k.endswith(IMAGE_SUFFIX) and obs0[k].ndim <= 2 and obs0[k].dtype.kind == "f"]
    cams = _choose("camera", cfg.cameras, all_cams, all_cams, path)
    state_default = [k for k in (*ROBOMIMIC_STATE, "state") if k in lowdim]
    state_keys = _choose("state key", cfg.state_keys, state_default, lowdim, path)
    prop_default = ([k for k in ROBOMIMIC_PROPRIO if k in lowdim] or (["proprio"] if "proprio" in lowdim else [])
                    or [k for k in lowdim if k not in state_keys])
    prop_keys = _choose("proprio key", cfg.proprio_keys, prop_default, lowdim, path)
    if not cams and not prop_keys and not state_keys:
        raise RobolearnError(f"{path}: nothing to import: no cameras and no low-dimensional keys chosen")
    return cams, prop_keys, state_keys


def _image_size(cfg, obs0: h5py.Group, cams: list[str], path: Path) -> Optional[tuple[int, int]]:
    """Every camera the same size after the import (the store's rule): --image-size, else the file's."""
    if not cams:
        return None
    if cfg.image_size is not None:
        return int(cfg.image_size), int(cfg.image_size)
    shapes = {c: tuple(obs0[f"{c}{IMAGE_SUFFIX}"].shape[1:3]) for c in cams}
    if len(set(shapes.values())) > 1:
        raise RobolearnError(f"{path}: cameras have different sizes "
                             f"({', '.join(f'{c} {h}x{w}' for c, (h, w) in shapes.items())}); pass --image-size")
    return next(iter(shapes.values()))


def _env_args(data: h5py.Group, cfg, size: Optional[tuple[int, int]], path: Path) -> dict:
    """robomimic's env_args, rendering at --image-size when it was given."""
    try:
        env_args = json.loads(_attr_str(data.attrs["env_args"])) if "env_args" in data.attrs else {}
    except ValueError:
        raise DataError(f"{path}: data attr env_args is not valid JSON") from None
    if size is not None and cfg.image_size is not None:
        kw = env_args.get("env_kwargs")
        if isinstance(kw, dict):  # render at the size the policy is trained on
            for k in ("camera_heights", "camera_widths"):
                if k in kw:
                    kw[k] = int(cfg.image_size)
    return env_args


def _masks(f: h5py.File, names: list[str], path: Path) -> dict[str, list[str]]:
    """Filter keys, by source demo name."""
    masks: dict[str, list[str]] = {}
    if "mask" in f and isinstance(f["mask"], h5py.Group):
        known = set(names)
        for key in f["mask"].keys():
            vals = [_attr_str(v) for v in np.asarray(f["mask"][key][()]).reshape(-1)]
            bad = [v for v in vals if v not in known]
            if bad:
                raise DataError(f"{path}: mask/{key} names demos not in the file: {', '.join(bad[:3])}")
            masks[key] = vals
    return masks


def _read_demo(g: h5py.Group, where: str, cams: list[str], prop_keys: list[str], state_keys: list[str],
               size: Optional[tuple[int, int]], flip: bool) -> dict:
    """One demo in the store's form (obs: proprio, state, <cam>_image), every array checked."""
    acts = np.asarray(g["actions"][()], np.float64)
    if acts.ndim != 2 or len(acts) == 0:
        raise DataError(f"{where}/actions must be (T, A) with T > 0, got {acts.shape}")
    bad = np.nonzero(~np.isfinite(acts).all(1))[0]
    if len(bad):
        raise DataError(f"{where}/actions has NaN or inf (step {bad[0]})")
    n, ob = len(acts), g["obs"]

    def vec(keys):
        parts = []
        for k in keys:
            if k not in ob:
                raise DataError(f"{where}/obs has no '{k}'")
            x = np.asarray(ob[k][()], np.float32).reshape(len(ob[k]), -1)
            if len(x) != n:
                raise DataError(f"{where}/obs/{k} has {len(x)} steps, actions have {n}")
            if not np.isfinite(x).all():
                raise DataError(f"{where}/obs/{k} has NaN or inf")
            parts.append(x)
        return np.concatenate(parts, 1)

    obs = {}
    if prop_keys:
        obs["proprio"] = vec(prop_keys)
    if state_keys:
        obs["state"] = vec(state_keys)
    for c in cams:
        k = f"{c}{IMAGE_SUFFIX}"
        if k not in ob:
            raise DataError(f"{where}/obs has no '{k}'")
        img = ob[k][()]
        if img.dtype != np.uint8 or img.ndim != 4 or img.shape[-1] != 3:
            raise DataError(f"{where}/obs/{k} must be uint8 (T, H, W, 3), got {img.dtype} {img.shape}")
        obs[k] = resize(img[:, ::-1] if flip else img, *size)
    demo = {"obs": obs, "actions": acts.astype(np.float32)}
    for k in ("rewards", "dones", "states"):
        if k in g:
            demo[k] = g[k][()]
    # robosuite's MJCF: what replaying `states` needs
    demo["attrs"] = {"model_file": g.attrs["model_file"]} if "model_file" in g.attrs else {}
    return demo
