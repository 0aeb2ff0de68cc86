"""LeRobot v3.0 folders shaped like recordings from real arms, written at test time with pyarrow and
PyAV (no network): 6-d `observation.state` and `action` with joint names, 30 fps, no reward or done
columns, cameras as 480x640 mp4 files holding every episode back to back (h264, or AV1 as LeRobot
records by default), and optionally the quirks of public recordings: to_timestamp = (n-1)/fps,
non-standard feature names, a missing video."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from robolearn.data.video import VideoWriter

JOINTS = ["shoulder_pan.pos", "shoulder_lift.pos", "elbow_flex.pos", "wrist_flex.pos", "wrist_roll.pos", "gripper.pos"]
FPS = 30
LAG = 3
H, W = 480, 640


def frames_for(state: np.ndarray, cam: int) -> np.ndarray:
    """Smooth frames (cheap to encode) that show the arm's first joint: a bright square whose column
    follows it, on a camera-specific background."""
    n = len(state)
    img = np.zeros((n, H, W, 3), np.uint8)
    img[..., cam % 3] = 60 + 40 * cam
    for i, s in enumerate(state):
        x = int(np.clip((s[0] + 90) / 180, 0, 1) * (W - 120))
        img[i, 180:300, x : x + 120] = 230
    return img


def write_recording(root: Path, lengths=(8, 8, 8, 8), cameras: Optional[dict[str, str]] = None,
                    short_to: bool = False, overlap: bool = False, names: Optional[dict[str, str]] = None,
                    seed: int = 0) -> dict:
    """A v3.0 folder at root. cameras: {name: encoder} (libx264 or libsvtav1), all 480x640.
    short_to: each episode's to_timestamp is (n-1)/fps after its from_timestamp (its mp4 still holds
    all n frames). overlap: also start each episode's segment at the previous to_timestamp, so its
    frames really are not there. names: renames LeRobot's keys in the files ({"action": "actions"}).
    Returns the truth: per-episode actions, states and full-size frames."""
    cameras = cameras or {}
    names = names or {}
    nm = lambda k: names.get(k, k)  # noqa: E731
    rng = np.random.default_rng(seed)
    (root / "meta/episodes/chunk-000").mkdir(parents=True)
    (root / "data/chunk-000").mkdir(parents=True)
    truth: dict = {"action": [], "state": [], "frames": {c: [] for c in cameras}}
    rows, eps, start = [], [], 0
    for e, n in enumerate(lengths):
        # Joints (degrees) swing smoothly within their range; the commanded action leads the measured
        # joints by a few frames, as a follower arm lags its leader.
        t = np.arange(n + LAG)[:, None]
        off, amp = rng.uniform(-30, 30, size=(1, 6)), rng.uniform(10, 40, size=(1, 6))
        w, phase = 2 * np.pi / rng.uniform(40, 120, size=(1, 6)), rng.uniform(0, 2 * np.pi, size=(1, 6))
        path = off + amp * np.sin(w * t + phase)
        state = path[:n].astype(np.float32)
        action = (path[LAG:] + 0.5 * rng.normal(size=state.shape)).astype(np.float32)
        truth["state"].append(state)
        truth["action"].append(action)
        for i in range(n):
            rows.append({nm("action"): action[i].tolist(), nm("observation.state"): state[i].tolist(),
                         "timestamp": np.float32(i / FPS), "frame_index": i, "episode_index": e, "index": start + i,
                         "task_index": 0})
        eps.append({"episode_index": e, "tasks": ["pick up the cube"], "length": n, "data/chunk_index": 0,
                    "data/file_index": 0, "dataset_from_index": start, "dataset_to_index": start + n})
        start += n
    for ci, (cam, codec) in enumerate(cameras.items()):
        key = nm(f"observation.images.{cam}")
        path = root / f"videos/{key}/chunk-000/file-000.mp4"
        path.parent.mkdir(parents=True)
        w = VideoWriter(path, FPS, W, H, codec=codec, gop=2)
        t0 = 0.0
        for e, n in enumerate(lengths):
            frames = frames_for(truth["state"][e], ci)
            truth["frames"][cam].append(frames)
            w.write(frames)
            to = t0 + ((n - 1) if short_to else n) / FPS
            eps[e].update({f"videos/{key}/chunk_index": 0, f"videos/{key}/file_index": 0,
                           f"videos/{key}/from_timestamp": t0, f"videos/{key}/to_timestamp": to})
            t0 = to if overlap else t0 + n / FPS
        w.close()
    vec = lambda d: {"dtype": "float32", "shape": [6], "names": JOINTS}  # noqa: E731
    feats = {nm("action"): vec(6), nm("observation.state"): vec(6)}
    for cam, codec in cameras.items():
        feats[nm(f"observation.images.{cam}")] = {
            "dtype": "video", "shape": [H, W, 3], "names": ["height", "width", "channels"],
            "info": {"video.height": H, "video.width": W, "video.codec": "av1" if "av1" in codec else "h264",
                     "video.pix_fmt": "yuv420p", "video.fps": FPS, "video.channels": 3, "has_audio": False}}
    for k in ("timestamp", "frame_index", "episode_index", "index", "task_index"):
        feats[k] = {"dtype": "float32" if k == "timestamp" else "int64", "shape": [1], "names": None}
    info = {"codebase_version": "v3.0", "robot_type": "so101_follower", "total_episodes": len(lengths),
            "total_frames": start, "total_tasks": 1, "chunks_size": 1000, "fps": FPS, "splits": {"train": f"0:{len(lengths)}"},
            "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
            "video_path": "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4" if cameras else None,
            "features": feats}
    (root / "meta/info.json").write_text(json.dumps(info, indent=2))
    pq.write_table(pa.table({"task_index": [0], "task": ["pick up the cube"]}), root / "meta/tasks.parquet")
    pq.write_table(pa.Table.from_pylist(eps), root / "meta/episodes/chunk-000/file-000.parquet")
    table = pa.Table.from_pylist(rows)
    fixed = {nm("action"): pa.list_(pa.float32(), 6), nm("observation.state"): pa.list_(pa.float32(), 6),
             "timestamp": pa.float32()}
    table = table.cast(pa.schema([pa.field(f.name, fixed.get(f.name, f.type)) for f in table.schema]))
    pq.write_table(table, root / "data/chunk-000/file-000.parquet")
    return truth
