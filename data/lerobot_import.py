"""`robolearn import lerobot`: a LeRobot v3.0 dataset folder -> a store (layout: `lerobot_io`)."""
from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image
from tqdm.auto import tqdm

from robolearn.errors import DataError, RobolearnError

from .lerobot_io import (ACTION, DATA_PATH, DONE, ENV_STATE, EXTRAS, FEATURES, IMAGES, INFO, REWARD, STATE, VIDEO_PATH,
                         _camera_name, _column_2d, _image_hw, _load_json, _read_parquet, _task_strings)
from .store import IMAGE_SUFFIX, StoreWriter, make_env_args
from .video import VideoReader, resize


def import_lerobot(cfg) -> Path:
    """Read a LeRobot v3.0 folder into a store at cfg.out (atomic). Every check on the metadata runs
    before anything is written; a problem found while decoding removes the partial output."""
    root = Path(cfg.path)
    out = Path(cfg.out)
    if not root.exists():
        raise DataError(f"{root}: no such folder")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (a LeRobot dataset is a folder with meta/, data/, videos/)")
    if out.exists() and not cfg.overwrite:
        raise RobolearnError(f"{out} exists; pass --overwrite to replace it")
    if cfg.image_size is not None and cfg.image_size < 8:
        raise RobolearnError(f"--image-size must be >= 8 px, got {cfg.image_size}")

    info_path = root / INFO
    info = _load_json(info_path)
    version = str(info.get("codebase_version", ""))
    if not version.startswith("v3."):
        raise DataError(f"{info_path}: codebase_version {version or '(none)'}; only LeRobot v3.x datasets are read "
                        "(convert older ones with lerobot's convert_dataset_v21_to_v30)")
    try:
        fps = float(info["fps"])
        features: dict = dict(info["features"])
        data_tpl = str(info.get("data_path") or DATA_PATH)
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{info_path}: needs fps and features") from None
    if not fps > 0:
        raise DataError(f"{info_path}: fps must be positive, got {info.get('fps')}")
    video_tpl = info.get("video_path") or VIDEO_PATH
    if ACTION not in features:
        raise DataError(f"{info_path}: no 'action' feature")

    visual = {k: ft for k, ft in features.items() if isinstance(ft, dict) and ft.get("dtype") in ("video", "image")}
    cam_of = {_camera_name(k): k for k in visual}
    if len(cam_of) != len(visual):
        raise DataError(f"{info_path}: camera keys {sorted(visual)} do not have distinct last names")
    if cfg.cameras:
        missing = [c for c in cfg.cameras if c not in cam_of]
        if missing:
            raise RobolearnError(f"{root}: no camera {', '.join(missing)} (cameras: {', '.join(cam_of) or 'none'})")
        cams = list(cfg.cameras)
    else:
        cams = list(cam_of)
    if cfg.image_size is not None:
        size = (int(cfg.image_size), int(cfg.image_size))
    else:
        sizes = {c: _image_hw(cam_of[c], visual[cam_of[c]], info_path) for c in cams}
        if len(set(sizes.values())) > 1:
            raise RobolearnError(f"{root}: cameras have different sizes "
                                 f"({', '.join(f'{c} {h}x{w}' for c, (h, w) in sizes.items())}); pass --image-size")
        size = next(iter(sizes.values()), None)
    # Numbers the store keeps: observation.* vectors, action, reward, done, robolearn's task features.
    lowdim = [k for k, ft in features.items()
              if isinstance(ft, dict) and k not in visual and ft.get("dtype") not in ("string",)
              and (k.startswith("observation.") or k in (ACTION, REWARD, DONE, FEATURES))]

    extras = json.loads((root / EXTRAS).read_text()) if (root / EXTRAS).is_file() else {}
    tasks = _task_strings(root)

    # ---- meta/episodes: one row per episode, every index 0..N-1 exactly once
    ep_files = sorted((root / "meta" / "episodes").glob("*/*.parquet"))
    if not ep_files:
        raise DataError(f"{root / 'meta' / 'episodes'}: no episode tables (meta/episodes/chunk-*/file-*.parquet)")
    need = ["episode_index", "length", "data/chunk_index", "data/file_index", "dataset_from_index", "dataset_to_index"]
    vneed = [f"videos/{cam_of[c]}/{x}" for c in cams if visual[cam_of[c]]["dtype"] == "video"
             for x in ("chunk_index", "file_index", "from_timestamp", "to_timestamp")]
    rows = []
    for p in ep_files:
        schema = pq.read_schema(p)
        missing = [c for c in need + vneed if c not in schema.names]
        if missing:
            raise DataError(f"{p}: no column {', '.join(missing)}")
        cols = need + vneed + (["tasks"] if "tasks" in schema.names else [])
        for r in _read_parquet(p, cols).to_pylist():
            r["_file"] = p
            rows.append(r)
    rows.sort(key=lambda r: r["episode_index"])
    for i, r in enumerate(rows):
        if r["episode_index"] != i:
            prev = rows[i - 1]["episode_index"] if i else -1
            what = (f"episode {i} is listed twice" if r["episode_index"] == prev else
                    f"episode indices jump from {prev} to {r['episode_index']} (episode {i} missing)")
            raise DataError(f"{r['_file']}: {what}")
    total = info.get("total_episodes")
    if total is not None and int(total) != len(rows):
        raise DataError(f"{info_path}: total_episodes is {total} but meta/episodes lists {len(rows)}")
    if cfg.episodes:
        bad = [e for e in cfg.episodes if not 0 <= e < len(rows)]
        if bad:
            raise RobolearnError(f"{root}: no episode {', '.join(map(str, bad))} (episodes 0..{len(rows) - 1})")
        chosen = [rows[e] for e in dict.fromkeys(cfg.episodes)]
    else:
        chosen = rows
    tol = 0.45 / fps  # unambiguous: the nearest frame of a 1/fps grid, and never its neighbour
    for r in chosen:
        e, n = r["episode_index"], r["length"]
        if n is None or n < 1:
            raise DataError(f"{r['_file']}: episode {e} has length {n}")
        if r["dataset_to_index"] - r["dataset_from_index"] != n:
            raise DataError(f"{r['_file']}: episode {e} has length {n} but dataset_from/to_index span "
                            f"{r['dataset_to_index'] - r['dataset_from_index']} frames")
        for c in cams:
            key = cam_of[c]
            if visual[key]["dtype"] != "video":
                continue
            span = (r[f"videos/{key}/to_timestamp"] - r[f"videos/{key}/from_timestamp"]) * fps
            if abs(span - n) > 0.5:
                raise DataError(f"{r['_file']}: episode {e} has {n} frames in the data table but its {key} video "
                                f"segment spans {span:.1f} frames at {fps:g} fps")

    env_id = cfg.env
    if env_id:
        env_args = make_env_args(env_id, {"image_size": size[0], "cameras": cams} if cams else {})
    elif extras.get("env_args"):
        env_args = dict(extras["env_args"])
        kw = dict(env_args.get("env_kwargs") or {})
        if cams:
            kw["cameras"] = cams
            if size is not None and "image_size" in kw:
                kw["image_size"] = size[0]
        env_args["env_kwargs"] = kw
    else:
        env_args = {}
    pos = {r["episode_index"]: i for i, r in enumerate(chosen)}
    masks = None
    if extras.get("masks"):
        masks = {k: [f"demo_{pos[e]}" for e in v if e in pos] for k, v in extras["masks"].items()}
    modes, success = extras.get("modes") or [], extras.get("success") or []

    writer = StoreWriter(out, env_args, valid_fraction=cfg.valid_fraction, seed=cfg.seed, overwrite=cfg.overwrite,
                         feature_names=extras.get("feature_names") or None,
                         extra_attrs={"fps": fps, "tasks": json.dumps([tasks[k] for k in sorted(tasks)]),
                                      "source": f"lerobot {version}: {root.resolve()}",
                                      **({"robot_type": str(info["robot_type"])} if info.get("robot_type") else {})})
    readers: dict[str, VideoReader] = {}
    data_cache: dict = {}
    frames_done = 0
    bar = tqdm(total=sum(r["length"] for r in chosen), desc="import lerobot", unit="frame", dynamic_ncols=True)
    t0 = time.perf_counter()
    try:
        writer.open()
        for r in chosen:
            e, n = r["episode_index"], r["length"]
            dpath = root / data_tpl.format(chunk_index=r["data/chunk_index"], file_index=r["data/file_index"])
            if data_cache.get("path") != dpath:
                data_cache = {"path": dpath, **_load_data_file(dpath, lowdim, [cam_of[c] for c in cams if visual[cam_of[c]]["dtype"] == "image"])}
            sel = np.nonzero(data_cache["episode_index"] == e)[0]
            if len(sel) != n:
                raise DataError(f"{dpath}: episode {e} has {len(sel)} rows but meta/episodes says length {n}")
            sel = sel[np.argsort(data_cache["frame_index"][sel], kind="stable")]
            if not np.array_equal(data_cache["frame_index"][sel], np.arange(n)):
                raise DataError(f"{dpath}: episode {e} frame_index is not 0..{n - 1}")
            ts = data_cache["timestamp"][sel]
            cols = {k: v[sel] for k, v in data_cache["cols"].items()}
            acts = cols.get(ACTION)
            bad = np.nonzero(~np.isfinite(acts).all(1))[0]
            if len(bad):
                raise DataError(f"{dpath}: episode {e} has NaN or inf in 'action' (frame {bad[0]})")
            obs = {}
            for k, v in cols.items():
                if k in (ACTION, REWARD, DONE, FEATURES):
                    continue
                if not np.isfinite(v).all():
                    raise DataError(f"{dpath}: episode {e} has NaN or inf in '{k}'")
                name = {STATE: "proprio", ENV_STATE: "state"}.get(k, k.removeprefix("observation.").replace(".", "_"))
                obs[name] = v.astype(np.float32)
            for c in cams:
                key = cam_of[c]
                if visual[key]["dtype"] == "image":
                    obs[f"{c}{IMAGE_SUFFIX}"] = _decode_images(data_cache["images"][key], sel, size, dpath, key)
                    continue
                vpath = root / str(video_tpl).format(video_key=key, chunk_index=r[f"videos/{key}/chunk_index"],
                                                     file_index=r[f"videos/{key}/file_index"])
                rd = readers.get(key)
                if rd is None or rd.path != vpath:  # one open file per camera
                    if rd is not None:
                        rd.close()
                    rd = readers[key] = VideoReader(vpath, size)
                obs[f"{c}{IMAGE_SUFFIX}"] = rd.frames_at(r[f"videos/{key}/from_timestamp"] + ts.astype(np.float64), tol)
            if not obs:
                raise DataError(f"{info_path}: no observations to import (no cameras and no observation.* features)")
            demo = {"obs": obs, "actions": acts.astype(np.float32)}
            if REWARD in cols:
                demo["rewards"] = cols[REWARD].reshape(-1)
            if DONE in cols:
                demo["dones"] = cols[DONE].reshape(-1).astype(np.uint8)
            if FEATURES in cols:
                demo["task_features"] = cols[FEATURES]
            if e < len(modes) and modes[e] is not None:
                demo["mode"] = int(modes[e])
            if e < len(success) and success[e] is not None:
                demo["success"] = float(success[e])
            task_names = r.get("tasks") or ([tasks.get(int(data_cache["task_index"][sel[0]]))]
                                            if data_cache["task_index"] is not None else [])
            demo["attrs"] = {"task": " | ".join(t for t in task_names if t), "lerobot_episode_index": int(e)}
            writer.add_demo(demo)
            frames_done += n
            bar.update(n)
        if masks is not None:
            writer.masks = masks
        writer.finish()
    except BaseException:
        writer.abort()
        raise
    finally:
        for rd in readers.values():
            rd.close()
        bar.close()
    elapsed = time.perf_counter() - t0
    print(f"imported {len(chosen)} episodes, {frames_done} frames ({frames_done / max(elapsed, 1e-9):.0f} frames/s) "
          f"-> {out}", file=sys.stderr)
    return out


