"""Counter-current learning: gradient locality, the two optimizers, learning, and digits vs. backprop."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from robolearn.config import EncoderConfig, OptimConfig, PretrainConfig, resolve_optim
from robolearn.pretraining.ccl import CclConfig
from robolearn.data.store import make_env_args, write_store
from robolearn.encoders import ConvEncoder
from robolearn.errors import RobolearnError
from robolearn.pretraining import DataInfo, get_objective
from robolearn.pretraining.ccl import Ccl, CounterCurrentNet, alignment_loss, cosine_similarity_targets, same_target

ROOT = Path(__file__).resolve().parents[1]
SIZE = 32


def dot_images(pos: np.ndarray, size: int = SIZE) -> np.ndarray:
    """uint8 (N, size, size, 3) images of a red dot at positions pos (N, 2) in [-1, 1]."""
    yy, xx = np.mgrid[0:size, 0:size]
    px = (pos + 1) / 2 * (size - 7) + 3
    m = np.exp(-((xx[None] - px[:, 0, None, None]) ** 2 + (yy[None] - px[:, 1, None, None]) ** 2) / 4.0)
    img = np.zeros((len(pos), size, size, 3), np.uint8)
    img[..., 0] = (230 * m).astype(np.uint8)
    return img


def dot_batch(n: int, rng: np.random.Generator) -> dict:
    """A window batch whose action is a nonlinear function of where the dot is."""
    pos = rng.uniform(-1, 1, (n, 2))
    act = np.stack([pos[:, 0], np.sin(2 * pos[:, 1]) * pos[:, 0]], 1)
    return {"images": torch.from_numpy(dot_images(pos))[:, None, None],  # (B, T_o=1, V=1, H, W, 3)
            "actions": torch.from_numpy(act.astype(np.float32))[:, None]}  # (B, T_a=1, A=2)


def make_ccl(hidden=(32, 32), **kw) -> Ccl:
    torch.manual_seed(0)
    info = DataInfo(num_views=1, image_size=SIZE, action_dim=2, proprio_dim=0, feature_dim=0)
    return Ccl(ConvEncoder(1, SIZE, embed_dim=16), CclConfig(hidden=hidden, **kw), info)


def _grads(loss, named):
    gs = torch.autograd.grad(loss, [p for _, p in named], retain_graph=True, allow_unused=True)
    return {n: g for (n, _), g in zip(named, gs)}


def _nonzero(g) -> bool:
    return g is not None and bool(g.abs().sum() > 0)


# ----------------------------------------------------------------------------- locality
def test_each_local_loss_changes_only_its_layer_pair():
    obj = make_ccl(hidden=(32, 24))
    batch = dot_batch(8, np.random.default_rng(0))
    target = batch["actions"].flatten(1)
    pred, local = obj.net.counter_current(obj.encoder(batch["images"][:, -1]), target)
    mse = torch.nn.functional.mse_loss(pred, target)
    named = list(obj.named_parameters())
    n = len(obj.cfg.hidden)
    assert sorted(local) == list(range(n + 1))  # pairs 0 (the encoder) .. n
    owners = {l: (["encoder."] if l == 0 else [f"net.forward_layers.{l - 1}."]) + [f"net.feedback_layers.{l}."]
              for l in local}
    owners["mse"] = [f"net.forward_layers.{n}."]
    for key, loss in [*local.items(), ("mse", mse)]:
        grads = _grads(loss, named)
        mine = {k for k in grads if any(k.startswith(o) for o in owners[key])}
        assert mine, key
        for name, g in grads.items():
            if name in mine:
                assert g is not None, (key, name)
            else:
                assert not _nonzero(g), f"loss {key} moves {name}"
        for prefix in owners[key]:  # every owning module is trained (its weights get a gradient)
            assert any(_nonzero(grads[k]) for k in mine if k.startswith(prefix)), (key, prefix)


@pytest.mark.slow
def test_feedback_net_gets_gradient_only_from_its_own_pairs():
    obj = make_ccl(hidden=(32, 32))
    batch = dot_batch(8, np.random.default_rng(1))
    feedback = list(obj.net.feedback_layers.named_parameters())
    total, _ = obj.loss(batch)
    total_g = _grads(total, feedback)
    # Recompute the pieces (deterministic: no dropout, no augmentation), with the objective's S.
    target = batch["actions"].flatten(1)
    pred, local = obj.net.counter_current(obj.encoder(batch["images"][:, -1]), target, obj.target_similarity(target))
    mse = torch.nn.functional.mse_loss(pred, target)
    assert all(g is None for g in _grads(mse, feedback).values())  # the action loss never reaches it
    for l, loss in local.items():
        own = _grads(loss, feedback)
        for name, g in own.items():
            if name.startswith(f"{l}."):  # feedback_layers[l] = V_{l+1}, producing b_l
                torch.testing.assert_close(total_g[name], g)  # its whole gradient in the total loss
            else:
                assert not _nonzero(g), (l, name)


def test_alignment_loss_definition():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    labels = torch.tensor([0, 1, 0, 2, 3, 1])
    same = same_target(labels)
    assert same.tolist()[0] == [1, 0, 1, 0, 0, 0]
    assert same_target(torch.randn(5, 3)).equal(torch.eye(5))  # distinct continuous targets: I

    def unit(x):
        x = x.numpy().astype(np.float64)
        x = x - x.mean(0)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    ua, ub, s_ = unit(a), unit(b), same.numpy()
    want = (((ua @ ub.T - s_) ** 2).sum() + 0.5 * (((ua @ ua.T - s_) ** 2).sum() + ((ub @ ub.T - s_) ** 2).sum())) / 6
    assert abs(float(alignment_loss(a, b, same, 0.5)) - want) < 1e-5
    # Matching samples align better than mismatched ones.
    eye = torch.eye(6)
    assert float(alignment_loss(a, a, eye, 0.5)) < float(alignment_loss(a, a[torch.randperm(6, generator=g)], eye, 0.5))


def test_cosine_similarity_of_continuous_targets():
    """Near-equal actions are positives (S ~ 1), orthogonal and opposite ones are not (0); the identity
    reading makes two near-equal actions as different as opposite ones."""
    y = torch.tensor([[1.0, 0.0], [0.99, 0.01], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    s = cosine_similarity_targets(y)  # the batch mean is 0 here: cosines of the raw actions
    assert torch.allclose(s.diagonal(), torch.ones(5))
    assert s[0, 1] > 0.99 and s[0, 2] == pytest.approx(0.0, abs=1e-6) and s[0, 3] == 0.0
    assert torch.equal(s, s.T) and (s >= 0).all()
    assert same_target(y)[0, 1] == 0.0
    assert CclConfig().similarity == "cosine"
    with pytest.raises(RobolearnError):
        make_ccl(similarity="euclid")


def test_two_optimizers_one_per_network():
    obj = make_ccl(feedback_lr=3e-4)
    opts = obj.configure_optimizers(resolve_optim(OptimConfig(lr=1e-3), Ccl.optim_defaults))
    assert len(opts) == 2
    fwd = {id(p) for g in opts[0].param_groups for p in g["params"]}
    fb = {id(p) for g in opts[1].param_groups for p in g["params"]}
    assert fwd == {id(p) for p in [*obj.encoder.parameters(), *obj.net.forward_layers.parameters()]}
    assert fb == {id(p) for p in obj.net.feedback_layers.parameters()}
    assert all(g["lr"] == 1e-3 for g in opts[0].param_groups) and opts[1].param_groups[0]["lr"] == 3e-4
    assert {g["name"] for o in opts for g in o.param_groups} == {"encoder", "head", "feedback"}
    assert get_objective("ccl") is Ccl
    spec = Ccl.window_spec(CclConfig(chunk=3))
    assert (spec.obs_horizon, spec.action_horizon, spec.pad) == (1, 3, False)


# ----------------------------------------------------------------------------- learning
@pytest.mark.slow
def test_local_losses_decrease():
    obj = make_ccl(hidden=(64, 64))
    opts = obj.configure_optimizers(resolve_optim(OptimConfig(lr=1e-3, weight_decay=0.0), Ccl.optim_defaults))
    rng = np.random.default_rng(0)
    pool = dot_batch(512, rng)
    hist = []
    obj.train()
    for step in range(120):
        idx = torch.from_numpy(rng.choice(512, 32, replace=False))
        loss, m = obj.loss({k: v[idx] for k, v in pool.items()})
        for o in opts:
            o.zero_grad()
        loss.backward()
        for o in opts:
            o.step()
        hist.append({k: float(v) for k, v in m.items()})
    first = {k: np.mean([h[k] for h in hist[:15]]) for k in hist[0]}
    last = {k: np.mean([h[k] for h in hist[-15:]]) for k in hist[0]}
    print("\nCCL first -> last: " + ", ".join(f"{k} {first[k]:.3f} -> {last[k]:.3f}" for k in first))
    for k in ("pair0", "pair1", "pair2"):
        assert last[k] < 0.9 * first[k], (k, first[k], last[k])
    assert last["mse"] < 0.85 * first["mse"]


def _digits_benchmark():
    spec = importlib.util.spec_from_file_location("ccl_digits", ROOT / "benchmarks" / "ccl_digits.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_ccl_matches_backprop_on_digits():
    """scikit-learn's digits (real 8x8 images): the same MLP trained by CCL reaches test accuracy
    within 3 points of backpropagation (fixed split, seed 0)."""
    import sklearn  # noqa: F401  (the dev extra: a missing one fails here, loudly)
    bench = _digits_benchmark()
    data = bench.digits_split()
    bp = bench.train_mlp("bp", seed=0, data=data, epochs=20)
    ccl = bench.train_mlp("ccl", seed=0, data=data, epochs=20)
    print(f"\ndigits test accuracy (MLP {bench.WIDTHS}, 20 epochs, seed 0): BP {bp:.2f}%  CCL {ccl:.2f}%")
    assert bp > 93.0
    assert ccl >= bp - 3.0


# ----------------------------------------------------------------------------- the pipeline
def test_pretrain_ccl_end_to_end(tmp_path):
    """`robolearn pretrain` with ccl: window spec, two optimizers through the trainer and its
    checkpoint, auxiliary nets saved beside the encoder."""
    from robolearn.pretrain import pretrain
    from robolearn.tracking import read_metrics

    rng = np.random.default_rng(0)
    demos = []
    for _ in range(6):
        pos = np.clip(rng.uniform(-1, 1, 2) + np.cumsum(rng.normal(0, 0.1, (12, 2)), 0), -1, 1)
        demos.append({"actions": pos.astype(np.float32), "obs": {"cam_image": dot_images(pos)},
                      "task_features": pos.astype(np.float32)})
    data = write_store(tmp_path / "dots.hdf5", demos, make_env_args("robolearn/Synthetic-v0"),
                       valid_fraction=0.34, feature_names=["x", "y"])
    cfg = PretrainConfig(data=data, out=tmp_path / "run", objective="ccl",
                         encoder=EncoderConfig(name="conv", embed_dim=16),
                         optim=OptimConfig(steps=6, batch_size=16, warmup_steps=1, checkpoint_every=6,
                                           eval_every=6, log_every=3),
                         ccl=CclConfig(hidden=(32, 32)), wandb="disabled")
    out = pretrain(cfg)
    rows = [r for r in read_metrics(out) if "train/pair0" in r]
    assert rows and {"train/mse", "train/pair1", "train/pair2", "train/grad_norm/feedback"} <= set(rows[-1])
    meta = json.loads((out / "checkpoint" / "trainer.json").read_text())
    assert len(meta["optim"]) == 2
    from safetensors.torch import load_file

    aux = load_file(str(out / "objective.safetensors"))
    assert any(k.startswith("net.feedback_layers.") for k in aux)
    assert json.loads((out / "results.json").read_text())["uses_privileged_labels"] is False


def test_counter_current_net_predict_is_the_forward_net():
    net = CounterCurrentNet([5, 7, 3])
    x = torch.randn(4, 5)
    _, pred = net.forward_activations(x)
    torch.testing.assert_close(net.predict(x), pred)
    assert net.pairs == [1] and len(net.feedback_layers) == 1
    assert CounterCurrentNet([5, 7, 3], feedback_to_input=True).pairs == [0, 1]


@pytest.mark.slow
def test_cosine_similarity_probes_above_identity_on_reach(reach_pool, tmp_path):
    """The cpu suite's Reach rung (its 200-demo pool, its pretraining job, seed 0): with S the identity
    every sample is its own class and the encoder separates frames by what differs between episodes
    (floor colour, distractors); with the default cosine S it encodes where the actions point. Measured
    (benchmarks/results/probe_objectives_item4, seeds 0-2): probe R² -0.03/-0.32/-0.07 (identity) against
    0.30/0.06/0.17 (cosine), random init 0.00/0.02/-0.05."""
    from robolearn.pipeline import pretrain_config
    from robolearn.pretrain import pretrain

    task, data = reach_pool
    probe = {}
    for similarity in ("identity", "cosine"):
        out = pretrain(pretrain_config(task, "ccl", {"similarity": similarity}, 0, data, tmp_path / similarity,
                                       {"wandb": "disabled"}))
        probe[similarity] = json.loads((out / "results.json").read_text())["val/probe_r2/mean"]
    print("\nReach probe R² by CCL similarity:", probe)
    assert CclConfig().similarity == "cosine"
    assert probe["cosine"] > probe["identity"] + 0.1 and probe["cosine"] > 0.1
