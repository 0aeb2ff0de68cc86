"""Damaged inputs get one line and exit 2, never a traceback nor a half-written output: a LeRobot
dataset whose parquet files were cut short (a copy interrupted, a full disk)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from robolearn.cli import main
from robolearn.config import CollectConfig, ExportLerobotConfig


@pytest.fixture(scope="module")
def lerobot_dataset(tmp_path_factory) -> Path:
    from robolearn.data.collect import collect
    from robolearn.data.lerobot_export import export_lerobot

    root = tmp_path_factory.mktemp("damaged")
    store = collect(CollectConfig(env="robolearn/PointMass-v0", episodes=3, out=root / "pm.hdf5", seed=0,
                                  image_size=16, workers=1))
    return export_lerobot(ExportLerobotConfig(path=store, out=root / "lerobot"))


def test_truncated_parquet_is_a_one_line_error(lerobot_dataset, tmp_path, capsys):
    files = sorted(p.relative_to(lerobot_dataset) for p in lerobot_dataset.rglob("*.parquet"))
    # The frames, the episode table and the task table: each read through its own path.
    assert {f.parts[0] + "/" + f.parts[1] for f in files} >= {"data/chunk-000", "meta/episodes", "meta/tasks.parquet"}
    for rel in files:
        copy = tmp_path / f"cut-{'-'.join(rel.parts)}"
        shutil.copytree(lerobot_dataset, copy)
        raw = (copy / rel).read_bytes()
        (copy / rel).write_bytes(raw[: len(raw) // 2])  # no footer: "Parquet magic bytes not found"
        out = tmp_path / f"{copy.name}.hdf5"
        capsys.readouterr()
        code = main(["import", "lerobot", str(copy), "--out", str(out)])
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1, (rel, err)
        assert err.startswith(f"error: {copy / rel}: cannot read as parquet"), err
        assert not out.exists() and not list(tmp_path.glob(f"{out.name}*"))  # nothing half-written
