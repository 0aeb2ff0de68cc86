"""LeRobot v3.0 datasets <-> robolearn stores, with pyarrow and PyAV (the `lerobot` package is not needed).

LeRobot v3.0 layout (codebase_version "v3.0"):
  meta/info.json      codebase_version, fps, features {key: {dtype, shape, names, info}}, chunks_size,
                      data_path / video_path templates, total_episodes, total_frames, total_tasks, splits
  meta/stats.json     per feature: min, max, mean, std, count, quantiles; images per channel in [0, 1]
  meta/tasks.parquet  one row per task string: task_index, and the string as the pandas index `task`
  meta/episodes/chunk-XXX/file-YYY.parquet  one row per episode: episode_index, tasks, length,
                      data/chunk_index, data/file_index, dataset_from_index, dataset_to_index,
                      videos/<key>/{chunk_index, file_index, from_timestamp, to_timestamp}
  data/chunk-XXX/file-YYY.parquet           one row per frame: index, episode_index, frame_index,
                      timestamp, task_index, action, observation.state, ...
  videos/<key>/chunk-XXX/file-YYY.mp4       several episodes back to back: frame i of episode e is
                      at videos/<key>/from_timestamp + timestamp of its row

Mapping to the store: observation.images.<cam> <-> obs/<cam>_image, observation.state <-> obs/proprio,
observation.environment_state <-> obs/state (privileged), other observation.<x> <-> obs/<x>,
action <-> actions, next.reward <-> rewards, next.done <-> dones. robolearn's extras travel in
meta/robolearn.json (env_args, feature names, masks, modes) and a `task_features` column; LeRobot
readers ignore both.
"""
from __future__ import annotations

import io
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Optional

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image
from tqdm.auto import tqdm

from robolearn import __version__
from robolearn.errors import DataError, RobolearnError

from .store import IMAGE_SUFFIX, StoreWriter, make_env_args, open_store
from .video import VideoReader, VideoWriter, resize

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
INFO, STATS, TASKS, EXTRAS = "meta/info.json", "meta/stats.json", "meta/tasks.parquet", "meta/robolearn.json"
IMAGES = "observation.images."
STATE, ENV_STATE, ACTION = "observation.state", "observation.environment_state", "action"
REWARD, DONE, FEATURES = "next.reward", "next.done", "task_features"
FRAME_COLUMNS = ("index", "episode_index", "frame_index", "timestamp", "task_index")
QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
MiB = 1024 * 1024


# ============================================================================ shared
def _next_file(chunk: int, file: int) -> tuple[int, int]:
    """LeRobot's numbering: up to CHUNKS_SIZE files per chunk folder."""
    return (chunk + 1, 0) if file == CHUNKS_SIZE - 1 else (chunk, file + 1)


def _publish_dir(tmp: Path, out: Path, overwrite: bool) -> None:
    """Move a finished folder into place; an old one is replaced only after the new one is complete."""
    if out.exists():
        if not overwrite:
            raise DataError(f"{out} appeared while writing; pass --overwrite to replace it")
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


def _tasks_table(tasks: list[str]) -> pa.Table:
    """meta/tasks.parquet as pandas writes a DataFrame indexed by `task`: LeRobot reads it with
    pd.read_parquet and looks task strings up by index, so the pandas metadata must say so."""
    table = pa.table({"task_index": pa.array(range(len(tasks)), pa.int64()), "task": pa.array(tasks, pa.string())})
    meta = {
        "index_columns": ["task"],
        "column_indexes": [{"name": None, "field_name": None, "pandas_type": "unicode", "numpy_type": "object",
                            "metadata": {"encoding": "UTF-8"}}],
        "columns": [
            {"name": "task_index", "field_name": "task_index", "pandas_type": "int64", "numpy_type": "int64",
             "metadata": None},
            {"name": "task", "field_name": "task", "pandas_type": "unicode", "numpy_type": "object", "metadata": None},
        ],
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.3",
    }
    return table.replace_schema_metadata({b"pandas": json.dumps(meta).encode()})


def _vector(x: np.ndarray, dtype) -> pa.Array:
    """(T, D) -> fixed_size_list<D> (what HF datasets writes for Sequence(length=D))."""
    x = np.ascontiguousarray(x, dtype=dtype)
    return pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), int(x.shape[1]))


