"""Export and the torch-free runtime, on small real policies trained on PointMass demos.

Parity is checked the way a robot runs the bundle: whole validation episodes stepped in order
through the torch `Policy` and the `BundlePolicy` (observation history, action queue, the same
noise), not single frames.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from robolearn.config import ExportConfig, OptimConfig, PretrainConfig, TrainConfig
from robolearn.policies import HEADS as HEAD_REGISTRY
from robolearn.policies.diffusion import DiffusionConfig
from robolearn.policies.mlp import MlpConfig
from robolearn.policies.vqbet import VqbetConfig
from robolearn.errors import RobolearnError
from robolearn.runtime import BundleError, BundlePolicy

# Small heads: parity does not depend on size or training, and the suite must stay fast. mlp runs
# with T_o = 2 and T_a < T so history, the `plan` switch and the queue are all exercised.
HEAD_CONFIGS = {
    "mlp": dict(obs_horizon=2, pred_horizon=5, action_horizon=3, mlp=MlpConfig(hidden=64, depth=2)),
    "knn": dict(),
    "vqbet": dict(vqbet=VqbetConfig(vq_steps=30, gpt_layers=1, gpt_heads=2, gpt_embed=32, head_hidden=64,
                                    vq_hidden=32, vq_latent=32)),
    # With an observation MLP: the option changes what the exported denoiser computes.
    "diffusion": dict(diffusion=DiffusionConfig(down_dims=(16, 32), step_embed=32, cond_mlp=(16,))),
}


# The registry decides which heads the parity tests run on (a head added there is tested here).
HEADS = sorted(HEAD_REGISTRY)


def test_every_head_is_exported():
    """Every registered head has a small config above, so none drops out of the parity tests; a
    head that fails to import is missing from the registry and fails here too."""
    from robolearn.policies import get_head

    assert sorted(HEAD_CONFIGS) == HEADS, "a registered head without an entry in HEAD_CONFIGS (or a stale entry)"
    assert {"mlp", "knn", "vqbet", "diffusion"} <= set(HEADS)
    for head in HEADS:
        assert get_head(head).name == head


@pytest.fixture(scope="module")
def pm_encoder(pointmass_demos, tmp_path_factory):
    from robolearn.pretrain import pretrain

    return pretrain(PretrainConfig(data=pointmass_demos, out=tmp_path_factory.mktemp("exp_enc") / "enc",
                                   objective="none", wandb="disabled"))


@pytest.fixture(scope="module")
def policies(pointmass_demos, pm_encoder, tmp_path_factory):
    """head -> trained policy run folder (trained on first use)."""
    from robolearn.train import train

    root, runs = tmp_path_factory.mktemp("exp_pol"), {}

    def get(head: str) -> Path:
        if head not in runs:
            optim = OptimConfig(steps=10, batch_size=32, warmup_steps=2, checkpoint_every=1000, eval_every=1000,
                                log_every=5)
            runs[head] = train(TrainConfig(data=pointmass_demos, encoder=str(pm_encoder), out=root / head, head=head,
                                           wandb="disabled", optim=optim, **HEAD_CONFIGS[head]))
        return runs[head]

    return get


@pytest.fixture(scope="module")
def bundles(policies, tmp_path_factory):
    """head -> exported bundle folder (exported on first use)."""
    from robolearn.export import export

    root, out = tmp_path_factory.mktemp("exp_bundle"), {}

    def get(head: str) -> Path:
        if head not in out:
            out[head] = export(ExportConfig(policy=policies(head), out=root / head))
        return out[head]

    return get


def valid_episodes(policy_dir: Path):
    """(demo, step, obs) over every validation episode, whole."""
    from robolearn.data.store import open_store
    from robolearn.export import parity_frames
    from robolearn.policies.policy import Policy

    policy = Policy.load(policy_dir)
    store = open_store(policy.meta["data"])
    demos = store.demo_names("valid")
    assert demos
    total = sum(store.length(d) for d in demos)
    return policy, store, list(parity_frames(store, demos, policy.cameras, policy.lowdim_keys, total))


# ----------------------------------------------------------------------------- parity
@pytest.mark.slow
@pytest.mark.parametrize("head", HEADS)
def test_parity_over_whole_episodes(head, policies, bundles):
    from robolearn.export import check_parity

    bundle_dir = bundles(head)
    spec = json.loads((bundle_dir / "policy.json").read_text())
    tol = 1e-3 if head == "diffusion" else 1e-4  # the head's export_tolerance (see DiffusionHead)
    assert spec["parity"]["tolerance"] == tol
    assert spec["parity"]["max_abs_error"] <= tol and spec["parity"]["frames"] > 0

    policy, store, steps = valid_episodes(policies(head))
    try:
        bundle = BundlePolicy(bundle_dir, seed=3)
        result = check_parity(policy, bundle, steps, seed=7)
    finally:
        store.close()
    assert result["frames"] == len(steps) > policy.action_horizon
    assert result["max_abs_error"] <= tol, result

    # The spec says what the robot must feed and how often.
    assert spec["spec_version"] == 1 and spec["head"] == head
    assert spec["obs_horizon"] == policy.obs_horizon and spec["action_horizon"] == policy.action_horizon
    assert spec["weights_hash"] == policy.meta["weights_hash"] and spec["control_hz"] > 0
    assert (spec["noise"] is None) == (policy.head.noise_shape(1) is None)
    assert not [p for p in bundle_dir.iterdir() if p.suffix in (".pt", ".pth", ".pkl", ".ckpt", ".data")]


@pytest.mark.slow
@pytest.mark.parametrize("head", [h for h in ("vqbet", "diffusion") if h in HEADS])
def test_generative_noise_is_seeded(head, bundles):
    bundle_dir = bundles(head)
    spec = json.loads((bundle_dir / "policy.json").read_text())
    assert spec["noise"]["distribution"] == {"vqbet": "uniform", "diffusion": "normal"}[head]
    rng = np.random.default_rng(0)
    obs = {"top_image": rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), "proprio": rng.normal(size=4).astype(np.float32)}

    def first_action(seed):
        b = BundlePolicy(bundle_dir, seed=seed)
        return b.act(obs)

    np.testing.assert_array_equal(first_action(1), first_action(1))
    if head == "diffusion":  # a different seed, different initial noise (VQ-BeT may pick the same codes)
        assert not np.array_equal(first_action(1), first_action(2))


@pytest.mark.slow
def test_plan_switch_skips_the_head(bundles):
    """With T_o > 1 the head runs every T_a steps only; the other steps just encode the frame."""
    b = BundlePolicy(bundles("mlp"))
    assert b.obs_horizon == 2 and b.action_horizon == 3
    assert "plan" not in {i.name for i in b.session.get_inputs()}  # defaulted: callers may ignore it
    obs = {"top_image": np.zeros((32, 32, 3), np.uint8), "proprio": np.zeros(4, np.float32)}
    planned = []
    for _ in range(7):
        b.act(obs)
        planned.append(b.last_planned)
    assert planned == [True, False, False, True, False, False, True]
    feeds = b.check_obs(obs)
    images, proprio = feeds["images"], feeds["proprio"]
    actions, feats = b.run(feeds, plan=False)
    assert actions is None and feats.shape == (1, b.feature_dim)
    # The graph's batch axis is dynamic (the runtime pins it to one robot); `plan` defaults to True.
    import onnxruntime as ort

    sess = ort.InferenceSession(str(bundles("mlp") / "policy.onnx"), providers=["CPUExecutionProvider"])
    feeds = {"images": np.repeat(images, 3, 0), "proprio": np.repeat(proprio, 3, 0),
             "history": np.repeat(feats[:, None], 3, 0)}
    actions, feats3 = sess.run(["actions", "features"], feeds)
    assert actions.shape == (3, b.pred_horizon, b.action_dim) and feats3.shape == (3, b.feature_dim)
    np.testing.assert_allclose(actions[1], b.run(images, proprio, feats[:, None])[0][0], atol=1e-5)
    np.testing.assert_allclose(actions[1], b.run(b.check_obs(obs), history=feats[:, None])[0][0], atol=1e-5)


@pytest.mark.slow
def test_temporal_ensemble_averages_overlapping_chunks(bundles):
    k = 0.5
    b = BundlePolicy(bundles("mlp"), temporal_ensemble=k)
    ref = BundlePolicy(bundles("mlp"))
    rng = np.random.default_rng(0)
    chunks, hist = [], None
    for t in range(7):
        obs = {"top_image": rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), "proprio": rng.normal(size=4).astype(np.float32)}
        action = b.act(obs)
        assert b.last_planned
        feeds = ref.check_obs(obs)
        images, proprio = feeds["images"], feeds["proprio"]
        if hist is None:
            hist = ref.run(images, proprio, plan=False)[1][:, None]
        chunk, feats = ref.run(images, proprio, hist)
        hist = feats[:, None]
        chunks.append(chunk[0])
        preds = [c[t - s] for s, c in enumerate(chunks) if t - s < len(c)]  # oldest first
        w = np.exp(-k * np.arange(len(preds)))
        want = np.clip((np.stack(preds) * (w / w.sum())[:, None]).sum(0), -1, 1)
        np.testing.assert_allclose(action, want, atol=1e-5)


# ----------------------------------------------------------------------------- torch-free runtime
@pytest.mark.slow
def test_runtime_runs_without_torch(bundles, tmp_path):
    bundle_dir = bundles("mlp")
    action_dim = json.loads((bundle_dir / "policy.json").read_text())["action"]["dim"]
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "obs.npz", top_image=rng.integers(0, 256, (32, 32, 3), dtype=np.uint8),
             proprio=rng.normal(size=4).astype(np.float32))
    code = textwrap.dedent(f"""
        import sys
        sys.modules["torch"] = None  # any `import torch` now raises ImportError
        import numpy as np
        from robolearn.runtime import BundlePolicy
        obs = dict(np.load({str(tmp_path / 'obs.npz')!r}))
        policy = BundlePolicy({str(bundle_dir)!r})
        actions = [policy.act(obs) for _ in range(4)]
        assert all(a.shape == ({action_dim},) and a.dtype == np.float32 for a in actions)
        assert not [m for m in sys.modules if m.startswith("torch") and sys.modules[m] is not None]
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


