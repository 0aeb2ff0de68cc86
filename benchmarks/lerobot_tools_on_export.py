"""Do LeRobot's own dataset tools keep working on `robolearn export-data lerobot` output? Run it where
the `lerobot` package is installed (a side environment; see benchmarks/results/lerobot_tools_on_export/):

    robolearn export-data lerobot demos.hdf5 --out /tmp/export
    /path/to/lerobot-env/bin/python benchmarks/lerobot_tools_on_export.py /tmp/export /tmp/tools_out

LeRobot's `split_dataset` and `delete_episodes` rebuild each new dataset's meta/stats.json from the
per-episode `stats/<feature>/<stat>` columns of meta/episodes; where those are missing they write
`{}`, and a policy normalizer built from that silently skips every feature. This prints, for each
output, the features its stats.json has and checks them against stats recomputed from its frames.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def check(ds, label: str) -> None:
    stats = json.loads((Path(ds.root) / "meta/stats.json").read_text())
    numeric = [k for k, ft in ds.meta.features.items() if ft["dtype"] not in ("video", "image", "string")]
    missing = [k for k in numeric if k not in stats]
    print(f"{label}: {ds.meta.total_episodes} episodes, {ds.meta.total_frames} frames; stats.json has "
          f"{len(stats)} features ({', '.join(sorted(stats))}); missing: {missing or 'none'}")
    assert not missing, f"{label}: stats.json lacks {missing}"
    frames = ds.hf_dataset.with_format("numpy")
    for key in ("action", "observation.state", "next.done"):
        if key not in stats:
            continue
        x = np.asarray(frames[key], np.float64).reshape(ds.meta.total_frames, -1)
        for s, want in (("min", x.min(0)), ("max", x.max(0)), ("mean", x.mean(0))):
            got = np.asarray(stats[key][s], np.float64).reshape(-1)
            assert np.allclose(got, want, rtol=1e-5, atol=1e-6), (label, key, s, got, want)
        print(f"  {key}: min/max/mean match the frames ({x.shape[1]} dims, count {stats[key]['count']})")


def main(root: str, out: str) -> None:
    from lerobot.datasets.dataset_tools import delete_episodes, split_dataset
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    import lerobot

    print(f"lerobot {lerobot.__version__}")
    ds = LeRobotDataset("local/robolearn_export", root=root, video_backend="pyav")
    check(ds, "export")
    n = ds.meta.total_episodes
    half = list(range(n // 2))
    parts = split_dataset(ds, {"first": half, "second": list(range(n // 2, n))}, output_dir=Path(out) / "split")
    for name, part in parts.items():
        check(part, f"split_dataset[{name}]")
    kept = delete_episodes(ds, [0], output_dir=Path(out) / "deleted", repo_id="local/robolearn_deleted")
    check(kept, "delete_episodes([0])")
    print("ok")


if __name__ == "__main__":
    main(*sys.argv[1:3])
