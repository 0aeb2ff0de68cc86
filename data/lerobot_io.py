"""LeRobot v3.0 datasets <-> robolearn stores, with pyarrow and PyAV (the `lerobot` package is not needed).

This module holds the format (names, paths) and the helpers both directions use; the stages are
`lerobot_import` (a dataset folder -> a store) and `lerobot_export` (a store -> a dataset folder).

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
readers ignore both. meta/episodes also holds per-episode `stats/<feature>/<stat>` columns (LeRobot's
writer adds them; the importer does not need them, the exporter writes them).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from robolearn.errors import DataError

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



def _json_num(x: float):
    return int(x) if float(x).is_integer() else float(x)


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

