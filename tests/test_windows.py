"""Window dataset: indexing and padding at episode edges, future frames, workers, in-RAM loading.

The store's pixels encode (demo, t, view) so every frame in a window can be checked exactly."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from robolearn.data.normalize import Normalizer
from robolearn.data.store import make_env_args, open_store, write_store
from robolearn.data.windows import WindowDataset, frame_index, read_all_frames, valid_times
from robolearn.errors import RobolearnError
from robolearn.data.windows import WindowSpec

CAMS = ["front", "wrist"]
H = 8
LENGTHS = (5, 7, 3, 6)


def make_demo(d: int, n: int) -> dict:
    t = np.arange(n)
    obs = {}
    for v, c in enumerate(CAMS):
        img = np.zeros((n, H, H, 3), np.uint8)
        img[..., 0], img[..., 1], img[..., 2] = d, t[:, None, None], v
        obs[f"{c}_image"] = img
    obs["proprio"] = np.stack([np.full(n, d), t], 1).astype(np.float32)
    return {"obs": obs, "actions": np.stack([np.full(n, d), t], 1).astype(np.float32),
            "task_features": np.stack([t, np.full(n, d)], 1).astype(np.float32), "mode": 0, "success": 1.0}


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("win") / "d.hdf5"
    # valid_fraction 0: every demo is train, so item order is known.
    return write_store(path, [make_demo(i, n) for i, n in enumerate(LENGTHS)],
                       make_env_args("robolearn/Fake-v0", {"image_size": H, "cameras": CAMS}),
                       valid_fraction=0.0, feature_names=["t", "d"])


def frame_ids(images: torch.Tensor):
    """(…, V, H, W, 3) -> list over frames of (demo, t), checking every view and pixel agrees."""
    x = images.numpy()
    assert (x[..., 2] == np.arange(x.shape[-4])[:, None, None]).all()  # views in cameras order
    d, t = x[..., 0, 0, 0, 0], x[..., 0, 0, 0, 1]
    assert (x[..., 0] == d[..., None, None, None]).all() and (x[..., 1] == t[..., None, None, None]).all()
    return list(zip(d.reshape(-1).tolist(), t.reshape(-1).tolist()))


def item_for(ds, demo, t):
    return ds[ds.index().index((demo, t))]


def test_padding_at_starts_and_ends(store_path):
    spec = WindowSpec(obs_horizon=3, action_horizon=4, future=2, pad=True)
    ds = WindowDataset(store_path, spec, split="train")
    assert len(ds) == sum(LENGTHS)
    w = item_for(ds, "demo_1", 0)  # episode start: context = frame 0 three times
    assert w["images"].shape == (3, 2, H, H, 3) and w["images"].dtype == torch.uint8
    assert frame_ids(w["images"]) == [(1, 0)] * 3
    assert w["obs_pad"].tolist() == [True, True, False]
    assert w["action_pad"].tolist() == [False] * 4
    assert w["actions"][:, 1].tolist() == [0, 1, 2, 3]
    assert frame_ids(w["future_images"]) == [(1, 1), (1, 2)] and w["future_pad"].tolist() == [False, False]
    assert w["proprio"][:, 1].tolist() == [0, 0, 0]
    assert w["task_features"][:, 0].tolist() == [0, 0, 0]
    assert w["future_task_features"][:, 0].tolist() == [1, 2]
    assert int(w["episode"]) == 1 and int(w["t"]) == 0

    w = item_for(ds, "demo_1", 1)
    assert frame_ids(w["images"]) == [(1, 0), (1, 0), (1, 1)] and w["obs_pad"].tolist() == [True, False, False]

    w = item_for(ds, "demo_1", 5)  # near the end (n = 7)
    assert frame_ids(w["images"]) == [(1, 3), (1, 4), (1, 5)] and not w["obs_pad"].any()
    assert w["actions"][:, 1].tolist() == [5, 6, 6, 6]
    assert w["action_pad"].tolist() == [False, False, True, True]
    assert frame_ids(w["future_images"]) == [(1, 6), (1, 6)] and w["future_pad"].tolist() == [False, True]

    w = item_for(ds, "demo_2", 2)  # last step of a 3-step episode: pads on every side
    assert frame_ids(w["images"]) == [(2, 0), (2, 1), (2, 2)]
    assert w["actions"][:, 1].tolist() == [2, 2, 2, 2] and w["action_pad"].tolist() == [False, True, True, True]
    assert frame_ids(w["future_images"]) == [(2, 2), (2, 2)] and w["future_pad"].tolist() == [True, True]
    assert w["future_task_features"][:, 0].tolist() == [2, 2]


def test_no_pad_drops_partial_windows(store_path):
    spec = WindowSpec(obs_horizon=2, action_horizon=3, future=1, pad=False)
    ds = WindowDataset(store_path, spec)
    idx = ds.index()
    # context needs t >= 1; chunk needs t + 2 <= n - 1; future needs t + 1 <= n - 1
    expect = [(f"demo_{d}", t) for d, n in enumerate(LENGTHS) for t in range(1, n - 2)]
    assert idx == expect
    for i in range(len(ds)):
        w = ds[i]
        assert not w["obs_pad"].any() and not w["action_pad"].any() and not w["future_pad"].any()
    assert len(valid_times(2, spec)) == 0
    ds0 = WindowDataset(store_path, WindowSpec(obs_horizon=1, action_horizon=1, future=0, pad=False))
    assert len(ds0) == sum(LENGTHS) and "future_images" not in ds0[0]


@pytest.mark.slow
def test_normalized_and_batched_with_workers(store_path):
    with open_store(store_path) as s:
        norm = Normalizer.from_store(s)
    spec = WindowSpec(obs_horizon=2, action_horizon=3, future=1)
    ds = WindowDataset(store_path, spec, normalizer=norm)
    w = ds[0]
    assert w["actions"].dtype == torch.float32 and w["actions"].abs().max() <= 1 + 1e-6
    ref = [ds[i] for i in range(len(ds))]
    ds[3]  # the parent holds an open handle; forked workers must not reuse it
    loader = DataLoader(ds, batch_size=5, num_workers=2, shuffle=False)
    batches = list(loader)
    b = batches[0]
    assert b["images"].shape == (5, 2, 2, H, H, 3) and b["proprio"].shape == (5, 2, 2)
    assert b["actions"].shape == (5, 3, 2) and b["future_images"].shape == (5, 1, 2, H, H, 3)
    assert b["episode"].dtype == torch.int64 and b["obs_pad"].dtype == torch.bool
    got = {k: torch.cat([bb[k] for bb in batches]) for k in b}
    for k in b:
        assert torch.equal(got[k], torch.stack([r[k] for r in ref])), k
    # spawn-started workers pickle the dataset: the handle is dropped, each worker opens its own
    assert ds.__getstate__()["_h5"] is None
    spawned = DataLoader(ds, batch_size=12, num_workers=2, multiprocessing_context="spawn")
    assert torch.equal(torch.cat([bb["images"] for bb in spawned]), got["images"])


@pytest.mark.parametrize("in_ram", [False, True])
def test_trainer_batches_hold_the_right_frames_at_episode_edges(store_path, in_ram):
    """What the trainers read: `sharded_loader`'s batches, gathered a batch at a time, from the file and in
    RAM, and through a spawned worker; every frame and action checked against the (demo, t) it encodes."""
    from robolearn.distributed import sharded_loader

    spec = WindowSpec(obs_horizon=3, action_horizon=4, future=2)
    ds = WindowDataset(store_path, spec, in_ram=in_ram)
    batches = list(sharded_loader(ds, 7, seed=0))
    seen = []
    for b in batches:
        assert b["images"].shape[1:] == (3, 2, H, H, 3) and b["actions"].shape[1:] == (4, 2)
        for j, (d, t) in enumerate(zip(b["episode"].tolist(), b["t"].tolist())):
            seen.append((d, t))
            n, clip = LENGTHS[d], lambda s: min(max(s, 0), LENGTHS[d] - 1)  # noqa: E731
            ctx, fut, act = range(t - 2, t + 1), range(t + 1, t + 3), range(t, t + 4)
            assert frame_ids(b["images"][j]) == [(d, clip(s)) for s in ctx]
            assert frame_ids(b["future_images"][j]) == [(d, clip(s)) for s in fut]
            assert b["actions"][j].tolist() == [[d, clip(s)] for s in act]
            assert b["proprio"][j].tolist() == [[d, clip(s)] for s in ctx]
            assert b["task_features"][j].tolist() == [[clip(s), d] for s in ctx]
            assert b["future_task_features"][j].tolist() == [[clip(s), d] for s in fut]
            assert b["obs_pad"][j].tolist() == [s < 0 for s in ctx]
            assert b["action_pad"][j].tolist() == [s > n - 1 for s in act]
            assert b["future_pad"][j].tolist() == [s > n - 1 for s in fut]
    assert sorted(seen) == [(d, t) for d, n in enumerate(LENGTHS) for t in range(n)]
    spawned = list(sharded_loader(ds, 7, seed=0, workers=1, multiprocessing_context="spawn"))
    assert len(spawned) == len(batches)
    for a, b in zip(spawned, batches):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_in_ram_identical_and_refused(store_path, monkeypatch):
    spec = WindowSpec(obs_horizon=2, action_horizon=2, future=2)
    disk = WindowDataset(store_path, spec)
    ram = WindowDataset(store_path, spec, in_ram=True)
    assert len(disk) == len(ram)
    for i in range(len(disk)):
        a, b = disk[i], ram[i]
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), (i, k)

    import psutil

    class Mem:
        available = 1000  # bytes

    monkeypatch.setattr(psutil, "virtual_memory", lambda: Mem())
    with pytest.raises(RobolearnError, match=r"needs .* GiB, only .* GiB available; drop --in-ram"):
        WindowDataset(store_path, spec, in_ram=True)


def test_cameras_subset_and_frame_helpers(store_path):
    ds = WindowDataset(store_path, WindowSpec(), cameras=["wrist"], with_features=False)
    w = ds[0]
    assert w["images"].shape == (1, 1, H, H, 3) and (w["images"][..., 2] == 1).all()
    assert "task_features" not in w
    with pytest.raises(RobolearnError, match="no camera"):
        WindowDataset(store_path, WindowSpec(), cameras=["top"])
    with open_store(store_path) as s:
        idx = frame_index(s, "train")
        assert len(idx) == sum(LENGTHS) and idx[:2] == [("demo_0", 0), ("demo_0", 1)]
        batches = list(read_all_frames(s, batch_size=4))
        assert [b["demo"] for b in batches][:3] == ["demo_0", "demo_0", "demo_1"]
        flat = [(b["demo"], int(t)) for b in batches for t in b["t"]]
        assert flat == frame_index(s, None)
        b = batches[2]
        assert b["images"].shape == (4, 2, H, H, 3) and frame_ids(torch.from_numpy(b["images"]))[0] == (1, 0)
        assert b["proprio"].shape == (4, 2)
