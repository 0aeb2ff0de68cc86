"""Policies that succeed: standardized embeddings, the state ceiling, end-to-end training, the kNN
replay, an independent expert stream, and the bundle with embedding statistics."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from robolearn.config import CollectConfig, EvalConfig, ExportConfig, OptimConfig, PretrainConfig, TrainConfig


def quick_optim(steps, **kw):
    base = dict(steps=steps, batch_size=128, warmup_steps=20, checkpoint_every=steps, eval_every=steps, log_every=25)
    base.update(kw)
    return OptimConfig(**base)


@pytest.fixture(scope="module")
def pm(tmp_path_factory):
    """60 PointMass demos at 32 px, all in the training split (demo i is seed i), and a frozen random encoder."""
    from robolearn.data.collect import collect
    from robolearn.pretrain import pretrain

    root = tmp_path_factory.mktemp("pm60")
    demos = collect(CollectConfig(env="robolearn/PointMass-v0", episodes=60, out=root / "demos.hdf5",
                                  image_size=32, workers=1, valid_fraction=0.0))
    enc = pretrain(PretrainConfig(data=demos, out=root / "none", objective="none", wandb="disabled"))
    return root, demos, enc


def test_expert_mode_is_independent_of_the_scene():
    """The hidden assignment once equalled the sign of target 1's x-jitter in 400/400 episodes."""
    from robolearn.envs import expert_rng, get_task, make_env
    from robolearn.envs.blockpush import TARGET_BASE

    env = make_env("robolearn/BlockPush-v0", render=False)
    task = get_task("robolearn/BlockPush-v0")
    swaps, jitter_signs, firsts, left_block = [], [], [], []
    for seed in range(400):
        env.reset(seed=seed)
        e = task.expert(env, expert_rng(seed))
        swaps.append(e.swap)
        firsts.append(e.first_block)
        jitter_signs.append(env.unwrapped.target_pos(0)[0] > TARGET_BASE[0][0])
        left_block.append(env.unwrapped.block_pos(0)[0] < env.unwrapped.block_pos(1)[0])
    env.close()
    swaps, firsts = np.array(swaps), np.array(firsts)
    for scene in (np.array(jitter_signs), np.array(left_block)):
        for mode in (swaps, firsts):
            agree = float(np.mean(mode == scene))
            # Independent: agreement ~ Binomial(400, 0.5)/400, std 0.025; 0.42-0.58 is over 3 std.
            assert 0.42 < agree < 0.58, agree
    assert 0.4 < swaps.mean() < 0.6 and 0.4 < firsts.mean() < 0.6


def test_blockpush_saved_state_keeps_first_block():
    from robolearn.envs import make_env

    env = make_env("robolearn/BlockPush-v0", render=False)
    env.reset(seed=3)
    u = env.unwrapped
    u.first_block = 1
    state = u.get_state()
    env.reset(seed=4)
    assert u.first_block == -1
    u.set_state(state)
    assert u.first_block == 1
    env.close()


@pytest.mark.slow
def test_frozen_embedding_is_standardized_for_the_head(pm, tmp_path):
    """What the head sees, not what a probe sees: per-dimension mean ~0 and std ~1 on the training
    split, whatever the raw embedding's scale."""
    from robolearn.data.store import open_store
    from robolearn.embeddings import embed_demos
    from robolearn.policies.policy import Policy
    from robolearn.train import demo_features, train

    root, demos, enc = pm
    pol = train(TrainConfig(data=demos, encoder=str(enc), out=tmp_path / "mlp", head="mlp",
                            optim=quick_optim(20), wandb="disabled"))
    policy = Policy.load(pol)
    with open_store(demos) as store:
        names = store.demo_names("train")
        raw = embed_demos(policy.encoder, store, policy.cameras, names, progress=False)
        feats = demo_features(policy.features, store, names, policy.cameras)
    raw = np.concatenate([raw[d] for d in names])
    seen = np.concatenate([feats[d] for d in names])[:, : raw.shape[1]]
    # The raw embedding is not already standardized (tanh-bounded, per-dimension spreads ~0.6), so the
    # assertions below test the standardization, not the encoder.
    assert np.abs(raw.std(0) - 1.0).max() > 0.1
    np.testing.assert_allclose(seen.mean(0), 0.0, atol=1e-3)
    np.testing.assert_allclose(seen.std(0), 1.0, atol=1e-2)
    meta = json.loads((pol / "policy.json").read_text())
    assert meta["standardized"] and meta["features"] == "frozen"


