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
from .store_checks import _attr_str
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
    _check_options(cfg, out)
    with open_store(cfg.path) as store:
        attrs = store.h5["data"].attrs
        fps = cfg.fps or (float(attrs["fps"]) if "fps" in attrs else None) or _env_fps(store.env_id) or 10.0
        if not fps > 0:
            raise RobolearnError(f"--fps must be positive, got {fps}")
        demos = store.demo_names(None)
        ep_tasks = [cfg.task or _attr_str(store.h5["data"][d].attrs.get("task")) or store.env_id
                    or "robolearn demonstration" for d in demos]
        tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        bar = tqdm(total=store.total_steps(None), desc="export lerobot", unit="frame", dynamic_ncols=True)
        writer = None
        try:
            tmp.mkdir()
            t0 = time.perf_counter()
            writer = _EpisodeWriter(tmp, cfg, store, fps, ep_tasks)
            for e, d in enumerate(demos):
                writer.add(e, d)
                bar.update(store.length(d))
            writer.close()
            _write_meta(tmp, cfg, store, fps, writer)
            _publish_dir(tmp, out, cfg.overwrite)
            elapsed = time.perf_counter() - t0
        except BaseException:
            if writer is not None:
                writer.abort()
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        finally:
            bar.close()
    video = f", {cfg.codec} {cfg.pix_fmt} crf {cfg.crf}" if writer.cams else ", no cameras"
    print(f"exported {len(demos)} episodes, {writer.index} frames ({writer.index / max(elapsed, 1e-9):.0f} frames/s"
          f"{video}) -> {out}", file=sys.stderr)
    return out


def _check_options(cfg, out: Path) -> None:
    """The export's own settings, checked before the store is opened."""
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


