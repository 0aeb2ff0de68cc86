"""The HDF5 store: robomimic layout, atomic writes, validation messages, summary, hash, normalizer."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

from robolearn.data.normalize import Normalizer
from robolearn.data.store import (DemoStore, StoreWriter, file_hash, make_env_args, open_store, summary,
                                  write_store)
from robolearn.errors import DataError

CAMS = ["front", "wrist"]
H = 8


def make_demo(d: int, n: int, cams=CAMS, mode: int = 0) -> dict:
    t = np.arange(n)
    obs = {}
    for v, c in enumerate(cams):
        img = np.zeros((n, H, H, 3), np.uint8)
        img[..., 0] = d
        img[..., 1] = t[:, None, None]
        img[..., 2] = v
        obs[f"{c}_image"] = img
    obs["proprio"] = np.stack([np.full(n, d), t, np.ones(n)], 1).astype(np.float32)
    return {
        "obs": obs,
        "actions": np.stack([np.full(n, d), t / 10.0], 1).astype(np.float32),
        "rewards": np.zeros(n, np.float32),
        "dones": (t == n - 1).astype(np.uint8),
        "states": np.stack([t, t * 2.0], 1),
        "task_features": np.stack([t * 0.5, np.full(n, d)], 1).astype(np.float32),
        "mode": mode,
        "success": 1.0,
    }


def write(path, lengths=(5, 7, 6), **kw) -> object:
    demos = [make_demo(i, n, mode=i % 2) for i, n in enumerate(lengths)]
    env_args = make_env_args("robolearn/Fake-v0", {"image_size": H, "cameras": CAMS})
    kw.setdefault("valid_fraction", 0.34)
    return write_store(path, demos, env_args, seed=0, feature_names=["a", "b"], **kw)


def test_round_trip_robomimic_layout(tmp_path):
    path = write(tmp_path / "d.hdf5", lengths=(5, 7, 6, 4, 3, 8, 5, 6, 4, 3, 9, 2))
    with h5py.File(path, "r") as f:
        data = f["data"]
        names = sorted(data.keys(), key=lambda s: int(s.split("_")[1]))
        assert names == [f"demo_{i}" for i in range(12)]
        assert int(data.attrs["total"]) == sum((5, 7, 6, 4, 3, 8, 5, 6, 4, 3, 9, 2))
        env_args = json.loads(data.attrs["env_args"])
        assert env_args["env_name"] == "robolearn/Fake-v0" and isinstance(env_args["type"], int)
        assert env_args["env_kwargs"] == {"image_size": H, "cameras": CAMS}
        assert json.loads(data.attrs["feature_names"]) == ["a", "b"]
        assert "robolearn_version" in data.attrs
        g = data["demo_1"]
        assert g.attrs["num_samples"] == 7 and g.attrs["mode"] == 1 and g.attrs["success"] == 1.0
        assert g["actions"].dtype == np.float32 and g["actions"].shape == (7, 2)
        assert g["rewards"].dtype == np.float32 and g["rewards"].shape == (7,)
        assert g["dones"].dtype in (np.uint8, np.bool_) and g["dones"][-1] == 1 and g["dones"][:-1].sum() == 0
        assert g["states"].dtype == np.float64 and g["states"].shape == (7, 2)
        assert g["task_features"].dtype == np.float32 and g["task_features"].shape == (7, 2)
        img = g["obs/front_image"]
        assert img.dtype == np.uint8 and img.shape == (7, H, H, 3)
        assert img.chunks == (1, H, H, 3) and img.compression in ("gzip", "lzf")
        assert g["obs/proprio"].dtype == np.float32
        np.testing.assert_array_equal(img[3, 0, 0], [1, 3, 0])
        train = list(f["mask/train"][()])
        valid = list(f["mask/valid"][()])
        assert all(isinstance(x, bytes) for x in train + valid)
        assert len(valid) == 4 and sorted(train + valid) == sorted(n.encode() for n in names)
        assert not set(train) & set(valid)

    with open_store(path) as s:
        assert s.env_id == "robolearn/Fake-v0" and s.env_kwargs["image_size"] == H
        assert s.cameras == CAMS and s.image_size == H and s.lowdim_keys == ["proprio"]
        assert s.demo_names(None)[:3] == ["demo_0", "demo_1", "demo_2"] and s.demo_names(None)[-1] == "demo_11"
        assert s.demo_names(None).index("demo_10") == 10  # natural order, not string order
        assert len(s.demo_names("train")) == 8 and len(s.demo_names("valid")) == 4
        assert s.length("demo_10") == 9 and s.action_dim == 2 and s.proprio_dim == 3
        np.testing.assert_array_equal(s.actions("demo_2")[:, 0], 2)
        np.testing.assert_array_equal(s.obs("demo_2", "front_image", slice(1, 3))[:, 0, 0, 1], [1, 2])
        assert s.images("demo_2", ["wrist", "front"]).shape == (6, 2, H, H, 3)
        assert s.task_features("demo_0").shape == (5, 2) and s.feature_names == ["a", "b"]
        assert s.mode("demo_1") == 1 and s.success("demo_1") == 1.0
        assert s.total_steps(None) == s.total_steps("train") + s.total_steps("valid")


def test_atomic_write(tmp_path):
    path = tmp_path / "d.hdf5"
    env_args = make_env_args("robolearn/Fake-v0")
    with pytest.raises(RuntimeError):
        with StoreWriter(path, env_args) as w:
            w.add_demo(make_demo(0, 4))
            raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []
    bad = make_demo(1, 4)
    bad["obs"]["proprio"] = bad["obs"]["proprio"][:3]
    with pytest.raises(DataError, match="proprio"):
        write_store(path, [make_demo(0, 4), bad], env_args)
    assert list(tmp_path.iterdir()) == []

    write(path)
    before = path.read_bytes()
    with pytest.raises(DataError, match="exists"):
        write(path, lengths=(3,))
    assert path.read_bytes() == before
    # overwrite replaces it, only by the final rename
    with pytest.raises(RuntimeError):
        with StoreWriter(path, env_args, overwrite=True) as w:
            w.add_demo(make_demo(0, 4))
            raise RuntimeError
    assert path.read_bytes() == before
    write(path, lengths=(3,), overwrite=True)
    with open_store(path) as s:
        assert s.demo_names(None) == ["demo_0"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.hdf5"]


def _mutate(path, fn):
    with h5py.File(path, "a") as f:
        fn(f)


@pytest.mark.parametrize("case, expect", [
    ("missing", "no such file"),
    ("not_hdf5", "not an HDF5 file"),
    ("no_data", "no 'data' group"),
    ("no_demos", "no demos"),
    ("no_actions", "demo_1 has no 'actions'"),
    ("no_obs", "demo_1 has no 'obs'"),
    ("length", "obs/proprio has 6 steps but actions has 7"),
    ("nan", "demo_1/actions contain NaN or inf"),
    ("inf", "demo_1/actions contain NaN or inf"),
    ("img_dtype", "must be uint8"),
    ("img_shape", "must be (T, H, W, 3)"),
])
def test_bad_files(tmp_path, case, expect):
    path = tmp_path / "d.hdf5"
    if case == "not_hdf5":
        path.write_text("hello")
    elif case != "missing":
        write(path)
        ops = {
            "no_data": lambda f: f.move("data", "other"),
            "no_demos": lambda f: [f["data"].__delitem__(k) for k in list(f["data"].keys())],
            "no_actions": lambda f: f["data/demo_1"].__delitem__("actions"),
            "no_obs": lambda f: f["data/demo_1"].__delitem__("obs"),
            "length": lambda f: (f["data/demo_1/obs"].__delitem__("proprio"),
                                 f["data/demo_1/obs"].create_dataset("proprio", data=np.zeros((6, 3), np.float32))),
            "nan": lambda f: f["data/demo_1/actions"].__setitem__((2, 0), np.nan),
            "inf": lambda f: f["data/demo_1/actions"].__setitem__((0, 1), np.inf),
            "img_dtype": lambda f: (f["data/demo_1/obs"].__delitem__("front_image"),
                                    f["data/demo_1/obs"].create_dataset("front_image", data=np.zeros((7, H, H, 3), np.float32))),
            "img_shape": lambda f: (f["data/demo_1/obs"].__delitem__("front_image"),
                                    f["data/demo_1/obs"].create_dataset("front_image", data=np.zeros((7, H, H), np.uint8))),
        }
        _mutate(path, ops[case])
    with pytest.raises(DataError) as e:
        open_store(path)
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg and expect in msg, msg
    with pytest.raises(DataError):
        summary(path)


def test_robomimic_file_without_extras(tmp_path):
    """A plain robomimic file (no task features, modes, feature names; mask keys missing) opens."""
    path = tmp_path / "rm.hdf5"
    with h5py.File(path, "w") as f:
        data = f.create_group("data")
        data.attrs["env_args"] = json.dumps({"env_name": "Lift", "type": 1, "env_kwargs": {"has_renderer": False}})
        total = 0
        for i in range(3):
            g = data.create_group(f"demo_{i}")
            n = 4 + i
            g.create_dataset("actions", data=np.zeros((n, 7)))  # float64 in robomimic
            g.create_dataset("states", data=np.zeros((n, 32)))
            g.create_dataset("rewards", data=np.zeros(n))
            g.create_dataset("dones", data=np.zeros(n, np.int64))
            g.create_dataset("obs/agentview_image", data=np.zeros((n, 12, 12, 3), np.uint8))
            g.create_dataset("obs/robot0_eef_pos", data=np.zeros((n, 3)))
            g.attrs["num_samples"] = n
            total += n
        data.attrs["total"] = total
    with open_store(path) as s:
        assert s.env_id == "Lift" and s.cameras == ["agentview"] and s.image_size == 12
        assert s.task_features("demo_0") is None and s.mode("demo_0") == -1 and s.feature_names == []
        assert s.demo_names("train") == ["demo_0", "demo_1", "demo_2"] and s.demo_names("valid") == []
        assert not s.has_masks and s.proprio_dim == 0 and s.actions("demo_2").dtype == np.float32
        norm = Normalizer.from_store(s)
        assert set(norm.keys) == {"actions", "robot0_eef_pos"}
    text = summary(path)
    assert "all demos are train" in text and "not recorded" in text


def test_summary_and_hash(tmp_path):
    path = write(tmp_path / "d.hdf5")
    text = summary(path)
    for fact in ["robolearn/Fake-v0", "episodes   3 (train 2, valid 1)", "steps      18", "min 5", "max 7",
                 "mean 6.0", "obs/front_image", f"(18, {H}, {H}, 3)", "uint8", "actions", "(18, 2)", "float32",
                 "0: 2, 1: 1", "success    mean 1.000", "KiB", "front, wrist"]:
        assert fact in text, (fact, text)
    h1 = file_hash(path)
    assert h1 == file_hash(path) and len(h1) == 16
    _mutate(path, lambda f: f["data/demo_0/actions"].__setitem__((0, 0), 5.0))
    assert file_hash(path) != h1


def test_normalizer(tmp_path):
    path = write(tmp_path / "d.hdf5")
    with open_store(path) as s:
        norm = Normalizer.from_store(s, split="train")
        train = s.demo_names("train")
        acts = np.concatenate([s.actions(d) for d in train])
        prop = np.concatenate([s.obs(d, "proprio") for d in train])
    a = norm.normalize("actions", acts)
    assert a.dtype == np.float32
    np.testing.assert_allclose(a.min(0), -1, atol=1e-6)
    np.testing.assert_allclose(a.max(0), 1, atol=1e-6)
    p = norm.normalize("proprio", prop)
    assert np.isfinite(p).all()  # proprio[:, 2] is constant: zero range
    np.testing.assert_allclose(p[:, 2], 0, atol=1e-6)
    np.testing.assert_allclose(norm.unnormalize("proprio", p), prop, atol=1e-5)
    np.testing.assert_allclose(norm.unnormalize("actions", a), acts, atol=1e-5)
    # torch in, torch out; the same numbers
    ta = norm.normalize("actions", torch.from_numpy(acts))
    assert isinstance(ta, torch.Tensor) and ta.dtype == torch.float32
    np.testing.assert_allclose(ta.numpy(), a, atol=1e-6)
    np.testing.assert_allclose(norm.unnormalize("actions", ta).numpy(), acts, atol=1e-5)
    # baked form
    scale, offset = norm.params("actions")
    np.testing.assert_allclose(acts * scale + offset, a, atol=1e-6)
    tp = norm.as_torch_params()
    assert torch.allclose(tp["proprio"]["scale"], torch.from_numpy(norm.params("proprio")[0]))
    # all-zero-range key: still finite
    z = Normalizer.from_arrays({"actions": np.zeros((4, 3), np.float32)})
    assert np.isfinite(z.normalize("actions", np.zeros((2, 3), np.float32))).all()
    # save/load
    norm.save(tmp_path / "n.json")
    back = Normalizer.load(tmp_path / "n.json")
    np.testing.assert_allclose(back.normalize("proprio", prop), p, atol=1e-7)
    assert Normalizer.from_dict(norm.to_dict()).keys == norm.keys
    with pytest.raises(Exception, match="expects"):
        norm.normalize("actions", np.zeros((2, 5), np.float32))


def test_demostore_is_context_manager(tmp_path):
    path = write(tmp_path / "d.hdf5")
    with open_store(path) as s:
        assert isinstance(s, DemoStore)
    assert s.h5 is None