def test_embedding_progress_bar_obeys_tqdm_disable(pm, capsys, monkeypatch):
    """A bench's logs under TQDM_DISABLE=1 stay free of the embedding cache's bar (it once passed
    disable=False, which overrides the variable)."""
    from robolearn.data.store import open_store
    from robolearn.embeddings import embed_demos
    from robolearn.encoders import load_encoder

    root, demos, enc = pm
    encoder, _ = load_encoder(enc)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    with open_store(demos) as store:
        out = embed_demos(encoder, store, store.cameras, store.demo_names("train")[:3])
    assert len(out) == 3 and "embedding" not in capsys.readouterr().err


def test_feature_noise_perturbs_the_image_features_only_while_training():
    """`--feature-noise S`: the head trains on standardized image features + N(0, S); proprio reaches it
    unchanged, and outside training (validation, the policy) it sees the clean features."""
    from robolearn.policies import Head
    from robolearn.train import FeatureNoise

    class Seen(Head):  # a real head whose loss keeps what it was given
        def loss(self, emb, actions, pad=None):
            self.seen = emb.clone()
            return emb.sum() * 0, {}

    head = Seen(emb_dim=10, action_dim=2, obs_horizon=2, pred_horizon=1, cfg=None)
    model = FeatureNoise(head, sigma=0.5, image_dim=6)
    emb = torch.randn(4000, 2, 10)
    batch = (emb, torch.zeros(4000, 1, 2), torch.zeros(4000, 1, dtype=torch.bool))
    model.train()
    model.train_loss(batch)
    diff = head.seen - emb
    assert abs(float(diff[..., :6].std()) - 0.5) < 0.02 and abs(float(diff[..., :6].mean())) < 0.02
    assert torch.equal(head.seen[..., 6:], emb[..., 6:])
    model.eval()
    model.train_loss(batch)
    assert torch.equal(head.seen, emb)


@pytest.mark.slow
def test_feature_noise_trains_a_policy_that_runs_clean(pm, tmp_path):
    """A policy trained with feature noise records the setting, keeps the clean embedding statistics
    and acts in the env; a negative std is refused before anything is written."""
    from robolearn.envs import make_env
    from robolearn.errors import RobolearnError
    from robolearn.policies.policy import Policy
    from robolearn.train import train

    root, demos, enc = pm
    runs = {s: train(TrainConfig(data=demos, encoder=str(enc), out=tmp_path / f"n{s}", head="mlp", feature_noise=s,
                                 optim=quick_optim(30), wandb="disabled")) for s in (0.0, 0.5)}
    assert "feature_noise: 0.5" in (runs[0.5] / "config.yaml").read_text()
    clean, noisy = Policy.load(runs[0.0]), Policy.load(runs[0.5])
    assert torch.equal(clean.features.emb_mean, noisy.features.emb_mean)
    assert torch.equal(clean.features.emb_std, noisy.features.emb_std)
    env = make_env("robolearn/PointMass-v0", image_size=32)
    obs, _ = env.reset(seed=123)
    a = noisy.select_action(obs)
    env.close()
    assert a.shape == (2,) and np.isfinite(a).all() and np.abs(a).max() <= 1.0
    with pytest.raises(RobolearnError, match="feature-noise"):
        train(TrainConfig(data=demos, encoder=str(enc), out=tmp_path / "bad", head="mlp", feature_noise=-1.0,
                          optim=quick_optim(5), wandb="disabled"))
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow
def test_pipeline_succeeds_on_pointmass(pm, tmp_path):
    """The smoke rung: `none` + MLP on standardized embeddings solves PointMass (raw: 20/30)."""
    from robolearn.evaluate import evaluate
    from robolearn.train import train

    root, demos, enc = pm
    pol = train(TrainConfig(data=demos, encoder=str(enc), out=tmp_path / "pol", head="mlp",
                            optim=quick_optim(600, batch_size=256), wandb="disabled"))
    res = evaluate(EvalConfig(policy=str(pol), episodes=20, workers=1, videos=0, out=tmp_path / "ev",
                              wandb="disabled"))
    assert res["success_rate"] >= 0.8, res["success_rate"]