class _EpisodeWriter:
    """data/ parquet files and one video stream per camera, each rolled over to the next file at its size
    limit, episode by episode; keeps what meta/ is built from (the numeric columns, image statistics and
    the meta/episodes rows)."""

    def __init__(self, tmp: Path, cfg, store, fps: float, ep_tasks: list[str]):
        self.tmp, self.cfg, self.store, self.fps, self.ep_tasks = tmp, cfg, store, fps, ep_tasks
        self.task_list = list(dict.fromkeys(ep_tasks))
        self.task_index = {t: i for i, t in enumerate(self.task_list)}
        self.cams = list(store.cameras)
        attrs = store.h5["data"].attrs
        first = store.h5["data"][store.demo_names(None)[0]]
        # Rewards an importer made up (zeros) do not go out as if recorded; dones (the last frame) are true.
        synthesized = json.loads(_attr_str(attrs["synthesized"])) if "synthesized" in attrs else []
        self.has_rewards = "rewards" in first and "rewards" not in synthesized
        self.has_dones = "dones" in first
        self.video_pos = {c: (0, 0) for c in self.cams}
        self.videos: dict[str, VideoWriter] = {}
        self.data_pos = (0, 0)
        self.pending: list[pa.Table] = []
        self.pending_bytes = 0
        self.episodes: list[dict] = []
        self.numeric: dict[str, list[np.ndarray]] = {}
        self.img_stats = {c: _ImageStats() for c in self.cams}
        self.index = 0

    def _columns(self, d: str, n: int) -> dict[str, np.ndarray]:
        """The per-frame vector columns of one demo, under LeRobot's keys."""
        store = self.store
        cols = {ACTION: store.actions(d)}
        if "proprio" in store.lowdim_keys:
            cols[STATE] = store.obs(d, "proprio").reshape(n, -1)
        if "state" in store.lowdim_keys:
            cols[ENV_STATE] = store.obs(d, "state").reshape(n, -1)
        for k in store.lowdim_keys:
            if k not in ("proprio", "state"):
                cols[f"observation.{k}"] = store.obs(d, k).reshape(n, -1)
        if store.feature_dim:
            cols[FEATURES] = store.task_features(d)
        return cols

    def add(self, e: int, d: str) -> None:
        n, index, task = self.store.length(d), self.index, self.task_index[self.ep_tasks[e]]
        cols = self._columns(d, n)
        for k, v in cols.items():
            self.numeric.setdefault(k, []).append(np.asarray(v, np.float32))
        ts = (np.arange(n) / self.fps).astype(np.float32)
        row = {"index": pa.array(np.arange(index, index + n), pa.int64()),
               "episode_index": pa.array(np.full(n, e), pa.int64()),
               "frame_index": pa.array(np.arange(n), pa.int64()),
               "timestamp": pa.array(ts, pa.float32()),
               "task_index": pa.array(np.full(n, task), pa.int64())}
        for k, v in cols.items():
            row[k] = _vector(v, np.float32)
        ep_values = {**cols, "index": np.arange(index, index + n), "episode_index": np.full(n, e),
                     "frame_index": np.arange(n), "timestamp": ts, "task_index": np.full(n, task)}
        if self.has_rewards:
            r = self.store.rewards(d).astype(np.float32)
            row[REWARD] = pa.array(r, pa.float32())
            self.numeric.setdefault(REWARD, []).append(r[:, None])
            ep_values[REWARD] = r
        if self.has_dones:
            dn = np.asarray(self.store.h5["data"][d]["dones"][()], bool)
            row[DONE] = pa.array(dn, pa.bool_())
            ep_values[DONE] = dn
            self.numeric.setdefault(DONE, []).append(dn[:, None].astype(np.float32))
        self._add_table(pa.table(row))
        ep = {"episode_index": e, "tasks": [self.ep_tasks[e]], "length": n,
              "data/chunk_index": self.data_pos[0], "data/file_index": self.data_pos[1],
              "dataset_from_index": index, "dataset_to_index": index + n}
        for c in self.cams:
            ep.update(self._add_video(c, self.store.obs(d, f"{c}{IMAGE_SUFFIX}"), ep_values))
        ep.update(_episode_stats(ep_values))
        ep["meta/episodes/chunk_index"] = 0
        ep["meta/episodes/file_index"] = 0
        self.episodes.append(ep)
        self.index += n

    def _add_table(self, table: pa.Table) -> None:
        if self.pending and self.pending_bytes + table.nbytes > self.cfg.data_file_mb * MiB:
            self._flush_data()
            self.data_pos = _next_file(*self.data_pos)
        self.pending.append(table)
        self.pending_bytes += table.nbytes

    def _flush_data(self) -> None:
        if not self.pending:
            return
        p = self.tmp / DATA_PATH.format(chunk_index=self.data_pos[0], file_index=self.data_pos[1])
        p.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.concat_tables(self.pending), p, compression="snappy")
        self.pending, self.pending_bytes = [], 0

    def _add_video(self, c: str, frames: np.ndarray, ep_values: dict) -> dict:
        """Append one episode's frames of camera c; its meta/episodes video columns."""
        key, cfg = IMAGES + c, self.cfg
        w = self.videos.get(c)
        if w is not None and w.size_bytes() >= cfg.video_file_mb * MiB:
            w.close()
            self.video_pos[c] = _next_file(*self.video_pos[c])
            w = None
        if w is None:
            p = self.tmp / VIDEO_PATH.format(video_key=key, chunk_index=self.video_pos[c][0],
                                             file_index=self.video_pos[c][1])
            p.parent.mkdir(parents=True, exist_ok=True)
            w = self.videos[c] = VideoWriter(p, self.fps, frames.shape[2], frames.shape[1], codec=cfg.codec,
                                             pix_fmt=cfg.pix_fmt, crf=cfg.crf, gop=cfg.gop)
        start = w.duration
        w.write(frames)
        self.img_stats[c].add(frames)
        one = _ImageStats()
        one.add(frames)
        ep_values[key] = one.result(len(frames))
        return {f"videos/{key}/chunk_index": self.video_pos[c][0], f"videos/{key}/file_index": self.video_pos[c][1],
                f"videos/{key}/from_timestamp": start, f"videos/{key}/to_timestamp": w.duration}

    def close(self) -> None:
        self._flush_data()
        for w in self.videos.values():
            w.close()
        self.videos.clear()

    def abort(self) -> None:
        """Close what is open after a failure (the caller removes the folder)."""
        for w in self.videos.values():
            try:
                w.close()
            except Exception:
                pass
        self.videos.clear()


