"""Real robot recordings in, real robot policies out: LeRobot v3.0 folders shaped like public recordings
from real arms (tests/recordings.py: joints only, no reward/done, 480x640 h264 and AV1 mp4, the
(n-1)/fps to_timestamp, non-standard names, a missing video) import with the documented flags, train
from proprio alone and from a camera, and are judged offline against the two baselines."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from recordings import FPS, JOINTS, write_recording

from robolearn.cli import main
from robolearn.data.store import open_store, summary
from robolearn.data.video import resize

QUICK = ["--optim.steps", "50", "--optim.batch-size", "16", "--optim.warmup-steps", "5", "--optim.log-every", "25",
         "--optim.checkpoint-every", "50", "--optim.eval-every", "50", "--wandb", "disabled"]


def run_cli(args, capsys) -> tuple[int, str]:
    capsys.readouterr()
    rc = main([str(a) for a in args])
    return rc, capsys.readouterr().err.strip()


def warnings_in(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.startswith("warning: ")]


@pytest.fixture(scope="module")
def joints_only(tmp_path_factory):
    root = tmp_path_factory.mktemp("rec") / "so101_joints"
    return root, write_recording(root)


@pytest.fixture(scope="module")
def two_cameras(tmp_path_factory):
    """front: h264, wrist: AV1 (LeRobot's default codec), both 480x640; to_timestamp = (n-1)/fps."""
    root = tmp_path_factory.mktemp("rec") / "so101_cams"
    return root, write_recording(root, lengths=(6, 6, 6, 6), cameras={"front": "libx264", "wrist": "libsvtav1"},
                                 short_to=True)


@pytest.fixture(scope="module")
def joints_policy(joints_only, tmp_path_factory):
    """The joints-only recording imported with no options and a policy trained on its proprio."""
    root, truth = joints_only
    tmp = tmp_path_factory.mktemp("joints")
    store, pol = tmp / "joints.hdf5", tmp / "pol"
    assert main([str(a) for a in ["import", "lerobot", root, "--out", store]]) == 0
    assert main([str(a) for a in ["train", "--data", store, "--encoder", "state", "--out", pol, *QUICK]]) == 0
    return store, pol, truth


def test_joints_only_recording_imports_and_trains_from_proprio(joints_policy, tmp_path, capsys):
    store, pol, truth = joints_policy
    with open_store(store) as s:
        assert s.cameras == [] and s.lowdim_keys == ["proprio"]
        for i, d in enumerate(s.demo_names()):
            assert np.array_equal(s.actions(d), truth["action"][i]) and np.array_equal(s.obs(d, "proprio"), truth["state"][i])
        attrs = s.h5["data"].attrs
        assert json.loads(attrs["synthesized"]) == ["rewards", "dones"]
        assert attrs["robot_type"] == "so101_follower" and float(attrs["fps"]) == FPS
        assert json.loads(attrs["lerobot_features"])["proprio"] == {"feature": "observation.state", "names": JOINTS}
    text = summary(store)
    assert "synthesized rewards, dones" in text and "so101_follower" in text

    # --encoder state trained on proprio, as there is no privileged state; the policy says what it expects.
    meta = json.loads((pol / "policy.json").read_text())
    assert meta["lowdim"] == {"proprio": 6} and meta["cameras"] == []
    assert meta["dataset"]["robot_type"] == "so101_follower" and meta["dataset"]["fps"] == FPS
    assert meta["dataset"]["features"]["actions"] == {"feature": "action", "names": JOINTS}
    with open_store(store) as s:  # clipped to what the training demonstrations commanded
        acts = np.concatenate([s.actions(d) for d in s.demo_names("train")])
    assert meta["action_low"] == pytest.approx(acts.min(0).tolist()) and meta["action_high"] == pytest.approx(acts.max(0).tolist())
    assert np.isfinite(json.loads((pol / "results.json").read_text())["val/action_mse"])
    # An image encoder on it: one line naming the importer's options, not "collect it again".
    rc, err = run_cli(["train", "--data", store, "--encoder", "scratch", "--out", tmp_path / "pol2", *QUICK], capsys)
    assert rc == 2 and len(err.splitlines()) == 1 and "--cameras" in err and "collect" not in err, err
    # No task to roll out in: rollouts point to the offline evaluation.
    rc, err = run_cli(["eval", "--policy", pol, "--out", tmp_path / "ev", "--wandb", "disabled"], capsys)
    assert rc == 2 and len(err.splitlines()) == 1 and "eval-offline" in err, err


def test_cameras_at_480x640_import_resized_with_the_short_timestamp_convention(two_cameras, tmp_path, capsys):
    root, truth = two_cameras
    out = tmp_path / "cams.hdf5"
    rc, err = run_cli(["import", "lerobot", root, "--out", out, "--image-size", "32"], capsys)
    assert rc == 0, err
    warns = warnings_in(err)
    assert len(warns) == 1 and "(n-1)/fps" in warns[0], err
    with open_store(out) as s:
        assert s.cameras == ["front", "wrist"] and s.image_shape == (32, 32)
        for cam in ("front", "wrist"):
            for i, d in enumerate(s.demo_names()):
                got = s.obs(d, f"{cam}_image").astype(float)
                want = resize(truth["frames"][cam][i], 32, 32).astype(float)
                assert len(got) == 6 and np.abs(got - want).mean() < 6, (cam, d)  # every frame, lossy codec

    # A subset, and none at all.
    rc, err = run_cli(["import", "lerobot", root, "--out", tmp_path / "front.hdf5", "--image-size", "32",
                       "--cameras", "front"], capsys)
    assert rc == 0, err
    with open_store(tmp_path / "front.hdf5") as s:
        assert s.cameras == ["front"]
    rc, err = run_cli(["import", "lerobot", root, "--out", tmp_path / "none.hdf5", "--cameras", "none"], capsys)
    assert rc == 0 and not warnings_in(err), err  # no camera read, so no timestamp warning
    with open_store(tmp_path / "none.hdf5") as s:
        assert s.cameras == [] and s.lowdim_keys == ["proprio"]

    # One camera + proprio, end to end; and the camera alone.
    rc, err = run_cli(["train", "--data", tmp_path / "front.hdf5", "--encoder", "scratch", "--out", tmp_path / "img_pol",
                       *QUICK], capsys)
    assert rc == 0, err
    meta = json.loads((tmp_path / "img_pol/policy.json").read_text())
    assert meta["cameras"] == ["front"] and meta["lowdim"] == {"proprio": 6}
    # Judged offline and exported: the bundle takes a LeRobot robot's observation (joints by name,
    # the frame by camera name) as well as its own keys.
    rc, err = run_cli(["eval-offline", "--policy", tmp_path / "img_pol", "--out", tmp_path / "img_off"], capsys)
    assert rc == 0, err
    assert len(json.loads((tmp_path / "img_off/results.json").read_text())["executed"]["policy"]["mae"]) == 6
    rc, err = run_cli(["export", "--policy", tmp_path / "img_pol", "--out", tmp_path / "img_bundle"], capsys)
    assert rc == 0, err
    from robolearn.runtime import BundlePolicy

    bundle = BundlePolicy(tmp_path / "img_bundle")
    with open_store(tmp_path / "front.hdf5") as s:
        frame, joints = s.obs("demo_0", "front_image")[0], s.obs("demo_0", "proprio")[0]
    a = bundle.act({"front_image": frame, "proprio": joints})
    bundle.reset()
    np.testing.assert_allclose(bundle.act({"front": frame, **dict(zip(JOINTS, joints.tolist()))}), a, rtol=1e-6)
    rc, err = run_cli(["train", "--data", tmp_path / "front.hdf5", "--encoder", "scratch", "--no-use-proprio",
                       "--out", tmp_path / "img_only", *QUICK], capsys)
    assert rc == 0, err
    assert json.loads((tmp_path / "img_only/policy.json").read_text())["lowdim"] == {}
    # A frozen encoder (pretrained on these frames) + proprio.
    rc, err = run_cli(["pretrain", "--data", tmp_path / "front.hdf5", "--objective", "none", "--out", tmp_path / "enc",
                       "--wandb", "disabled"], capsys)
    assert rc == 0, err
    rc, err = run_cli(["train", "--data", tmp_path / "front.hdf5", "--encoder", tmp_path / "enc",
                       "--out", tmp_path / "frozen_pol", *QUICK], capsys)
    assert rc == 0, err
    assert json.loads((tmp_path / "frozen_pol/policy.json").read_text())["features"] == "frozen"


def _spoil_spans(root, shift_frames):
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = root / "meta/episodes/chunk-000/file-000.parquet"
    t = pq.read_table(p)
    col = "videos/observation.images.front/to_timestamp"
    v = np.asarray(t.column(col).to_pylist()) - shift_frames / FPS
    pq.write_table(t.set_column(t.schema.get_field_index(col), col, pa.array(v)), p)


@pytest.mark.parametrize("case", ["two frames short", "segments overlap"])
def test_larger_timestamp_mismatches_stay_errors(case, tmp_path, capsys):
    root = tmp_path / "ds"
    if case == "two frames short":
        write_recording(root, lengths=(5, 5), cameras={"front": "libx264"}, short_to=True)
        _spoil_spans(root, 1)
        expected = "spans 3.0 frames"
    else:
        write_recording(root, lengths=(5, 5), cameras={"front": "libx264"}, short_to=True, overlap=True)
        expected = "inside those frames"
    rc, err = run_cli(["import", "lerobot", root, "--out", tmp_path / "o.hdf5"], capsys)
    assert rc == 2 and err.startswith("error: ") and len(err.splitlines()) == 1 and expected in err, err
    assert not (tmp_path / "o.hdf5").exists()


def test_missing_video_stops_naming_the_camera_or_drops_it(two_cameras, tmp_path, capsys):
    src, _ = two_cameras
    root = tmp_path / "ds"
    shutil.copytree(src, root)
    shutil.rmtree(root / "videos/observation.images.wrist")
    out = tmp_path / "o.hdf5"
    rc, err = run_cli(["import", "lerobot", root, "--out", out, "--image-size", "32"], capsys)
    assert rc == 2 and len(err.splitlines()) == 1 and "camera 'wrist'" in err and "--drop-bad-cameras" in err, err
    assert not out.exists()
    rc, err = run_cli(["import", "lerobot", root, "--out", out, "--image-size", "32", "--drop-bad-cameras"], capsys)
    assert rc == 0, err
    assert any("dropping camera 'wrist'" in w for w in warnings_in(err)), err
    with open_store(out) as s:
        assert s.cameras == ["front"]
    rc, err = run_cli(["train", "--data", out, "--encoder", "scratch", "--out", tmp_path / "pol", *QUICK], capsys)
    assert rc == 0, err


def test_non_standard_names_import_with_map(tmp_path, capsys):
    root = tmp_path / "ds"
    truth = write_recording(root, lengths=(5, 6), cameras={"image": "libx264"},
                            names={"action": "actions", "observation.state": "state",
                                   "observation.images.image": "image"})
    out = tmp_path / "o.hdf5"
    rc, err = run_cli(["import", "lerobot", root, "--out", out], capsys)
    assert rc == 2 and "--map actions=action" in err and len(err.splitlines()) == 1, err
    rc, err = run_cli(["import", "lerobot", root, "--out", out, "--image-size", "32", "--map", "actions=action",
                       "state=observation.state", "image=observation.images.image"], capsys)
    assert rc == 0, err
    with open_store(out) as s:
        assert s.cameras == ["image"] and s.lowdim_keys == ["proprio"]
        assert np.array_equal(s.actions("demo_1"), truth["action"][1])
        assert np.array_equal(s.obs("demo_1", "proprio"), truth["state"][1])
        feats = json.loads(s.h5["data"].attrs["lerobot_features"])
        assert feats["proprio"] == {"feature": "observation.state", "column": "state", "names": JOINTS}
    for enc in ("state", "scratch"):
        rc, err = run_cli(["train", "--data", out, "--encoder", enc, "--out", tmp_path / enc, *QUICK], capsys)
        assert rc == 0, err
    rc, err = run_cli(["import", "lerobot", root, "--out", out, "--overwrite", "--map", "nope=action"], capsys)
    assert rc == 2 and "no feature 'nope'" in err, err


def test_eval_offline_reports_action_error_beside_both_baselines(joints_policy, tmp_path, capsys):
    from robolearn.evaluation.offline import executed, predict_chunks
    from robolearn.policies.policy import Policy

    store, pol, _ = joints_policy
    out = tmp_path / "offline"
    capsys.readouterr()
    rc = main(["eval-offline", "--policy", str(pol), "--out", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0
    r = json.loads((out / "results.json").read_text())
    assert r["split"] == "valid" and r["episodes"] >= 1 and r["action_names"] == JOINTS
    for who in ("policy", "train_mean", "repeat_previous"):
        assert len(r["executed"][who]["mae"]) == 6 and np.isfinite(r["executed"][who]["nmae"])
        assert len(r["by_chunk_position"][who]) == r["pred_horizon"] == 5  # the MLP head's chunk
    assert "shoulder_pan.pos" in printed and "repeat_previous" in printed and "chunk position" in printed
    # The baselines are what they say: recomputed here from the recorded actions.
    with open_store(store) as s:
        valid = s.demo_names("valid")
        acts = [s.actions(d) for d in valid]
        policy = Policy.load(pol)
        mean = policy.normalizer.stats("actions")["mean"]
        want_mean = np.abs(np.concatenate(acts) - mean).mean(0)
        want_prev = np.abs(np.concatenate([np.concatenate([mean[None], a[:-1]]) - a for a in acts])).mean(0)
        assert r["executed"]["train_mean"]["mae"] == pytest.approx(want_mean.tolist(), rel=1e-4)
        assert r["executed"]["repeat_previous"]["mae"] == pytest.approx(want_prev.tolist(), rel=1e-4)
        # The executed actions are the ones the Policy sends, step by step, with its queue.
        d = valid[0]
        got = executed(predict_chunks(policy, s, d, None), policy.action_horizon)
        policy.reset()
        stepped = np.stack([policy.select_action({"proprio": s.obs(d, "proprio")[t]}) for t in range(s.length(d))])
        np.testing.assert_allclose(got, stepped, rtol=1e-5, atol=1e-4)
    rc, err = run_cli(["eval-offline", "--policy", pol, "--out", out], capsys)
    assert rc == 2 and "--overwrite" in err


def test_bundle_says_what_the_robot_must_send(joints_policy, tmp_path, capsys):
    from robolearn.runtime import BundleError, BundlePolicy

    store, pol, truth = joints_policy
    bundle = tmp_path / "bundle"
    rc, err = run_cli(["export", "--policy", pol, "--out", bundle], capsys)
    assert rc == 0, err
    spec = json.loads((bundle / "policy.json").read_text())
    assert spec["control_hz"] == FPS and spec["dataset"]["robot_type"] == "so101_follower"
    assert spec["observation"]["features"]["proprio"] == {"feature": "observation.state", "names": JOINTS}
    assert spec["action"]["names"] == JOINTS and len(spec["action"]["low"]) == 6
    # Parity in units of each joint's half-range (float32 rounding of degrees is not a failure).
    assert spec["parity"]["max_error"] <= 1e-4 and spec["parity"]["max_abs_error"] >= spec["parity"]["max_error"]
    p = BundlePolicy(bundle)
    state = truth["state"][0][0]
    a = p.act({"proprio": state})
    for obs in ({"observation.state": state}, dict(zip(JOINTS, state.tolist()))):  # LeRobot's names
        p.reset()
        np.testing.assert_allclose(p.act(obs), a, rtol=1e-6)
    assert list(p.action_dict(a)) == JOINTS
    low, high = np.asarray(spec["action"]["low"]), np.asarray(spec["action"]["high"])
    assert (a >= low - 1e-4).all() and (a <= high + 1e-4).all()
    with pytest.raises(BundleError, match="lacks 'gripper.pos' of observation.state") as e:
        p.act(dict(zip(JOINTS[:5], state.tolist())))
    assert len(str(e.value).splitlines()) == 1
    with pytest.raises(BundleError, match="LeRobot: 'observation.state'"):
        p.act({"observation.images.front": np.zeros((32, 32, 3), np.uint8)})


def test_export_writes_lerobots_per_episode_stats(two_cameras, tmp_path, capsys):
    """meta/episodes carries stats/<feature>/<stat> per episode as LeRobot's writer adds them (its
    split_dataset and delete_episodes rebuild stats.json from these), next.done's included; rewards
    the import synthesized do not go out as if they had been recorded."""
    import pyarrow.parquet as pq

    root, _ = two_cameras
    store = tmp_path / "front.hdf5"
    assert run_cli(["import", "lerobot", root, "--out", store, "--image-size", "32", "--cameras", "front"], capsys)[0] == 0
    out = tmp_path / "again"
    rc, err = run_cli(["export-data", "lerobot", store, "--out", out], capsys)
    assert rc == 0, err
    eps = pq.read_table(out / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    info = json.loads((out / "meta/info.json").read_text())
    assert "next.reward" not in info["features"] and info["features"]["next.done"]["dtype"] == "bool"
    assert info["robot_type"] == "so101_follower" and info["features"]["observation.state"]["names"] == JOINTS
    assert info["features"]["action"]["names"] == JOINTS
    stat_names = ["min", "max", "mean", "std", "count", "q01", "q10", "q50", "q90", "q99"]
    for feat in ("action", "observation.state", "observation.images.front", "next.done", "timestamp", "frame_index",
                 "episode_index", "index", "task_index"):
        assert all(f"stats/{feat}/{s}" in eps[0] for s in stat_names), feat
    with open_store(store) as s:
        for e, d in enumerate(s.demo_names()):
            ep, n = eps[e], s.length(d)
            assert ep["stats/action/count"] == [n] and ep["stats/observation.images.front/count"] == [n]
            np.testing.assert_allclose(ep["stats/action/mean"], s.actions(d).mean(0), rtol=1e-5)
            np.testing.assert_allclose(ep["stats/observation.state/max"], s.obs(d, "proprio").max(0), rtol=1e-6)
            assert ep["stats/next.done/max"] == [1.0] and ep["stats/next.done/mean"] == pytest.approx([1 / n])
            assert ep["stats/frame_index/max"] == [n - 1]
            img = np.asarray(ep["stats/observation.images.front/mean"])
            assert img.shape == (3, 1, 1)
            np.testing.assert_allclose(img.reshape(3), s.obs(d, "front_image").reshape(-1, 3).mean(0) / 255, rtol=1e-6)
    assert "next.done" in json.loads((out / "meta/stats.json").read_text())
    rc, err = run_cli(["import", "lerobot", out, "--out", tmp_path / "back.hdf5"], capsys)
    assert rc == 0, err
