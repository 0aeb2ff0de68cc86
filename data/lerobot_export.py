"""`robolearn export-data lerobot`: a store -> a LeRobot v3.0 dataset folder (layout: `lerobot_io`)."""
from __future__ import annotations

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
from tqdm.auto import tqdm

from robolearn import __version__
from robolearn.errors import RobolearnError

from .lerobot_io import (ACTION, CHUNKS_SIZE, CODEBASE_VERSION, DATA_PATH, DONE, ENV_STATE, EPISODES_PATH, EXTRAS,
                         FEATURES, IMAGES, INFO, MiB, REWARD, STATE, STATS, TASKS, VIDEO_PATH, _ImageStats, _json_num,
                         _next_file, _publish_dir, _stats)
from .store import IMAGE_SUFFIX, open_store
from .video import VideoWriter


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
        # Rewards an importer made up (zeros) do not go out as if recorded; dones (the last frame) are true.
        synthesized = json.loads(_attr_str(attrs["synthesized"])) if "synthesized" in attrs else []
        # A recording's per-joint names (kept by the importer) go back out with it.
        recorded = json.loads(_attr_str(attrs["lerobot_features"])) if "lerobot_features" in attrs else {}
        has_rewards, has_dones = "rewards" in first and "rewards" not in synthesized, "dones" in first
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
                ep_values = {**cols, "index": np.arange(index, index + n), "episode_index": np.full(n, e),
                             "frame_index": np.arange(n), "timestamp": ts,
                             "task_index": np.full(n, task_index[ep_tasks[e]])}
                if has_rewards:
                    r = store.rewards(d).astype(np.float32)
                    row[REWARD] = pa.array(r, pa.float32())
                    numeric.setdefault(REWARD, []).append(r[:, None])
                    ep_values[REWARD] = r
                if has_dones:
                    dn = np.asarray(store.h5["data"][d]["dones"][()], bool)
                    row[DONE] = pa.array(dn, pa.bool_())
                    ep_values[DONE] = dn
                    numeric.setdefault(DONE, []).append(dn[:, None].astype(np.float32))
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
                    one = _ImageStats()
                    one.add(frames)
                    ep_values[key] = one.result(n)
                    ep.update({f"videos/{key}/chunk_index": video_pos[c][0], f"videos/{key}/file_index": video_pos[c][1],
                               f"videos/{key}/from_timestamp": start, f"videos/{key}/to_timestamp": w.duration})
                ep.update(_episode_stats(ep_values))
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
            pq.write_table(pa.table({k: pa.array(v, _episode_column_type(k)) for k, v in ep_cols.items()}), ep_path)
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
                if k in (REWARD, DONE):
                    features[k] = {"dtype": "float32", "shape": [1], "names": None}
                    continue
                dim = v[0].shape[1]
                short = {STATE: "proprio", ENV_STATE: "state", ACTION: "action"}.get(k, k.split(".")[-1])
                kept = recorded.get("actions" if k == ACTION else short, {}).get("names") or []
                nm = (list(store.feature_names) if k == FEATURES else kept if len(kept) == dim else names(short, dim))
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
                "robot_type": _attr_str(attrs["robot_type"]) if "robot_type" in attrs else store.env_id,
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


def _episode_stats(values: dict) -> dict:
    """meta/episodes' per-episode statistics, as LeRobot's writer adds them (flattened
    `stats/<feature>/<stat>`; min, max, mean, std, count, q01..q99): vectors per dimension, scalar
    columns as one value, images per channel in [0, 1] shaped (3, 1, 1). LeRobot's split_dataset and
    delete_episodes rebuild stats.json from these; without them it writes {} and its normalizer
    silently skips every feature."""
    out = {}
    for key, v in values.items():
        st = v if isinstance(v, dict) else _stats(np.asarray(v, np.float64).reshape(len(v), -1))
        out.update({f"stats/{key}/{name}": x for name, x in st.items()})
    return out


def _episode_column_type(key: str) -> pa.DataType:
    if key == "tasks":
        return pa.list_(pa.string())
    if key.startswith("stats/"):
        if key.endswith("/count"):
            return pa.list_(pa.int64())
        image = key.split("/")[1].startswith(IMAGES)
        return pa.list_(pa.list_(pa.list_(pa.float64()))) if image else pa.list_(pa.float64())
    return pa.float64() if key.endswith("_timestamp") else pa.int64()


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


