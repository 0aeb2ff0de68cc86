"""Does LeRobot's own dataset class read `robolearn export-data lerobot` output? Run it where the
`lerobot` package is installed (a side environment: lerobot pins its own torch), with h5py:

    robolearn export-data lerobot demos.hdf5 --out /tmp/pm_lerobot
    /path/to/lerobot-env/bin/python benchmarks/lerobot_reads_export.py /tmp/pm_lerobot demos.hdf5 [torchcodec|pyav]

Reads every frame through `LeRobotDataset.__getitem__` (parquet through HF datasets, video through
LeRobot's decoder at the default 1e-4 s timestamp tolerance) and checks each against the store:
episode and frame indices, actions and observation.state bit-exact, images by PSNR.
"""
from __future__ import annotations

import sys

import h5py
import numpy as np


def main(root: str, store: str, backend: str = "torchcodec") -> None:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    ds = LeRobotDataset("local/robolearn_export", root=root, video_backend=backend)
    print(f"LeRobotDataset: {ds.num_episodes} episodes, {ds.num_frames} frames, fps {ds.fps}, "
          f"features {sorted(ds.features)}")
    worst, k = np.inf, 0
    with h5py.File(store, "r") as f:
        names = sorted(f["data"].keys(), key=lambda s: int(s.split("_")[1]))
        cams = sorted(key[: -len("_image")] for key in f["data"][names[0]]["obs"] if key.endswith("_image"))
        for e, d in enumerate(names):
            g = f["data"][d]
            acts, prop = g["actions"][()], g["obs"]["proprio"][()]
            for t in range(len(acts)):
                item = ds[k]
                k += 1
                assert item["episode_index"].item() == e and item["frame_index"].item() == t, (e, t)
                assert np.array_equal(item["action"].numpy(), acts[t])
                assert np.array_equal(item["observation.state"].numpy(), prop[t])
                for c in cams:
                    frame = (item[f"observation.images.{c}"].numpy().transpose(1, 2, 0) * 255).round()
                    mse = ((frame - g["obs"][f"{c}_image"][t]) ** 2).mean()
                    worst = min(worst, 10 * np.log10(255**2 / max(mse, 1e-12)))
    print(f"read {k} frames through LeRobotDataset ({backend}): indices right, actions and state exact, "
          f"worst frame PSNR {worst:.1f} dB; task '{item['task']}'")


if __name__ == "__main__":
    main(*sys.argv[1:4])