@pytest.mark.slow
def test_knn_k1_replays_every_training_demonstration(pm, tmp_path):
    """Evaluated on the training seeds, a k=1 kNN policy reproduces each demonstration exactly."""
    from robolearn.data.store import demo_index, open_store
    from robolearn.evaluate import evaluate
    from robolearn.train import train

    root, demos, enc = pm
    cfg = TrainConfig(data=demos, encoder=str(enc), out=tmp_path / "knn", head="knn", wandb="disabled")
    cfg.knn.k = 1
    pol = train(cfg)
    with open_store(demos) as store:
        # collect keeps the first successful attempts; PointMass's expert never fails, so demo_i is seed i
        lengths = {demo_index(d): store.length(d) for d in store.demo_names(None)}
    n = 12
    res = evaluate(EvalConfig(policy=str(pol), episodes=n, seed=0, workers=1, videos=0, out=tmp_path / "ev",
                              wandb="disabled"))
    assert res["successes"] == n
    got = {ep["seed"]: ep["length"] for ep in res["per_episode"]}
    # The stored trajectory ends on the solving step: the replay takes the same number of steps.
    assert got == {s: lengths[s] for s in range(n)}


@pytest.mark.slow
def test_state_policy_trains_evaluates_and_exports(pm, tmp_path):
    from robolearn.evaluate import evaluate
    from robolearn.export import export
    from robolearn.runtime import BundlePolicy
    from robolearn.train import train

    root, demos, _ = pm
    pol = train(TrainConfig(data=demos, encoder="state", out=tmp_path / "state", head="mlp",
                            optim=quick_optim(600, batch_size=256), wandb="disabled"))
    meta = json.loads((pol / "policy.json").read_text())
    assert meta["cameras"] == [] and meta["lowdim"] == {"state": 2, "proprio": 4}
    res = evaluate(EvalConfig(policy=str(pol), episodes=10, workers=1, videos=0, out=tmp_path / "ev",
                              wandb="disabled"))
    assert res["success_rate"] >= 0.8
    bundle = export(ExportConfig(policy=pol, out=tmp_path / "bundle", parity_frames=40))
    b = BundlePolicy(bundle)
    assert "images" not in {i.name for i in b.session.get_inputs()}
    a = b.act({"state": np.array([0.25, 0.25], np.float32), "proprio": np.zeros(4, np.float32)})
    assert a.shape == (2,) and np.isfinite(a).all()


def test_state_policy_refuses_a_store_without_state(tmp_path):
    import h5py

    from robolearn.errors import RobolearnError
    from robolearn.train import train

    demos = tmp_path / "old.hdf5"
    from robolearn.data.store import make_env_args, write_store

    rng = np.random.default_rng(0)
    write_store(demos, [{"obs": {"proprio": rng.normal(size=(5, 4)).astype(np.float32)},
                         "actions": rng.uniform(-1, 1, (5, 2)).astype(np.float32)} for _ in range(3)],
                make_env_args("robolearn/PointMass-v0"))
    with h5py.File(demos) as f:
        assert "state" not in f["data/demo_0/obs"]
    with pytest.raises(RobolearnError, match="no 'state' observation"):
        train(TrainConfig(data=demos, encoder="state", out=tmp_path / "p", head="mlp", wandb="disabled"))
    assert not (tmp_path / "p").exists()