def _write_meta(tmp: Path, cfg, store, fps: float, writer: _EpisodeWriter) -> None:
    """meta/: episodes, tasks, stats, info, and robolearn's extras."""
    episodes = writer.episodes
    ep_path = tmp / EPISODES_PATH.format(chunk_index=0, file_index=0)
    ep_path.parent.mkdir(parents=True, exist_ok=True)
    ep_cols = {k: [ep[k] for ep in episodes] for k in episodes[0]}
    pq.write_table(pa.table({k: pa.array(v, _episode_column_type(k)) for k, v in ep_cols.items()}), ep_path)
    pq.write_table(_tasks_table(writer.task_list), tmp / TASKS)
    (tmp / STATS).write_text(json.dumps(_dataset_stats(writer), indent=2))
    attrs = store.h5["data"].attrs
    info = {
        "codebase_version": CODEBASE_VERSION,
        "robot_type": _attr_str(attrs["robot_type"]) if "robot_type" in attrs else store.env_id,
        "total_episodes": len(episodes),
        "total_frames": int(writer.index),
        "total_tasks": len(writer.task_list),
        "chunks_size": CHUNKS_SIZE,
        "data_files_size_in_mb": cfg.data_file_mb,
        "video_files_size_in_mb": cfg.video_file_mb,
        "fps": _json_num(fps),
        "splits": {"train": f"0:{len(episodes)}"},
        "data_path": DATA_PATH,
        "video_path": VIDEO_PATH if writer.cams else None,
        "features": _features(cfg, store, fps, writer),
    }
    (tmp / INFO).write_text(json.dumps(info, indent=4))
    demos = store.demo_names(None)
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


def _features(cfg, store, fps: float, writer: _EpisodeWriter) -> dict[str, dict]:
    """info.json's features: videos, then the numeric columns (a recording's per-joint names kept by the
    importer go back out with it), then LeRobot's bookkeeping columns."""
    attrs = store.h5["data"].attrs
    recorded = json.loads(_attr_str(attrs["lerobot_features"])) if "lerobot_features" in attrs else {}
    features: dict[str, dict] = {}
    for c in writer.cams:
        h, w_ = store.image_shape
        features[IMAGES + c] = {
            "dtype": "video", "shape": [h, w_, 3], "names": ["height", "width", "channels"],
            "info": {"video.height": h, "video.width": w_, "video.codec": _codec_name(cfg.codec),
                     "video.pix_fmt": cfg.pix_fmt, "video.is_depth_map": False, "video.fps": _json_num(fps),
                     "video.channels": 3, "video.g": cfg.gop, "video.crf": cfg.crf, "has_audio": False},
        }
    for k, v in writer.numeric.items():
        if k in (REWARD, DONE):
            features[k] = {"dtype": "float32", "shape": [1], "names": None}
            continue
        dim = v[0].shape[1]
        short = {STATE: "proprio", ENV_STATE: "state", ACTION: "action"}.get(k, k.split(".")[-1])
        kept = recorded.get("actions" if k == ACTION else short, {}).get("names") or []
        names = (list(store.feature_names) if k == FEATURES else kept if len(kept) == dim
                 else [f"{short}_{i}" for i in range(dim)])
        features[k] = {"dtype": "float32", "shape": [dim], "names": names}
    if writer.has_dones:
        features[DONE] = {"dtype": "bool", "shape": [1], "names": None}
    for k, dtype in (("timestamp", "float32"), ("frame_index", "int64"), ("episode_index", "int64"),
                     ("index", "int64"), ("task_index", "int64")):
        features[k] = {"dtype": dtype, "shape": [1], "names": None}
    return features


def _dataset_stats(writer: _EpisodeWriter) -> dict:
    """meta/stats.json: every numeric column, every camera and LeRobot's bookkeeping columns."""
    stats = {k: _stats(np.concatenate(v)) for k, v in writer.numeric.items()}
    for c in writer.cams:
        stats[IMAGES + c] = writer.img_stats[c].result(writer.index)
    ep_len = np.array([ep["length"] for ep in writer.episodes])
    tasks = [writer.task_index[t] for t in writer.ep_tasks]
    stats["index"] = _stats(np.arange(writer.index, dtype=np.float64)[:, None])
    stats["episode_index"] = _stats(np.repeat(np.arange(len(ep_len)), ep_len)[:, None])
    stats["frame_index"] = _stats(np.concatenate([np.arange(k) for k in ep_len])[:, None])
    stats["timestamp"] = _stats(np.concatenate([np.arange(k) / writer.fps for k in ep_len])[:, None])
    stats["task_index"] = _stats(np.repeat(np.array(tasks), ep_len)[:, None])
    return stats


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
