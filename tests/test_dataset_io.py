"""Bring your own demonstrations: robomimic and LeRobot v3.0 import, LeRobot v3.0 export.

Real data throughout: a PointMass store collected by the real expert and rendered by MuJoCo, real mp4
files encoded and decoded by FFmpeg (PyAV), real parquet (pyarrow), robomimic-style HDF5 made with h5py.
"""
from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from robolearn.cli import main
from robolearn.config import (CollectConfig, ExportLerobotConfig, ImportLerobotConfig, OptimConfig, PretrainConfig,
                              TrainConfig)
from robolearn.data.lerobot_export import export_lerobot
from robolearn.data.lerobot_import import import_lerobot
from robolearn.data.store import open_store
from robolearn.data.video import VideoReader, VideoWriter

ROOT = Path(__file__).resolve().parents[1]
MIN_PSNR_DB = 28.0  # h264 crf 18 yuv420p at 32 px measured 31.5 dB; chroma subsampling dominates


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def run_cli(args, capsys) -> tuple[int, str]:
    capsys.readouterr()  # only this command's output
    rc = main([str(a) for a in args])
    return rc, capsys.readouterr().err.strip()


@pytest.fixture(scope="module")
def pm_store(tmp_path_factory):
    from robolearn.data.collect import collect

    out = tmp_path_factory.mktemp("pm_io") / "pm.hdf5"
    return collect(CollectConfig(env="robolearn/PointMass-v0", episodes=6, out=out, seed=0, image_size=32,
                                 valid_fraction=0.34))