# ----------------------------------------------------------------------------- bad inputs
@pytest.mark.slow
def test_bad_observations(bundles):
    b = BundlePolicy(bundles("mlp"))
    good = {"top_image": np.zeros((32, 32, 3), np.uint8), "proprio": np.zeros(4, np.float32)}
    b.act(good)
    cases = [
        ({"proprio": good["proprio"]}, "no 'top_image'"),
        ({**good, "top_image": np.zeros((32, 32, 3), np.float32)}, "'top_image' must be uint8"),
        ({**good, "top_image": np.zeros((64, 64, 3), np.uint8)}, "'top_image' must have shape (32, 32, 3)"),
        ({**good, "top_image": np.zeros((1, 32, 32, 3), np.uint8)}, "'top_image' must have shape"),
        ({"top_image": good["top_image"]}, "no 'proprio'"),
        ({**good, "proprio": np.zeros(5, np.float32)}, "'proprio' must have shape (4,)"),
        ({**good, "proprio": np.zeros(4, np.int64)}, "'proprio' must be a float array"),
        ({**good, "proprio": np.full(4, np.nan, np.float32)}, "NaN"),
        ([1, 2], "must be a dict"),
    ]
    for obs, msg in cases:
        with pytest.raises(BundleError) as e:
            b.act(obs)
        assert msg in str(e.value), (msg, str(e.value))
    assert isinstance(BundleError("x"), ValueError)