@pytest.mark.slow
def test_scratch_end_to_end_learns_and_exports(pm, tmp_path):
    """End to end: the encoder's weights move with the head's loss, the loss falls, the bundle matches."""
    from robolearn.export import export
    from robolearn.policies.policy import Policy
    from robolearn.tracking import read_metrics
    from robolearn.train import train

    root, demos, _ = pm
    # Logged every step, so the first row is the untrained loss (not the loss after 5 steps).
    cfg = TrainConfig(data=demos, encoder="scratch", out=tmp_path / "e2e", head="mlp",
                      optim=quick_optim(80, batch_size=32, lr=1e-3, log_every=1), wandb="disabled")
    pol = train(cfg)
    rows = [r for r in read_metrics(pol) if "train/loss" in r]
    first = np.mean([r["train/loss"] for r in rows[:3]])
    last = np.mean([r["train/loss"] for r in rows[-5:]])
    assert last < 0.7 * first, (first, last)
    policy = Policy.load(pol)
    from robolearn.encoders import make_encoder

    fresh = make_encoder(cfg.scratch_encoder, 1, 32)
    moved = [float((a - b).abs().max()) for a, b in zip(policy.encoder.state_dict().values(), fresh.state_dict().values())]
    assert max(moved) > 1e-3
    meta = json.loads((pol / "policy.json").read_text())
    assert meta["features"] == "scratch" and not meta["standardized"]
    export(ExportConfig(policy=pol, out=tmp_path / "bundle", parity_frames=30))


def test_scratch_encoder_init_follows_the_run_seed(pm, tmp_path):
    """A scratch row is reproducible from its seed: the encoder's init is drawn from --optim.seed. (It was
    drawn before the run seeded, from whatever state the process's generator was in.)"""
    from robolearn.encoders import make_encoder
    from robolearn.policies.policy import Policy
    from robolearn.train import train
    from robolearn.trainer import seed_everything

    root, demos, _ = pm
    got = {}
    for seed in (0, 1):
        cfg = TrainConfig(data=demos, encoder="scratch", out=tmp_path / f"s{seed}", head="mlp", wandb="disabled",
                          optim=quick_optim(1, batch_size=8, lr=1e-7, warmup_steps=1, seed=seed))
        got[seed] = Policy.load(train(cfg)).encoder.state_dict()
    for seed in (0, 1):
        seed_everything(seed)
        fresh = make_encoder(cfg.scratch_encoder, 1, 32).state_dict()
        for k, v in fresh.items():  # one step at lr 1e-7 moves no weight by 1e-4
            assert torch.allclose(got[seed][k].float(), v.float(), atol=1e-4), (seed, k)
    assert any(not torch.allclose(got[0][k].float(), got[1][k].float(), atol=1e-3) for k in got[0])


@pytest.mark.slow
def test_finetune_starts_from_the_pretrained_encoder(pm, tmp_path):
    from robolearn.policies.policy import Policy
    from robolearn.encoders import load_encoder
    from robolearn.train import train

    root, demos, enc = pm
    pol = train(TrainConfig(data=demos, encoder=str(enc), finetune=True, out=tmp_path / "ft", head="mlp",
                            optim=quick_optim(3, batch_size=16, lr=1e-6, warmup_steps=1), wandb="disabled"))
    pre, _ = load_encoder(enc)
    got = Policy.load(pol).encoder.state_dict()
    # Three steps at lr 1e-6 barely move it: it started from the pretrained weights, not a new draw.
    for k, v in pre.state_dict().items():
        assert torch.allclose(got[k], v, atol=1e-4), k
    assert json.loads((pol / "policy.json").read_text())["features"] == "finetune"


@pytest.mark.slow
def test_bundle_reproduces_torch_with_embedding_statistics(pm, tmp_path):
    """The standardization is inside the graph: exported actions equal torch's over whole episodes."""
    from robolearn.data.store import open_store
    from robolearn.export import check_parity, export, parity_frames
    from robolearn.policies.policy import Policy
    from robolearn.runtime import BundlePolicy
    from robolearn.train import train

    root, demos, enc = pm
    pol = train(TrainConfig(data=demos, encoder=str(enc), out=tmp_path / "mlp2", head="mlp", obs_horizon=2,
                            optim=quick_optim(100), wandb="disabled"))
    policy = Policy.load(pol)
    assert float((policy.features.emb_std - 1).abs().max()) > 0.1  # statistics not the identity
    bundle = BundlePolicy(export(ExportConfig(policy=pol, out=tmp_path / "b", parity_frames=20)))
    with open_store(demos) as store:
        res = check_parity(policy, bundle, parity_frames(store, store.demo_names("train")[:8], policy.cameras,
                                                         policy.lowdim_keys, 60))
    assert res["frames"] == 60 and res["max_abs_error"] < 1e-4