def _stats(x: np.ndarray) -> dict:
    x = np.asarray(x, np.float64)
    out = {"min": x.min(0), "max": x.max(0), "mean": x.mean(0), "std": x.std(0), "count": [len(x)]}
    for q, v in zip(QUANTILES, np.quantile(x, QUANTILES, axis=0)):
        out[f"q{int(round(q * 100)):02d}"] = v
    return {k: np.asarray(v).tolist() for k, v in out.items()}


class _ImageStats:
    """Per-channel stats of RGB frames scaled to [0, 1], shaped (3, 1, 1) as LeRobot stores them."""

    def __init__(self):
        self.n = 0
        self.s = np.zeros(3)
        self.s2 = np.zeros(3)
        self.lo = np.full(3, np.inf)
        self.hi = np.full(3, -np.inf)
        self.sample: list[np.ndarray] = []

    def add(self, frames: np.ndarray) -> None:
        x = frames.reshape(-1, 3)
        self.n += len(x)
        self.s += x.sum(0, dtype=np.int64)  # exact integer sums, scaled once at the end
        self.s2 += np.einsum("ij,ij->j", x.astype(np.int32), x.astype(np.int32), dtype=np.int64)
        self.lo = np.minimum(self.lo, x.min(0))
        self.hi = np.maximum(self.hi, x.max(0))
        # Quantiles from a sample: a few frames per episode, every 7th pixel.
        self.sample.append(frames[:: max(1, len(frames) // 4)].reshape(-1, 3)[::7])

    def result(self, frames: int) -> dict:
        mean = self.s / self.n / 255.0
        std = np.sqrt(np.maximum(self.s2 / self.n / 255.0**2 - mean**2, 0.0))
        px = np.concatenate(self.sample).astype(np.float32) / 255.0
        out = {"min": self.lo / 255.0, "max": self.hi / 255.0, "mean": mean, "std": std}
        for q, v in zip(QUANTILES, np.quantile(px, QUANTILES, axis=0)):
            out[f"q{int(round(q * 100)):02d}"] = v
        res = {k: np.asarray(v).reshape(3, 1, 1).tolist() for k, v in out.items()}
        res["count"] = [int(frames)]
        return res


def _env_fps(env_id: Optional[str]) -> Optional[float]:
    """The control rate of a registered env (gymnasium's metadata render_fps), when it has one."""
    if not env_id:
        return None
    try:
        # Lazy: only this lookup needs the simulators (importing robolearn.envs loads MuJoCo).
        import gymnasium

        import robolearn.envs  # noqa: F401  (registers robolearn's envs)
        from gymnasium.envs.registration import load_env_creator

        spec = gymnasium.spec(env_id)
        creator = load_env_creator(spec.entry_point) if isinstance(spec.entry_point, str) else spec.entry_point
        fps = getattr(creator, "metadata", {}).get("render_fps")
        return float(fps) if fps else None
    except Exception:  # an env nobody registered here: the caller falls back to --fps or 10
        return None


def _json_num(x: float):
    return int(x) if float(x).is_integer() else float(x)


# ============================================================================ export
def export_lerobot(cfg) -> Path:
    """Write a store as a LeRobot v3.0 dataset folder at cfg.out (built beside it, then renamed)."""
    out = Path(cfg.out)
    if out.exists() and not cfg.overwrite:
        raise RobolearnError(f"{out} exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise RobolearnError(f"{out}: folder {out.parent} does not exist")
    try:
        av.codec.Codec(cfg.codec, "w")
    except Exception:
        raise RobolearnError(f"codec {cfg.codec}: no such encoder in this PyAV build") from None
    if cfg.data_file_mb <= 0 or cfg.video_file_mb <= 0:
        raise RobolearnError("--data-file-mb and --video-file-mb must be positive")

    with open_store(cfg.path) as store:
        attrs = store.h5["data"].attrs
        fps = cfg.fps or (float(attrs["fps"]) if "fps" in attrs else None) or _env_fps(store.env_id) or 10.0
        if not fps > 0:
            raise RobolearnError(f"--fps must be positive, got {fps}")
        demos = store.demo_names(None)
        cams = list(store.cameras)
        extra_keys = [k for k in store.lowdim_keys if k not in ("proprio", "state")]
        first = store.h5["data"][demos[0]]
        has = {k: k in store.lowdim_keys for k in ("proprio", "state")}
        has_rewards, has_dones = "rewards" in first, "dones" in first
        feature_dim = store.feature_dim
        ep_tasks = []
        for d in demos:
            t = cfg.task or _attr_str(store.h5["data"][d].attrs.get("task")) or store.env_id or "robolearn demonstration"
            ep_tasks.append(t)
        task_list = list(dict.fromkeys(ep_tasks))
        task_index = {t: i for i, t in enumerate(task_list)}

        tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        bar = tqdm(total=store.total_steps(None), desc="export lerobot", unit="frame", dynamic_ncols=True)
        writers: dict[str, VideoWriter] = {}
        try:
            tmp.mkdir()
            t0 = time.perf_counter()
            video_pos = {c: (0, 0) for c in cams}
            data_pos = (0, 0)
            pending: list[pa.Table] = []
            pending_bytes = 0
            episodes = []
            numeric: dict[str, list[np.ndarray]] = {}
            img_stats = {c: _ImageStats() for c in cams}
            index = 0

            def flush_data():
                nonlocal pending, pending_bytes
                if not pending:
                    return
                p = tmp / DATA_PATH.format(chunk_index=data_pos[0], file_index=data_pos[1])
                p.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(pa.concat_tables(pending), p, compression="snappy")
                pending, pending_bytes = [], 0

            for e, d in enumerate(demos):
                n = store.length(d)
                cols = {}
                acts = store.actions(d)
                cols[ACTION] = acts
                if has["proprio"]:
                    cols[STATE] = store.obs(d, "proprio").reshape(n, -1)
                if has["state"]:
                    cols[ENV_STATE] = store.obs(d, "state").reshape(n, -1)
                for k in extra_keys:
                    cols[f"observation.{k}"] = store.obs(d, k).reshape(n, -1)
                if feature_dim:
                    cols[FEATURES] = store.task_features(d)
                for k, v in cols.items():
                    numeric.setdefault(k, []).append(np.asarray(v, np.float32))
                ts = (np.arange(n) / fps).astype(np.float32)
                row = {
                    "index": pa.array(np.arange(index, index + n), pa.int64()),
                    "episode_index": pa.array(np.full(n, e), pa.int64()),
                    "frame_index": pa.array(np.arange(n), pa.int64()),
                    "timestamp": pa.array(ts, pa.float32()),
                    "task_index": pa.array(np.full(n, task_index[ep_tasks[e]]), pa.int64()),
                }
                for k, v in cols.items():
                    row[k] = _vector(v, np.float32)
                if has_rewards:
                    r = store.rewards(d).astype(np.float32)
                    row[REWARD] = pa.array(r, pa.float32())
                    numeric.setdefault(REWARD, []).append(r[:, None])
                if has_dones:
                    dn = np.asarray(store.h5["data"][d]["dones"][()], bool)
                    row[DONE] = pa.array(dn, pa.bool_())
                table = pa.table(row)
                if pending and pending_bytes + table.nbytes > cfg.data_file_mb * MiB:
                    flush_data()
                    data_pos = _next_file(*data_pos)
                pending.append(table)
                pending_bytes += table.nbytes
                ep = {"episode_index": e, "tasks": [ep_tasks[e]], "length": n,
                      "data/chunk_index": data_pos[0], "data/file_index": data_pos[1],
                      "dataset_from_index": index, "dataset_to_index": index + n}
                for c in cams:
                    key = IMAGES + c
                    frames = store.obs(d, f"{c}{IMAGE_SUFFIX}")
                    w = writers.get(c)
                    if w is not None and w.size_bytes() >= cfg.video_file_mb * MiB:
                        w.close()
                        video_pos[c] = _next_file(*video_pos[c])
                        w = None
                    if w is None:
                        p = tmp / VIDEO_PATH.format(video_key=key, chunk_index=video_pos[c][0], file_index=video_pos[c][1])
                        p.parent.mkdir(parents=True, exist_ok=True)
                        w = writers[c] = VideoWriter(p, fps, frames.shape[2], frames.shape[1], codec=cfg.codec,
                                                     pix_fmt=cfg.pix_fmt, crf=cfg.crf, gop=cfg.gop)
                    start = w.duration
                    w.write(frames)
                    img_stats[c].add(frames)
                    ep.update({f"videos/{key}/chunk_index": video_pos[c][0], f"videos/{key}/file_index": video_pos[c][1],
                               f"videos/{key}/from_timestamp": start, f"videos/{key}/to_timestamp": w.duration})
                ep["meta/episodes/chunk_index"] = 0
                ep["meta/episodes/file_index"] = 0
                episodes.append(ep)
                index += n
                bar.update(n)
            flush_data()
            for w in writers.values():
                w.close()
            writers.clear()

            # meta/episodes, tasks, stats, info, robolearn extras
            ep_path = tmp / EPISODES_PATH.format(chunk_index=0, file_index=0)
            ep_path.parent.mkdir(parents=True, exist_ok=True)
            ep_cols = {k: [ep[k] for ep in episodes] for k in episodes[0]}
            ep_schema = {k: (pa.list_(pa.string()) if k == "tasks" else pa.float64() if k.endswith("_timestamp")
                             else pa.int64()) for k in ep_cols}
            pq.write_table(pa.table({k: pa.array(v, ep_schema[k]) for k, v in ep_cols.items()}), ep_path)
            pq.write_table(_tasks_table(task_list), tmp / TASKS)

            def names(prefix, n_):
                return [f"{prefix}_{i}" for i in range(n_)]

            features: dict[str, dict] = {}
            for c in cams:
                h, w_ = store.image_shape
                features[IMAGES + c] = {
                    "dtype": "video", "shape": [h, w_, 3], "names": ["height", "width", "channels"],
                    "info": {"video.height": h, "video.width": w_, "video.codec": _codec_name(cfg.codec),
                             "video.pix_fmt": cfg.pix_fmt, "video.is_depth_map": False, "video.fps": _json_num(fps),
                             "video.channels": 3, "video.g": cfg.gop, "video.crf": cfg.crf, "has_audio": False},
                }
            for k, v in numeric.items():
                if k == REWARD:
                    features[k] = {"dtype": "float32", "shape": [1], "names": None}
                    continue
                dim = v[0].shape[1]
                nm = (list(store.feature_names) if k == FEATURES else
                      names({STATE: "proprio", ENV_STATE: "state", ACTION: "action"}.get(k, k.split(".")[-1]), dim))
                features[k] = {"dtype": "float32", "shape": [dim], "names": nm}
            if has_dones:
                features[DONE] = {"dtype": "bool", "shape": [1], "names": None}
            features.update({
                "timestamp": {"dtype": "float32", "shape": [1], "names": None},
                "frame_index": {"dtype": "int64", "shape": [1], "names": None},
                "episode_index": {"dtype": "int64", "shape": [1], "names": None},
                "index": {"dtype": "int64", "shape": [1], "names": None},
                "task_index": {"dtype": "int64", "shape": [1], "names": None},
            })
            stats = {k: _stats(np.concatenate(v)) for k, v in numeric.items()}
            for c in cams:
                stats[IMAGES + c] = img_stats[c].result(index)
            all_idx = np.arange(index, dtype=np.float64)[:, None]
            ep_len = np.array([ep["length"] for ep in episodes])
            stats["index"] = _stats(all_idx)
            stats["episode_index"] = _stats(np.repeat(np.arange(len(episodes)), ep_len)[:, None])
            stats["frame_index"] = _stats(np.concatenate([np.arange(k) for k in ep_len])[:, None])
            stats["timestamp"] = _stats(np.concatenate([np.arange(k) / fps for k in ep_len])[:, None])
            stats["task_index"] = _stats(np.array([task_index[t] for t, k in zip(ep_tasks, ep_len) for _ in range(k)])[:, None])
            (tmp / STATS).write_text(json.dumps(stats, indent=2))
            info = {
                "codebase_version": CODEBASE_VERSION,
                "robot_type": store.env_id,
                "total_episodes": len(episodes),
                "total_frames": int(index),
                "total_tasks": len(task_list),
                "chunks_size": CHUNKS_SIZE,
                "data_files_size_in_mb": cfg.data_file_mb,
                "video_files_size_in_mb": cfg.video_file_mb,
                "fps": _json_num(fps),
                "splits": {"train": f"0:{len(episodes)}"},
                "data_path": DATA_PATH,
                "video_path": VIDEO_PATH if cams else None,
                "features": features,
            }
            (tmp / INFO).write_text(json.dumps(info, indent=4))
            pos = {d: i for i, d in enumerate(demos)}
            extras = {
                "robolearn_version": _version(),
                "env_args": store.env_args,
                "feature_names": list(store.feature_names),
                "masks": {k: [pos[d] for d in store.demo_names(k)] for k in store.splits} if store.has_masks else {},
                "modes": [store.mode(d) for d in demos],
                "success": [_finite_or_none(store.success(d)) for d in demos],
            }
            (tmp / EXTRAS).write_text(json.dumps(extras, indent=2))
            _publish_dir(tmp, out, cfg.overwrite)
            elapsed = time.perf_counter() - t0
        except BaseException:
            for w in writers.values():
                try:
                    w.close()
                except Exception:
                    pass
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        finally:
            bar.close()
    video = f", {cfg.codec} {cfg.pix_fmt} crf {cfg.crf}" if cams else ", no cameras"
    print(f"exported {len(demos)} episodes, {index} frames ({index / max(elapsed, 1e-9):.0f} frames/s{video}) -> {out}",
          file=sys.stderr)
    return out


def _codec_name(encoder: str) -> str:
    return {"libx264": "h264", "libx265": "hevc", "libsvtav1": "av1", "libaom-av1": "av1"}.get(encoder, encoder)


def _finite_or_none(x: float):
    return float(x) if math.isfinite(x) else None


def _version() -> str:
    return __version__


def _attr_str(v) -> Optional[str]:
    if v is None:
        return None
    return v.decode() if isinstance(v, (bytes, np.bytes_)) else str(v)


# ============================================================================ import
def _load_json(path: Path) -> dict:
    if not path.is_file():
        raise DataError(f"{path}: missing (not a LeRobot v3.0 dataset folder?)")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not valid JSON ({type(e).__name__})") from None


def _read_parquet(path: Path, columns: Optional[list[str]] = None, schema_only: bool = False):
    """The table (or only its schema); a missing or damaged file (e.g. truncated: no footer) is a
    one-line DataError, not pyarrow's traceback."""
    if not path.is_file():
        raise DataError(f"{path}: missing")
    try:
        return pq.read_schema(path) if schema_only else pq.read_table(path, columns=columns)
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"{path}: cannot read as parquet ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None


def _column_2d(table: pa.Table, name: str, path: Path) -> np.ndarray:
    """A list / fixed-size-list / scalar column as float (N, D); nulls become NaN."""
    col = table.column(name).combine_chunks()
    t = col.type
    if pa.types.is_fixed_size_list(t) or pa.types.is_list(t) or pa.types.is_large_list(t):
        if col.null_count:
            raise DataError(f"{path}: column '{name}' has empty (null) rows")
        lens = np.asarray(col.value_lengths() if not pa.types.is_fixed_size_list(t) else
                          pa.array(np.full(len(col), t.list_size)))
        if len(col) and (lens != lens[0]).any():
            raise DataError(f"{path}: column '{name}' rows have different lengths ({lens.min()}..{lens.max()})")
        vals = col.flatten()
        arr = vals.to_numpy(zero_copy_only=False).astype(np.float64)
        return arr.reshape(len(col), -1)
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t):
        return col.to_numpy(zero_copy_only=False).astype(np.float64).reshape(-1, 1)
    raise DataError(f"{path}: column '{name}' has type {t}, expected numbers or a list of numbers")


def _task_strings(root: Path) -> dict[int, str]:
    path = root / TASKS
    table = _read_parquet(path)
    names = table.column_names
    meta = table.schema.pandas_metadata or {}
    str_col = next((c for c in ("task", *meta.get("index_columns", []), "__index_level_0__")
                    if isinstance(c, str) and c in names), None)
    if "task_index" not in names or str_col is None:
        raise DataError(f"{path}: expected columns task_index and task, found {', '.join(names)}")
    idx = table.column("task_index").to_pylist()
    txt = table.column(str_col).to_pylist()
    return {int(i): str(s) for i, s in zip(idx, txt)}


def _camera_name(key: str) -> str:
    return key[len(IMAGES):] if key.startswith(IMAGES) else key.split(".")[-1]


def _image_hw(key: str, ft: dict, path: Path) -> tuple[int, int]:
    shape = list(ft.get("shape") or [])
    names = list(ft.get("names") or [])
    if len(shape) != 3:
        raise DataError(f"{path}: feature {key} has shape {shape}, expected (height, width, channels)")
    if names and names[0] in ("channel", "channels"):  # (C, H, W)
        return int(shape[1]), int(shape[2])
    return int(shape[0]), int(shape[1])


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
        schema = _read_parquet(p, schema_only=True)
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
    schema = _read_parquet(path, schema_only=True)
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
