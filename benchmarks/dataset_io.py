"""Dataset import/export speed and round-trip fidelity.

For each video setting: export a store to LeRobot v3.0 (`export_lerobot`), decode every frame of the
mp4 files alone (PyAV, sequential), import the folder back (`import_lerobot`: parquet + decode + HDF5
write), and compare: actions and proprio must come back bit-exact; images are scored by PSNR over
all frames. Then a robomimic-style file (84 px, two cameras, next_obs) is made with h5py and imported.
Rates are camera frames per second of wall time and of this process's CPU time (decoder threads
included): on a busy shared machine the CPU rate is the one to compare.

    .venv/bin/python benchmarks/dataset_io.py                       # collects PointMass, 50 episodes, 64 px
    .venv/bin/python benchmarks/dataset_io.py --data demos.hdf5     # an existing store
"""
from __future__ import annotations

import robolearn.rendering  # noqa: F401  (MUJOCO_GL before mujoco)

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import tyro

from clock import Clock  # benchmarks/, beside this script

os.environ.setdefault("TQDM_DISABLE", "1")


@dataclass
class Args:
    data: Optional[Path] = None
    """Store to use (default: collect `episodes` PointMass episodes at `image_size`)."""
    env: str = "robolearn/PointMass-v0"
    episodes: int = 50
    image_size: int = 64
    settings: list[str] = field(default_factory=lambda: ["libx264:yuv420p", "libx264:yuv444p", "libsvtav1:yuv420p"])
    """codec:pix_fmt pairs to measure."""
    crf: int = 18
    gop: int = 2
    robomimic_demos: int = 20
    robomimic_steps: int = 100


def _psnr(mse: float) -> float:
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def main(args: Args) -> None:
    from robolearn.config import CollectConfig, ExportLerobotConfig, ImportLerobotConfig, ImportRobomimicConfig
    from robolearn.data.collect import collect
    from robolearn.data.lerobot_export import export_lerobot
    from robolearn.data.lerobot_import import import_lerobot
    from robolearn.data.robomimic_io import import_robomimic
    from robolearn.data.store import open_store
    from robolearn.data.video import VideoReader, decoder_name

    tmp = Path(tempfile.mkdtemp(prefix="dataset_io_"))
    store = args.data or collect(CollectConfig(env=args.env, episodes=args.episodes, out=tmp / "src.hdf5",
                                               image_size=args.image_size, seed=0))
    with open_store(store) as s:
        demos = s.demo_names()
        cams = s.cameras
        steps = s.total_steps()
        desc = f"{s.env_id}, {len(demos)} episodes, {steps} steps, cameras {', '.join(cams)} at {s.image_size} px"
    images = steps * len(cams)
    print(f"decoder/encoder: {decoder_name()}")
    print(f"store: {desc} ({images} camera frames)")
    print(f"crf {args.crf}, keyframe every {args.gop} frames\n")
    print("| codec | pix_fmt | export frames/s (wall / cpu) | decode-only frames/s (wall / cpu) | "
          "import frames/s (wall / cpu) | PSNR dB (mean / worst episode) | video KiB | actions, proprio |")
    print("|---|---|---|---|---|---|---|---|")
    for setting in args.settings:
        codec, pix = setting.split(":")
        root = tmp / f"lr_{codec}_{pix}"
        with Clock() as ex:
            export_lerobot(ExportLerobotConfig(path=store, out=root, codec=codec, pix_fmt=pix, crf=args.crf, gop=args.gop))
        mp4s = sorted((root / "videos").rglob("*.mp4"))
        with Clock() as dec:
            n = 0
            for p in mp4s:
                with VideoReader(p) as r:
                    n += r.count_frames()
        assert n == images, (n, images)
        out = tmp / f"rt_{codec}_{pix}.hdf5"
        with Clock() as im:
            import_lerobot(ImportLerobotConfig(path=root, out=out))
        exact = True
        sq, count, worst = 0.0, 0, np.inf
        with open_store(store) as a, open_store(out) as b:
            for d in demos:
                exact &= np.array_equal(a.actions(d), b.actions(d))
                if "proprio" in a.lowdim_keys:
                    exact &= np.array_equal(a.obs(d, "proprio"), b.obs(d, "proprio"))
                x = a.images(d).astype(np.float64)
                y = b.images(d).astype(np.float64)
                err = ((x - y) ** 2)
                sq += err.sum()
                count += err.size
                worst = min(worst, _psnr(err.mean()))
        kib = sum(p.stat().st_size for p in mp4s) / 1024
        print(f"| {codec} | {pix} | {images / ex.wall:.0f} / {images / ex.cpu:.0f} | {images / dec.wall:.0f} / "
              f"{images / dec.cpu:.0f} | {images / im.wall:.0f} / {images / im.cpu:.0f} | {_psnr(sq / count):.1f} / "
              f"{worst:.1f} | {kib:.0f} | {'exact' if exact else 'DIFFER'} |")

    # robomimic: the typical image.hdf5 shape (84 px, agentview + eye-in-hand, next_obs).
    import h5py
    import json

    rng = np.random.default_rng(0)
    src = tmp / "robomimic.hdf5"
    n_img = 0
    with h5py.File(src, "w") as f:
        data = f.create_group("data")
        data.attrs["env_args"] = json.dumps({"env_name": "Lift", "type": 1, "env_kwargs": {}})
        for i in range(args.robomimic_demos):
            g = data.create_group(f"demo_{i}")
            T = args.robomimic_steps
            g.create_dataset("actions", data=rng.uniform(-1, 1, (T, 7)))
            for grp in ("obs", "next_obs"):
                og = g.create_group(grp)
                for cam in ("agentview", "robot0_eye_in_hand"):
                    base = rng.integers(0, 256, (1, 84, 84, 3), dtype=np.uint8)  # compressible, like real frames
                    og.create_dataset(f"{cam}_image", data=np.repeat(base, T, 0), compression="gzip")
                for k, dim in (("robot0_eef_pos", 3), ("robot0_eef_quat", 4), ("robot0_gripper_qpos", 2), ("object", 10)):
                    og.create_dataset(k, data=rng.normal(size=(T, dim)))
            n_img += 2 * T
    for size in (None, 64):
        with Clock() as rm:
            import_robomimic(ImportRobomimicConfig(path=src, out=tmp / f"rm_{size}.hdf5", image_size=size))
        print(f"\nrobomimic import, {args.robomimic_demos} demos x {args.robomimic_steps} steps, 2 cameras 84 px"
              f"{' -> ' + str(size) + ' px' if size else ''}: {n_img / rm.wall:.0f} / {n_img / rm.cpu:.0f} "
              "camera frames/s (wall / cpu)")
    print(f"\n(scratch files in {tmp})")


if __name__ == "__main__":
    main(tyro.cli(Args))