@pytest.fixture(scope="module")
def pm_lerobot(pm_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("pm_lr") / "pm_lerobot"
    return export_lerobot(ExportLerobotConfig(path=pm_store, out=out))


# ============================================================================ export: the v3.0 layout
@pytest.mark.slow
def test_export_writes_lerobot_v3_layout(pm_store, pm_lerobot):
    root = pm_lerobot
    info = json.loads((root / "meta/info.json").read_text())
    with open_store(pm_store) as s:
        demos = s.demo_names()
        lengths = [s.length(d) for d in demos]
        total = s.total_steps()
    assert info["codebase_version"] == "v3.0" and info["fps"] == 10  # PointMass's control rate
    assert info["total_episodes"] == 6 and info["total_frames"] == total and info["total_tasks"] == 1
    assert info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    assert info["video_path"] == "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
    assert info["splits"] == {"train": "0:6"} and info["chunks_size"] == 1000
    ft = info["features"]
    assert ft["observation.images.top"]["dtype"] == "video" and ft["observation.images.top"]["shape"] == [32, 32, 3]
    assert ft["observation.images.top"]["info"]["video.codec"] == "h264"
    assert ft["action"] == {"dtype": "float32", "shape": [2], "names": ["action_0", "action_1"]}
    assert ft["observation.state"]["shape"] == [4]
    for k in ("timestamp", "frame_index", "episode_index", "index", "task_index"):
        assert ft[k]["shape"] == [1]

    eps = pq.read_table(root / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    assert [e["episode_index"] for e in eps] == list(range(6)) and [e["length"] for e in eps] == lengths
    key = "videos/observation.images.top"
    frm = 0
    for e in eps:
        assert (e["dataset_from_index"], e["dataset_to_index"]) == (frm, frm + e["length"])
        # Episodes lie back to back in one mp4: each starts where the previous ended.
        assert e[f"{key}/from_timestamp"] == pytest.approx(frm / 10) and e[f"{key}/to_timestamp"] == pytest.approx((frm + e["length"]) / 10)
        assert e["tasks"] == ["robolearn/PointMass-v0"] and e["data/file_index"] == 0
        frm += e["length"]

    tasks = pq.read_table(root / "meta/tasks.parquet")
    assert tasks.schema.pandas_metadata["index_columns"] == ["task"]  # LeRobot looks tasks up by this index
    assert tasks.column("task").to_pylist() == ["robolearn/PointMass-v0"]

    data = pq.read_table(root / "data/chunk-000/file-000.parquet")
    assert data.schema.field("action").type == pa.list_(pa.float32(), 2)
    assert data.column("index").to_pylist() == list(range(total))
    assert data.column("timestamp").type == pa.float32()

    stats = json.loads((root / "meta/stats.json").read_text())
    assert np.asarray(stats["observation.images.top"]["mean"]).shape == (3, 1, 1)
    assert set(stats["action"]) >= {"min", "max", "mean", "std", "count", "q01", "q99"}

    with VideoReader(root / "videos/observation.images.top/chunk-000/file-000.mp4") as r:
        assert r.codec == "h264" and r.count_frames() == total


# ============================================================================ round trips
def _compare(src, dst, pairs):
    """Actions, proprio, features exactly; images within codec tolerance and at the right time."""
    worst = np.inf
    with open_store(src) as a, open_store(dst) as b:
        for da, db in pairs:
            assert np.array_equal(a.actions(da), b.actions(db))
            assert np.array_equal(a.obs(da, "proprio"), b.obs(db, "proprio"))
            assert np.array_equal(a.task_features(da), b.task_features(db))
            assert np.array_equal(a.rewards(da), b.rewards(db))
            x, y = a.obs(da, "top_image"), b.obs(db, "top_image")
            assert x.shape == y.shape
            worst = min(worst, psnr(x, y))
            # Each decoded frame is closest to its own source frame, not a neighbour (no off-by-one).
            err = ((y[:, None].astype(float) - x[None].astype(float)) ** 2).mean(axis=(2, 3, 4))
            assert (err.argmin(1) == np.arange(len(x))).all()
    return worst


def test_import_of_export_keeps_actions_and_proprio_exactly(pm_store, pm_lerobot, tmp_path, capsys):
    out = tmp_path / "rt.hdf5"
    rc, err = run_cli(["import", "lerobot", pm_lerobot, "--out", out], capsys)
    assert rc == 0, err
    with open_store(pm_store) as a:
        demos = a.demo_names()
        splits = {k: a.demo_names(k) for k in ("train", "valid")}
    assert _compare(pm_store, out, list(zip(demos, demos))) > MIN_PSNR_DB
    with open_store(out) as b:
        assert {k: b.demo_names(k) for k in ("train", "valid")} == splits  # masks travel in meta/robolearn.json
        assert b.env_id == "robolearn/PointMass-v0" and b.cameras == ["top"]
        attrs = b.h5["data"].attrs
        assert float(attrs["fps"]) == 10 and json.loads(attrs["tasks"]) == ["robolearn/PointMass-v0"]
        assert b.h5["data/demo_0"].attrs["task"] == "robolearn/PointMass-v0"


@pytest.mark.slow
def test_several_files_and_out_of_order_episodes_seek_correctly(pm_store, tmp_path):
    # Tiny size limits: every episode starts a new data file and a new mp4.
    root = export_lerobot(ExportLerobotConfig(path=pm_store, out=tmp_path / "multi", data_file_mb=1e-4,
                                              video_file_mb=1e-4, pix_fmt="yuv444p", gop=4))
    assert len(list((root / "videos/observation.images.top").rglob("*.mp4"))) == 6
    assert len(list((root / "data").rglob("*.parquet"))) == 6
    out = import_lerobot(ImportLerobotConfig(path=root, out=tmp_path / "sub.hdf5", episodes=[4, 0, 3]))
    with open_store(pm_store) as a:
        d = a.demo_names()
    assert _compare(pm_store, out, [(d[4], "demo_0"), (d[0], "demo_1"), (d[3], "demo_2")]) > 33.0  # 4:4:4


def test_concatenated_video_read_backwards_seeks(tmp_path):
    # One file, many keyframe intervals: asking for an earlier time must seek back, not fail.
    frames = np.zeros((60, 16, 16, 3), np.uint8)
    frames[:, :, :, 0] = np.arange(60)[:, None, None] * 4
    w = VideoWriter(tmp_path / "v.mp4", 20, 16, 16, gop=5, pix_fmt="yuv444p")
    w.write(frames)
    w.close()
    with VideoReader(tmp_path / "v.mp4") as r:
        got = r.frames_at(np.array([2.5, 0.1, 1.0, 2.95, 0.0]), tol=0.45 / 20)
    want = frames[[50, 2, 20, 59, 0], 0, 0, 0].astype(int)
    assert np.abs(got[:, 8, 8, 0].astype(int) - want).max() <= 3


# ============================================================================ state only and image columns
def write_lerobot_by_hand(root: Path, lengths=(5, 7, 4), images: bool = False, pandas_tasks: bool = False) -> Path:
    """A LeRobot v3.0 folder written directly with pyarrow (not by our exporter): variable-length list
    columns, a tasks table without pandas metadata, optional PNG `image` columns, no videos."""
    from PIL import Image

    rng = np.random.default_rng(0)
    (root / "meta/episodes/chunk-000").mkdir(parents=True)
    (root / "data/chunk-000").mkdir(parents=True)
    n = sum(lengths)
    feats = {"action": {"dtype": "float32", "shape": [3], "names": None},
             "observation.state": {"dtype": "float32", "shape": [2], "names": None},
             "observation.environment_state": {"dtype": "float32", "shape": [4], "names": None},
             "next.reward": {"dtype": "float32", "shape": [1], "names": None},
             "language_instruction": {"dtype": "string", "shape": [1], "names": None}}
    for k in ("timestamp", "frame_index", "episode_index", "index", "task_index"):
        feats[k] = {"dtype": "float32" if k == "timestamp" else "int64", "shape": [1], "names": None}
    if images:
        feats["observation.images.cam"] = {"dtype": "image", "shape": [12, 10, 3], "names": ["height", "width", "channel"]}
    info = {"codebase_version": "v3.0", "fps": 15, "features": feats, "total_episodes": len(lengths),
            "total_frames": n, "total_tasks": 2, "chunks_size": 1000, "splits": {"train": f"0:{len(lengths)}"},
            "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet", "video_path": None}
    (root / "meta/info.json").write_text(json.dumps(info))
    tasks = pa.table({"task_index": [0, 1], "task": ["push the block", "lift the cube"]})
    pq.write_table(tasks if pandas_tasks else tasks.select(["task", "task_index"]), root / "meta/tasks.parquet")
    ep_rows, rows, start = [], [], 0
    truth = {"action": [], "state": [], "env": [], "img": []}
    for e, m in enumerate(lengths):
        ep_rows.append({"episode_index": e, "tasks": [["push the block", "lift the cube"][e % 2]], "length": m,
                        "data/chunk_index": 0, "data/file_index": 0, "dataset_from_index": start,
                        "dataset_to_index": start + m})
        act, st, env = rng.normal(size=(m, 3)), rng.normal(size=(m, 2)), rng.normal(size=(m, 4))
        img = rng.integers(0, 256, size=(m, 12, 10, 3), dtype=np.uint8)
        for k, v in zip(("action", "state", "env", "img"), (act, st, env, img)):
            truth[k].append(v)
        for i in range(m):
            row = {"action": act[i].astype(np.float32).tolist(), "observation.state": st[i].astype(np.float32).tolist(),
                   "observation.environment_state": env[i].astype(np.float32).tolist(), "next.reward": float(i == m - 1),
                   "language_instruction": "x", "timestamp": i / 15, "frame_index": i, "episode_index": e,
                   "index": start + i, "task_index": e % 2}
            if images:
                buf = io.BytesIO()
                Image.fromarray(img[i]).save(buf, format="PNG")
                row["observation.images.cam"] = {"bytes": buf.getvalue(), "path": None}
            rows.append(row)
        start += m
    pq.write_table(pa.Table.from_pylist(ep_rows), root / "meta/episodes/chunk-000/file-000.parquet")
    schema = {"action": pa.list_(pa.float32()), "observation.state": pa.list_(pa.float32()),
              "observation.environment_state": pa.list_(pa.float32()), "timestamp": pa.float32()}
    table = pa.Table.from_pylist(rows)
    table = table.cast(pa.schema([pa.field(f.name, schema.get(f.name, f.type)) for f in table.schema]))
    rows_order = np.random.default_rng(1).permutation(len(rows))  # row order must not matter
    pq.write_table(table.take(pa.array(rows_order)), root / "data/chunk-000/file-000.parquet")
    return truth


@pytest.mark.slow
def test_state_only_dataset_imports_as_low_dimensional_store(tmp_path, capsys):
    truth = write_lerobot_by_hand(tmp_path / "lowdim")
    out = tmp_path / "lowdim.hdf5"
    rc, err = run_cli(["import", "lerobot", tmp_path / "lowdim", "--out", out], capsys)
    assert rc == 0, err
    with open_store(out) as s:
        assert s.cameras == [] and s.image_size == 0
        assert sorted(s.obs_keys) == ["proprio", "state"]
        for i, d in enumerate(s.demo_names()):
            assert np.array_equal(s.actions(d), truth["action"][i].astype(np.float32))
            assert np.array_equal(s.obs(d, "proprio"), truth["state"][i].astype(np.float32))
            assert np.array_equal(s.obs(d, "state"), truth["env"][i].astype(np.float32))
            assert s.h5["data"][d].attrs["task"] == ["push the block", "lift the cube"][i % 2]
        assert float(s.h5["data"].attrs["fps"]) == 15
        assert s.rewards("demo_1")[-1] == 1.0 and s.rewards("demo_1")[:-1].sum() == 0
    # Exported again it has no videos (video_path null) and comes back the same, task strings included.
    back = import_lerobot(ImportLerobotConfig(
        path=export_lerobot(ExportLerobotConfig(path=out, out=tmp_path / "lowdim_again")), out=tmp_path / "again.hdf5"))
    assert json.loads((tmp_path / "lowdim_again/meta/info.json").read_text())["video_path"] is None
    with open_store(out) as a, open_store(back) as b:
        assert a.demo_names() == b.demo_names() and b.cameras == []
        for d in a.demo_names():
            assert np.array_equal(a.actions(d), b.actions(d)) and np.array_equal(a.obs(d, "state"), b.obs(d, "state"))
            assert a.h5["data"][d].attrs["task"] == b.h5["data"][d].attrs["task"]
    # It is what the state policy trains on: the privileged `state` beside proprio, no images.
    from robolearn.train import train

    quick = OptimConfig(steps=6, batch_size=4, warmup_steps=2, checkpoint_every=6, eval_every=6, log_every=2)
    pol = train(TrainConfig(data=out, encoder="state", out=tmp_path / "state_pol", head="mlp", optim=quick,
                            wandb="disabled"))
    assert np.isfinite(json.loads((pol / "results.json").read_text())["val/first_action_mse"])
    # A valid store, but not one an image encoder can learn from: a clear refusal, not a crash.
    rc, err = run_cli(["pretrain", "--data", out, "--out", tmp_path / "enc", "--objective", "none",
                       "--wandb", "disabled"], capsys)
    assert rc != 0 and "no camera images" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "enc").exists()


def test_image_columns_decode_and_resize(tmp_path):
    truth = write_lerobot_by_hand(tmp_path / "img", images=True, pandas_tasks=True)
    out = import_lerobot(ImportLerobotConfig(path=tmp_path / "img", out=tmp_path / "img.hdf5"))
    with open_store(out) as s:
        assert s.cameras == ["cam"] and s.image_shape == (12, 10)
        assert np.array_equal(s.obs("demo_2", "cam_image"), truth["img"][2])  # PNG is lossless
    small = import_lerobot(ImportLerobotConfig(path=tmp_path / "img", out=tmp_path / "small.hdf5", image_size=8))
    with open_store(small) as s:
        assert s.image_shape == (8, 8)


# ============================================================================ bad LeRobot inputs
def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _rewrite(path: Path, fn) -> None:
    table = pq.read_table(path)
    pq.write_table(fn(table), path)


def _drop_row(table: pa.Table, i: int) -> pa.Table:
    keep = np.ones(len(table), bool)
    keep[i] = False
    return table.filter(pa.array(keep))


def _nan_action(table: pa.Table) -> pa.Table:
    acts = np.asarray(table.column("action").to_pylist(), np.float32)
    acts[7, 1] = np.nan
    arr = pa.FixedSizeListArray.from_arrays(pa.array(acts.reshape(-1)), 2)
    return table.set_column(table.schema.get_field_index("action"), "action", arr)


def _truncate_video(path: Path) -> None:
    with VideoReader(path) as r:
        n = r.count_frames()
        frames = r.frames_at(np.arange(n - 3) / 10, 0.045)
    path.unlink()
    w = VideoWriter(path, 10, 32, 32)
    w.write(frames)
    w.close()


def _bad_codec(path: Path) -> None:
    path.write_bytes(path.read_bytes().replace(b"avc1", b"zzzz"))  # a fourcc no decoder knows


BAD = {
    "no info.json": (lambda r: (r / "meta/info.json").unlink(), "meta/info.json: missing"),
    "no tasks": (lambda r: (r / "meta/tasks.parquet").unlink(), "meta/tasks.parquet: missing"),
    "old version": (lambda r: (r / "meta/info.json").write_text(
        (r / "meta/info.json").read_text().replace('"v3.0"', '"v2.1"')), "codebase_version v2.1"),
    "episode gap": (lambda r: _rewrite(r / "meta/episodes/chunk-000/file-000.parquet", lambda t: _drop_row(t, 2)),
                    "episode indices jump from 1 to 3"),
    "rows vs length": (lambda r: _rewrite(r / "data/chunk-000/file-000.parquet", lambda t: _drop_row(t, 3)),
                       "episode 0 has"),
    "short video": (lambda r: _truncate_video(r / "videos/observation.images.top/chunk-000/file-000.mp4"),
                    "video ends before the data table"),
    "bad codec": (lambda r: _bad_codec(r / "videos/observation.images.top/chunk-000/file-000.mp4"),
                  "unsupported video codec"),
    "nan action": (lambda r: _rewrite(r / "data/chunk-000/file-000.parquet", _nan_action), "NaN or inf in 'action'"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_lerobot_input_is_one_line_error_and_no_output(case, pm_lerobot, tmp_path, capsys):
    root = _copy(pm_lerobot, tmp_path / "ds")
    spoil, expected = BAD[case]
    spoil(root)
    out = tmp_path / "out.hdf5"
    rc, err = run_cli(["import", "lerobot", root, "--out", out], capsys)
    assert rc != 0
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    assert expected in err and str(root) in err, err  # names the file and the problem
    assert not out.exists() and not list(tmp_path.glob(".out.hdf5*")), "half-written output left behind"


def test_export_refuses_existing_folder_and_leaves_nothing_on_failure(pm_store, tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    rc, err = run_cli(["export-data", "lerobot", pm_store, "--out", tmp_path / "taken"], capsys)
    assert rc != 0 and "exists" in err and len(err.splitlines()) == 1
    # 33 px cannot be yuv420p: the export fails after starting, and leaves no folder behind.
    from robolearn.data.store import make_env_args, write_store

    odd = tmp_path / "odd.hdf5"
    demo = {"obs": {"top_image": np.zeros((4, 33, 33, 3), np.uint8), "proprio": np.zeros((4, 2), np.float32)},
            "actions": np.zeros((4, 2), np.float32)}
    write_store(odd, [demo, demo], make_env_args("robolearn/PointMass-v0"))
    rc, err = run_cli(["export-data", "lerobot", odd, "--out", tmp_path / "odd_lr"], capsys)
    assert rc != 0 and "yuv444p" in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd.hdf5", "taken"]


# ============================================================================ robomimic
def write_robomimic(path: Path, lengths=(14, 18, 12, 16, 15, 13), nan: bool = False) -> dict:
    """A robomimic-style file: robosuite obs keys, next_obs, env_args, model_file, extra filter keys,
    demos numbered from 1 (as in some robomimic releases)."""
    rng = np.random.default_rng(0)
    truth = {}
    with h5py.File(path, "w") as f:
        data = f.create_group("data")
        env_args = {"env_name": "Lift", "type": 1,
                    "env_kwargs": {"has_renderer": False, "camera_names": ["agentview", "robot0_eye_in_hand"],
                                   "camera_heights": 32, "camera_widths": 32, "control_freq": 20}}
        data.attrs["env_args"] = json.dumps(env_args)
        data.attrs["total"] = sum(lengths)
        for i, n in enumerate(lengths):
            name = f"demo_{i + 1}"
            g = data.create_group(name)
            acts = rng.uniform(-1, 1, size=(n, 7))
            if nan and i == 2:
                acts[5, 3] = np.nan
            g.create_dataset("actions", data=acts)
            g.create_dataset("rewards", data=(np.arange(n) == n - 1).astype(np.float64))
            g.create_dataset("dones", data=(np.arange(n) == n - 1).astype(np.int64))
            g.create_dataset("states", data=rng.normal(size=(n, 20)))
            g.attrs["num_samples"] = n
            g.attrs["model_file"] = "<mujoco model='lift'/>"
            obs = {"agentview_image": rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
                   "robot0_eye_in_hand_image": rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
                   "robot0_eef_pos": rng.normal(size=(n, 3)), "robot0_eef_quat": rng.normal(size=(n, 4)),
                   "robot0_gripper_qpos": rng.normal(size=(n, 2)), "robot0_joint_pos": rng.normal(size=(n, 7)),
                   "object": rng.normal(size=(n, 10))}
            for grp in ("obs", "next_obs"):
                og = g.create_group(grp)
                for k, v in obs.items():
                    og.create_dataset(k, data=v if grp == "obs" else np.roll(v, -1, axis=0))
            truth[name] = (acts, obs)
        masks = {"train": [1, 2, 3, 4, 5], "valid": [6], "20_percent": [2, 5],
                 "20_percent_train": [2], "20_percent_valid": [5]}
        for k, v in masks.items():
            f.create_dataset(f"mask/{k}", data=np.array([f"demo_{i}".encode() for i in v], dtype="S8"))
    return truth


@pytest.mark.slow
def test_robomimic_file_with_next_obs_and_filter_keys_imports_and_trains(tmp_path, capsys):
    from robolearn.pretrain import pretrain
    from robolearn.train import train

    src = tmp_path / "image.hdf5"
    truth = write_robomimic(src)
    out = tmp_path / "demos.hdf5"
    rc, err = run_cli(["import", "robomimic", src, "--out", out], capsys)
    assert rc == 0, err
    with open_store(out) as s:
        assert s.cameras == ["agentview", "robot0_eye_in_hand"] and s.image_shape == (32, 32)
        assert s.proprio_dim == 9 and "state" in s.lowdim_keys and "next_obs" not in s.h5["data/demo_0"]
        # demo_1..demo_6 become demo_0..demo_5; every filter key follows its demos.
        assert s.demo_names("train") == [f"demo_{i}" for i in range(5)] and s.demo_names("valid") == ["demo_5"]
        assert s.demo_names("20_percent") == ["demo_1", "demo_4"] and s.demo_names("20_percent_valid") == ["demo_4"]
        acts, obs = truth["demo_3"]
        assert np.array_equal(s.actions("demo_2"), acts.astype(np.float32))
        want = np.concatenate([obs["robot0_eef_pos"], obs["robot0_eef_quat"], obs["robot0_gripper_qpos"]], 1)
        assert np.array_equal(s.obs("demo_2", "proprio"), want.astype(np.float32))
        assert np.array_equal(s.obs("demo_2", "state"), obs["object"].astype(np.float32))
        assert np.array_equal(s.obs("demo_2", "agentview_image"), obs["agentview_image"])
        # robosuite's Lift with a robolearn adapter: eval builds it at the imported cameras and size.
        assert s.env_args["env_name"] == "robosuite/Lift-v0" and s.env_args["type"] == 2
        assert s.env_args["env_kwargs"] == {"image_size": 32, "cameras": ["agentview", "robot0_eye_in_hand"]}
        assert s.env_args["robomimic_env_args"]["env_name"] == "Lift"  # robomimic's own, kept
        assert s.h5["data/demo_2"].attrs["model_file"] == "<mujoco model='lift'/>"
        assert s.states("demo_2").shape == (12, 20)

    quick = dict(steps=6, batch_size=8, warmup_steps=2, checkpoint_every=6, eval_every=6, log_every=2)
    enc = pretrain(PretrainConfig(data=out, out=tmp_path / "enc", objective="none", optim=OptimConfig(**quick),
                                  wandb="disabled"))
    pol = train(TrainConfig(data=out, encoder=enc, out=tmp_path / "pol", head="mlp", optim=OptimConfig(**quick),
                            wandb="disabled"))
    res = json.loads((pol / "results.json").read_text())
    assert np.isfinite(res["val/first_action_mse"])


def test_robomimic_options_choose_cameras_keys_and_size(tmp_path):
    from robolearn.config import ImportRobomimicConfig
    from robolearn.data.robomimic_io import import_robomimic

    src = tmp_path / "image.hdf5"
    truth = write_robomimic(src)
    out = import_robomimic(ImportRobomimicConfig(path=src, out=tmp_path / "d.hdf5", cameras=["robot0_eye_in_hand"],
                                                 proprio_keys=["robot0_joint_pos"], state_keys=[], image_size=16))
    with open_store(out) as s:
        assert s.cameras == ["robot0_eye_in_hand"] and s.image_shape == (16, 16)
        assert s.proprio_dim == 7 and "state" not in s.lowdim_keys
        img = s.obs("demo_0", "robot0_eye_in_hand_image")
        src_img = truth["demo_1"][1]["robot0_eye_in_hand_image"]
        # Area resize: each output pixel is about the mean of its 2x2 source block.
        block = src_img.reshape(-1, 16, 2, 16, 2, 3).mean(axis=(2, 4))
        assert np.abs(img.astype(float) - block).mean() < 3
        # proprio is not what the adapter's is, so robomimic's env_args stay and eval needs --env.
        assert s.env_args["env_name"] == "Lift" and s.env_args["env_kwargs"]["camera_heights"] == 16


def test_robomimic_bad_inputs_are_one_line_errors(tmp_path, capsys):
    src = tmp_path / "nan.hdf5"
    write_robomimic(src, nan=True)
    out = tmp_path / "o.hdf5"
    rc, err = run_cli(["import", "robomimic", src, "--out", out], capsys)
    assert rc != 0 and len(err.splitlines()) == 1
    assert str(src) in err and "data/demo_3/actions has NaN" in err, err
    assert not out.exists() and not list(tmp_path.glob(".o.hdf5*"))
    write_robomimic(tmp_path / "ok.hdf5")
    rc, err = run_cli(["import", "robomimic", tmp_path / "ok.hdf5", "--out", out, "--cameras", "frontview"], capsys)
    assert rc != 0 and "no camera frontview" in err and "agentview" in err
    (tmp_path / "junk.hdf5").write_text("not hdf5")
    rc, err = run_cli(["import", "robomimic", tmp_path / "junk.hdf5", "--out", out], capsys)
    assert rc != 0 and "not an HDF5 file" in err and not out.exists()


@pytest.mark.slow
def test_policy_trained_on_a_robomimic_file_evaluates_in_the_env_its_env_args_name(tmp_path, monkeypatch):
    """robomimic Lift (type 1) -> import -> state policy -> `robolearn eval` with no --env: the
    import mapped robomimic's env_args to robosuite/Lift-v0 at the file's cameras and size."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("robomimic_lift", ROOT / "benchmarks" / "robomimic_lift.py")
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, bench)  # dataclasses look their module up there
    spec.loader.exec_module(bench)
    out = tmp_path / "rl"
    row = bench.main(bench.Args(demos=3, image_size=24, steps=20, eval_episodes=2, horizon=8, workers=1, out=out))
    assert row["env_args"] == "robosuite/Lift-v0" and row["eval_env"] == "robosuite/Lift-v0" and row["episodes"] == 2
    with open_store(out / "collected.hdf5") as src, open_store(out / "demos.hdf5") as imp:
        assert imp.env_kwargs == {"image_size": 24, "cameras": ["agentview", "robot0_eye_in_hand"]}
        assert imp.demo_names("20_percent") and imp.lowdim_keys == src.lowdim_keys
        for d in ("demo_0", "demo_2"):  # the same frames and vectors after robomimic's key layout
            for key in ("agentview_image", "robot0_eye_in_hand_image", "proprio", "state"):
                assert np.array_equal(imp.obs(d, key), src.obs(d, key)), (d, key)
            assert np.array_equal(imp.actions(d), src.actions(d))