def _load_data_file(path: Path, lowdim: list[str], image_keys: list[str]) -> dict:
    schema = pq.read_schema(path) if path.is_file() else None
    if schema is None:
        raise DataError(f"{path}: missing")
    for c in ("episode_index", "frame_index", "timestamp", *lowdim, *image_keys):
        if c not in schema.names:
            raise DataError(f"{path}: no column '{c}'")
    cols = ["episode_index", "frame_index", "timestamp", *(["task_index"] if "task_index" in schema.names else []),
            *lowdim, *image_keys]
    t = _read_parquet(path, cols)
    return {
        "episode_index": t.column("episode_index").to_numpy(),
        "frame_index": t.column("frame_index").to_numpy(),
        "timestamp": t.column("timestamp").to_numpy().astype(np.float64),
        "task_index": t.column("task_index").to_numpy() if "task_index" in cols else None,
        "cols": {k: _column_2d(t, k, path) for k in lowdim},
        "images": {k: t.column(k) for k in image_keys},
    }


def _decode_images(col: pa.ChunkedArray, sel: np.ndarray, size, path: Path, key: str) -> np.ndarray:
    """LeRobot `image` features: PNG/JPEG bytes in a struct {bytes, path} column."""
    out = []
    for i in sel:
        v = col[int(i)].as_py()
        data = v.get("bytes") if isinstance(v, dict) else None
        if not data:
            raise DataError(f"{path}: '{key}' row {int(i)} holds no image bytes")
        try:
            out.append(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
        except Exception as e:
            raise DataError(f"{path}: '{key}' row {int(i)} is not a readable image ({type(e).__name__})") from None
    frames = np.stack(out)
    return resize(frames, *size) if size is not None else frames