def _copy(bundles, tmp_path, name="b") -> Path:
    dst = tmp_path / name
    shutil.copytree(bundles("mlp"), dst)
    return dst


def _edit_spec(path: Path, fn) -> None:
    spec = json.loads((path / "policy.json").read_text())
    fn(spec)
    (path / "policy.json").write_text(json.dumps(spec))


@pytest.mark.slow
def test_bad_bundles(bundles, tmp_path):
    from robolearn.runtime import sha256_file

    def err(path) -> str:
        with pytest.raises(BundleError) as e:
            BundlePolicy(path)
        return str(e.value)

    assert "no such bundle folder" in err(tmp_path / "nowhere")

    b = _copy(bundles, tmp_path, "nospec")
    (b / "policy.json").unlink()
    assert "policy.json: missing" in err(b)

    b = _copy(bundles, tmp_path, "badjson")
    (b / "policy.json").write_text("{not json")
    assert "not valid JSON" in err(b)

    b = _copy(bundles, tmp_path, "version")
    _edit_spec(b, lambda s: s.update(spec_version=2))
    assert "unsupported spec_version 2" in err(b)

    b = _copy(bundles, tmp_path, "nofield")
    _edit_spec(b, lambda s: s.pop("action"))
    assert "missing field 'action'" in err(b)

    b = _copy(bundles, tmp_path, "badfield")
    _edit_spec(b, lambda s: s.update(obs_horizon="2"))
    assert "'obs_horizon' must be int" in err(b)

    b = _copy(bundles, tmp_path, "noonnx")
    (b / "policy.onnx").unlink()
    assert "policy.onnx: missing" in err(b)

    b = _copy(bundles, tmp_path, "corrupt")
    data = (b / "policy.onnx").read_bytes()
    (b / "policy.onnx").write_bytes(data[: len(data) // 2])
    assert "do not match the sha256" in err(b)
    # Corrupt, with a matching hash (as if policy.json were rewritten too): onnxruntime's refusal.
    _edit_spec(b, lambda s: s["graph"].update(sha256=sha256_file(b / "policy.onnx")))
    assert "onnxruntime cannot load it" in err(b)

    b = _copy(bundles, tmp_path, "mismatch")  # spec and graph disagree
    _edit_spec(b, lambda s: s["observation"]["keys"]["proprio"].update(shape=[5]))
    assert "input 'proprio'" in err(b)


# ----------------------------------------------------------------------------- export behaviour
@pytest.mark.slow
def test_round_trip_through_the_cli_and_the_env(policies, tmp_path, capsys):
    from robolearn.cli import main
    from robolearn.envs import make_env

    out = tmp_path / "bundle"
    assert main(["export", "--policy", str(policies("knn")), "--out", str(out), "--parity-frames", "16"]) == 0
    assert set(p.name for p in out.iterdir()) == {"policy.onnx", "policy.json", "README.txt"}
    assert not list(tmp_path.glob(".bundle*"))  # no temporary folder left beside it
    readme = (out / "README.txt").read_text()
    assert "onnxruntime" in readme and "top_image" in readme

    policy = BundlePolicy(out, seed=0)
    env = make_env(policy.env_id, **policy.env_kwargs)
    try:
        obs, _ = env.reset(seed=123)
        policy.reset()
        for _ in range(10):
            action = policy.act(obs)
            assert action.shape == (policy.action_dim,) and action.dtype == np.float32
            assert np.all(np.abs(action) <= 1.0)
            obs, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                break
    finally:
        env.close()

    # The example robot loop drives the env from the bundle alone.
    import importlib.util

    spec = importlib.util.spec_from_file_location("robot_loop", Path(__file__).parents[1] / "examples" / "robot_loop.py")
    loop = importlib.util.module_from_spec(spec)
    sys.modules["robot_loop"] = loop  # dataclasses resolve annotations through sys.modules
    try:
        spec.loader.exec_module(loop)
    finally:
        sys.modules.pop("robot_loop", None)
    assert loop.main(loop.Args(bundle=out, episodes=1, fast=True, horizon=8)) == 0
    assert "success rate" in capsys.readouterr().out

    # A second export to the same place is refused (exit 2, one line) unless --overwrite.
    capsys.readouterr()
    assert main(["export", "--policy", str(policies("knn")), "--out", str(out), "--parity-frames", "4"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["export", "--policy", str(policies("knn")), "--out", str(out), "--parity-frames", "4", "--overwrite"]) == 0
    assert json.loads((out / "policy.json").read_text())["parity"]["frames"] == 4


@pytest.mark.slow
def test_overwrite_never_replaces_a_foreign_folder(policies, tmp_path):
    from robolearn.export import export

    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(RobolearnError, match="not a robolearn bundle"):
        export(ExportConfig(policy=policies("knn"), out=out, overwrite=True, parity_frames=4))
    assert (out / "notes.txt").read_text() == "keep me"


@pytest.mark.slow
def test_refuses_a_bundle_that_fails_parity(policies, tmp_path, monkeypatch):
    """A real graph defect (one weight of the exported graph changed) must stop the export."""
    import onnx
    from onnx import numpy_helper

    import robolearn.export as ex

    real = ex.export_onnx

    def corrupting(graph, example, path):
        exporter = real(graph, example, path)
        model = onnx.load(str(path))
        heads = [t for t in model.graph.initializer if t.name.startswith("head.") and t.data_type == onnx.TensorProto.FLOAT]
        init = max(heads, key=lambda t: int(np.prod(t.dims)))
        w = numpy_helper.to_array(init) * 1.5 + 0.01
        init.CopyFrom(numpy_helper.from_array(w, init.name))
        onnx.save(model, str(path))
        return exporter

    monkeypatch.setattr(ex, "export_onnx", corrupting)
    out = tmp_path / "bundle"
    with pytest.raises(RobolearnError) as e:
        ex.export(ExportConfig(policy=policies("mlp"), out=out))
    msg = str(e.value)
    assert msg.startswith("parity check failed") and "no bundle written" in msg and "\n" not in msg
    assert not out.exists() and not list(tmp_path.iterdir())


@pytest.mark.slow
def test_dynamo_exporter_fallback(policies, tmp_path, monkeypatch):
    """When the TorchScript exporter fails on an op, torch.export writes the graph, `plan` included."""
    real = torch.onnx.export

    def torchscript_fails(*args, dynamo=True, **kwargs):
        if not dynamo:
            raise RuntimeError("pretend the TorchScript exporter lacks an op")
        return real(*args, dynamo=dynamo, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", torchscript_fails)
    from robolearn.export import export

    out = export(ExportConfig(policy=policies("mlp"), out=tmp_path / "b", parity_frames=24))
    spec = json.loads((out / "policy.json").read_text())
    assert spec["graph"]["exporter"] == "torch.onnx (dynamo)" and spec["parity"]["max_abs_error"] <= 1e-4
    assert BundlePolicy(out)._has_plan


@pytest.mark.slow
def test_policy_select_action_takes_explicit_noise(policies):
    """The torch side of parity: the same explicit noise gives the same chunk as the head's predict."""
    from robolearn.policies.policy import Policy

    if "diffusion" not in HEADS:
        pytest.skip("no diffusion head")
    policy = Policy.load(policies("diffusion"))
    obs = {"top_image": np.zeros((32, 32, 3), np.uint8), "proprio": np.zeros(4, np.float32)}
    noise = torch.randn(policy.head.noise_shape(1)[1:], generator=torch.Generator().manual_seed(0))
    a1 = policy.select_action(obs, noise=noise)
    policy.reset()
    a2 = policy.select_action(obs, noise=noise.numpy())
    policy.reset()
    a3 = policy.select_action(obs, noise=noise + 1.0)
    np.testing.assert_array_equal(a1, a2)
    assert not np.array_equal(a1, a3)
