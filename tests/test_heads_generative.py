"""VQ-BeT and Diffusion Policy heads: real (short) training on synthetic data.

The multimodal data set: every window has the same observation embedding, and its action chunk is
near +0.8 or near -0.8 (noise 0.05), half and half. A head that averages modes (MSE regression)
predicts ~0; a working generative head samples both modes and almost nothing in between.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from robolearn.config import TrainConfig
from robolearn.errors import RobolearnError
from robolearn.policies import get_head
from robolearn.policies.diffusion import (PREDICTION_TYPES, ConditionalUnet1D, DiffusionConfig, DiffusionHead, SameConv1d,
                                          ddim_sample_numpy)
from robolearn.policies import vqbet as vqbet_module
from robolearn.policies.vqbet import VqbetConfig, VqbetHead, focal_loss
from robolearn.train import horizons

EMB_DIM, ACTION_DIM, MODE = 6, 2, 0.8


def bimodal(n: int, t_o: int, t: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(1, 1, EMB_DIM, generator=g).expand(n, t_o, EMB_DIM).clone()
    sign = torch.where(torch.rand(n, generator=g) < 0.5, 1.0, -1.0)
    actions = MODE * sign[:, None, None] + 0.05 * torch.randn(n, t, ACTION_DIM, generator=g)
    return emb, actions, torch.zeros(n, t, dtype=torch.bool)


def train(head, emb, actions, pad, steps: int, lr: float, batch: int = 64) -> dict:
    """What the trainer does: prepare, AdamW over param_groups, loss on mini-batches, after_step."""
    torch.manual_seed(0)
    prep = head.prepare(emb, actions, pad)
    opt = torch.optim.AdamW(head.param_groups(), lr=lr, weight_decay=1e-6)
    head.train()
    for step in range(steps):
        i = torch.randint(0, len(emb), (batch,))
        loss, _ = head.loss(emb[i], actions[i], pad[i])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        head.after_step(step + 1, steps)
    head.eval()
    return prep


def mode_fractions(pred: torch.Tensor) -> tuple[float, float, float]:
    m = pred.mean((1, 2))
    return (float((m - MODE).abs().lt(0.3).float().mean()), float((m + MODE).abs().lt(0.3).float().mean()),
            float(m.abs().lt(0.4).float().mean()))


def check_generative(head, emb):
    """Shared checks: both modes sampled, little in between, bounded, seeded reproducibility."""
    with torch.no_grad():
        pred = head.predict(emb[:200], torch.Generator().manual_seed(0))
        again = head.predict(emb[:200], torch.Generator().manual_seed(0))
        other = head.predict(emb[:200], torch.Generator().manual_seed(1))
    assert pred.shape == (200, head.pred_horizon, ACTION_DIM)
    assert pred.abs().max() <= 1.0
    plus, minus, middle = mode_fractions(pred)
    assert plus >= 0.25 and minus >= 0.25, (plus, minus, middle)
    assert middle <= 0.1, (plus, minus, middle)
    assert torch.equal(pred, again)
    # Same observations, other seed: on bimodal data many samples switch mode.
    assert (pred.mean((1, 2)).sign() != other.mean((1, 2)).sign()).float().mean() > 0.2


def roundtrip(head, cls, tmp_path, t_o, t):
    path = tmp_path / "head.safetensors"
    save_file({k: v.contiguous() for k, v in head.state_dict().items()}, str(path))
    fresh = cls(EMB_DIM, ACTION_DIM, t_o, t, head.cfg)
    fresh.load_state_dict(load_file(str(path)), strict=True)
    fresh.eval()
    return fresh


# ----------------------------------------------------------------------------- VQ-BeT
VQ_T_O, VQ_T = 3, 4
SMALL_VQBET = VqbetConfig(vq_steps=200, vq_latent=64, vq_batch=256, gpt_layers=2, gpt_heads=2, gpt_embed=32,
                          head_hidden=128, dropout=0.0)


@pytest.fixture(scope="module")
def vqbet_bimodal():
    emb, actions, pad = bimodal(512, VQ_T_O, VQ_T)
    torch.manual_seed(0)  # the initial weights, whatever ran before
    head = VqbetHead(EMB_DIM, ACTION_DIM, VQ_T_O, VQ_T, SMALL_VQBET)
    prep = train(head, emb, actions, pad, steps=200, lr=1e-3)
    return head, emb, prep


def test_registry_and_horizons():
    assert get_head("vqbet") is VqbetHead and get_head("diffusion") is DiffusionHead
    # Flags override a head's horizons; the default T_a is capped at T; impossible ones are refused.
    assert horizons(TrainConfig(head="diffusion", obs_horizon=3, pred_horizon=6, action_horizon=2),
                    DiffusionHead) == (3, 6, 2)
    t_o, t, t_a = horizons(TrainConfig(head="diffusion", pred_horizon=4), DiffusionHead)
    assert (t, t_a) == (4, 4) and DiffusionHead.default_action_horizon > 4
    with pytest.raises(RobolearnError, match="1 <= T_a <= T"):
        horizons(TrainConfig(head="vqbet", pred_horizon=2, action_horizon=3), VqbetHead)


def test_train_steps_default_to_the_tasks_budget_for_the_head(tmp_path):
    """Without --optim.steps, `robolearn train` takes the task's budget for the head (BlockPush: ~100 epochs of
    1,000 demos, as the VQ-BeT and Diffusion Policy papers train; the generic 3,000 solved 0/50 there), and
    records what it used; end to end, and on tasks without a budget, the generic default."""
    from robolearn.config import CollectConfig
    from robolearn.data.collect import collect
    from robolearn.settings import OptimConfig, load_config
    from robolearn.train import DEFAULT_TRAIN_STEPS, task_train_steps, train

    assert TrainConfig().optim.steps is None  # resolved by `train` once the data's task is known
    assert {h: task_train_steps("robolearn/BlockPush-v0", h, e2e=False) for h in ("mlp", "vqbet", "diffusion")} == \
        {"mlp": 27000, "vqbet": 27000, "diffusion": 27000}
    assert task_train_steps("robolearn/BlockPush-v0", "mlp", e2e=True) == DEFAULT_TRAIN_STEPS == 3000
    assert task_train_steps("robolearn/PointMass-v0", "vqbet", e2e=False) == 3000
    assert task_train_steps("someone/Imported-v1", "mlp", e2e=False) == 3000  # an imported dataset's env id
    assert OptimConfig().steps == 2000  # pretraining's default is unchanged
    # A run records the steps it resolved (kNN: no budget of its own on BlockPush, so the generic default).
    data = collect(CollectConfig(env="robolearn/BlockPush-v0", episodes=2, images=False, out=tmp_path / "bp.hdf5"))
    pol = train(TrainConfig(data=data, encoder="state", head="knn", out=tmp_path / "knn", wandb="disabled"))
    assert load_config(TrainConfig, pol / "config.yaml").optim.steps == 3000


def test_focal_loss():
    g = torch.Generator().manual_seed(0)
    logits, target = torch.randn(64, 16, generator=g), torch.randint(0, 16, (64,), generator=g)
    ce = torch.nn.functional.cross_entropy(logits, target)
    assert torch.allclose(focal_loss(logits, target, 0.0), ce, atol=1e-6)
    assert focal_loss(logits, target, 2.0) < ce  # down-weights every term by (1 - p)^2 < 1


def test_inverse_cdf_sampling_follows_softmax():
    head = VqbetHead(EMB_DIM, ACTION_DIM, 2, 2, dataclasses.replace(SMALL_VQBET, vq_layers=2, codes=4,
                                                                      temperature=2.0, secondary="sample"))
    logits = torch.tensor([[1.0, 0.0, -1.0, 2.0], [0.0, 0.0, 0.0, 0.0]])
    n = 20000
    u = torch.rand(n, 2, generator=torch.Generator().manual_seed(0))
    codes = head.sample_codes(logits[None].expand(n, -1, -1), u)
    for layer in range(2):
        freq = torch.bincount(codes[:, layer], minlength=4).float() / n
        assert torch.allclose(freq, torch.softmax(logits[layer] / 2.0, -1), atol=0.015)
    greedy = VqbetHead(EMB_DIM, ACTION_DIM, 2, 2, dataclasses.replace(SMALL_VQBET, codes=4, greedy=True))
    assert greedy.sample_codes(logits[None], u[:1]).tolist() == [[3, 0]]
    # secondary argmax: the first layer still follows its softmax, the second is always its argmax
    second = VqbetHead(EMB_DIM, ACTION_DIM, 2, 2, dataclasses.replace(SMALL_VQBET, codes=4, temperature=2.0,
                                                                        secondary="argmax"))
    logits[1] = torch.tensor([0.0, 1.0, 0.0, 0.0])
    codes = second.sample_codes(logits[None].expand(n, -1, -1), u)
    assert torch.allclose(torch.bincount(codes[:, 0], minlength=4).float() / n, torch.softmax(logits[0] / 2.0, -1),
                          atol=0.015)
    assert (codes[:, 1] == 1).all()


@pytest.mark.slow
def test_vqbet_samples_both_modes(vqbet_bimodal):
    head, emb, prep = vqbet_bimodal
    assert prep["vq_codes_used_l0"] >= 2
    check_generative(head, emb)


@pytest.mark.slow
def test_vqbet_tokenizer_frozen_after_prepare(vqbet_bimodal):
    head, emb, _ = vqbet_bimodal
    trained = {id(p) for g in head.param_groups() for p in g["params"]}
    assert all(id(p) not in trained and not p.requires_grad for p in head.tokenizer.parameters())
    before = {k: v.clone() for k, v in head.tokenizer.state_dict().items()}
    head.train()
    _, actions, pad = bimodal(64, VQ_T_O, VQ_T, seed=1)
    loss, metrics = head.loss(emb[:64], actions, pad)
    loss.backward()
    head.eval()
    head.zero_grad(set_to_none=True)
    assert all(torch.equal(before[k], v) for k, v in head.tokenizer.state_dict().items())
    assert set(metrics) == {"code_loss", "offset_l1", "code0_acc"}


@pytest.mark.slow
def test_vqbet_roundtrip_and_unfitted(vqbet_bimodal, tmp_path):
    head, emb, _ = vqbet_bimodal
    fresh = VqbetHead(EMB_DIM, ACTION_DIM, VQ_T_O, VQ_T, SMALL_VQBET)
    with pytest.raises(RobolearnError):
        fresh.predict(emb[:2])
    fresh = roundtrip(head, VqbetHead, tmp_path, VQ_T_O, VQ_T)
    with torch.no_grad():
        a = head.predict(emb[:32], torch.Generator().manual_seed(3))
        b = fresh.predict(emb[:32], torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


@pytest.mark.slow
def test_vqbet_decode_table_is_the_frozen_decoder(vqbet_bimodal, tmp_path, monkeypatch):
    """decode() gathers the frozen tokenizer's output from a table of every code combination: it must
    equal the decoder run on the codes, be rebuilt when a checkpoint is loaded (it is not saved), and
    give way to the decoder itself for tokenizers too large to tabulate."""
    head, _, _ = vqbet_bimodal
    codes = torch.cartesian_prod(*[torch.arange(head.codes)] * head.layers)
    offsets = torch.zeros(len(codes), head.layers, head.codes, head.chunk_dim)
    with torch.no_grad():
        want = head.tokenizer.decode_codes(codes).view(-1, VQ_T, ACTION_DIM)
        assert len(head.decode_table) == head.codes ** head.layers
        torch.testing.assert_close(head.decode(codes, offsets), want, rtol=0, atol=1e-6)
        assert "decode_table" not in head.state_dict()
        fresh = roundtrip(head, VqbetHead, tmp_path, VQ_T_O, VQ_T)
        assert torch.equal(fresh.decode_table, head.decode_table)
        monkeypatch.setattr(vqbet_module, "MAX_DECODE_TABLE", head.codes ** head.layers - 1)
        fresh._build_decode_table()
        assert len(fresh.decode_table) == 0
        torch.testing.assert_close(fresh.decode(codes, offsets), want, rtol=0, atol=1e-6)


def mode_window(n: int, t_o: int, seed: int):
    """Every position of a T_o window has its own 1-step action, one of two modes (+-0.6) plus a
    part the observation sets; 70% of the windows show the mode in their last feature (a pusher
    heading for one block), the rest leave it ambiguous. Returns emb, actions (all positions),
    both modes' actions (2, n, t_o, A), pad."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, t_o, EMB_DIM, generator=g)
    sign = torch.where(torch.rand(n, t_o, 1, generator=g) < 0.5, 1.0, -1.0)
    x[..., -1:] = (torch.rand(n, 1, 1, generator=g) < 0.7).float() * sign
    smooth = 0.25 * torch.tanh(x[..., :ACTION_DIM])
    modes = torch.stack([0.6 + smooth, -0.6 + smooth])
    return x, sign * 0.6 + smooth, modes, torch.zeros(n, t_o, dtype=torch.bool)


@pytest.mark.slow
def test_vqbet_sampled_codes_act_as_well_as_true_codes():
    """What a rollout executes (sampled codes) lands on a demonstrated mode about as closely as the
    tokenizer's own codes reconstruct the demonstrated action: offsets are trained where the head
    samples (offsets at true codes alone: 2.6x; sampled alone: no pull toward a code's own mode)."""
    t_o = 3
    emb, actions, _, pad = mode_window(2048, t_o, seed=0)
    torch.manual_seed(0)
    head = VqbetHead(EMB_DIM, ACTION_DIM, t_o, 1, SMALL_VQBET)
    assert head.action_context == t_o - 1  # every window position is supervised
    train(head, emb, actions, pad, steps=500, lr=1e-3)
    emb, actions, modes, _ = mode_window(1024, t_o, seed=1)  # validation
    with torch.no_grad():
        _, offsets = head.logits_offsets(emb)
        last = actions[:, -1:]
        true_err = (head.decode(head.tokenizer.encode(last.flatten(1)), offsets) - last).abs().mean()
        pred = head.predict(emb, torch.Generator().manual_seed(0))[:, 0]
        sampled_err = (pred[None] - modes[:, :, -1]).abs().mean(-1).min(0).values.mean()  # to the nearest mode
    assert sampled_err <= 1.5 * true_err, (float(sampled_err), float(true_err))


def test_feature_windows_carry_the_actions_before_the_last_step():
    from robolearn.train import feature_windows

    feats = {"d": np.arange(4, dtype=np.float32)[:, None]}
    acts = {"d": np.arange(4, dtype=np.float32)[:, None] * 10}
    x, y, pad = feature_windows(feats, acts, ["d"], 3, 1, past=2)
    assert y.shape == (4, 3, 1) and x[0, :, 0].tolist() == [0, 0, 0]
    assert y[2, :, 0].tolist() == [0, 10, 20] and not pad[2].any()
    assert pad[0].tolist() == [True, True, False] and pad[1].tolist() == [True, False, False]


def smooth_chunks(n: int, t: int, seed: int) -> torch.Tensor:
    """Smooth random trajectories: per action dim an offset, a slope and a curvature over the chunk."""
    g = torch.Generator().manual_seed(seed)
    s = torch.linspace(-1, 1, t)[None, :, None]
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(n, 1, ACTION_DIM, generator=g)  # noqa: E731
    return (u(-0.6, 0.6) + u(-0.5, 0.5) * s + u(-0.2, 0.2) * s**2).clamp(-1, 1)


@pytest.mark.slow
def test_vq_tokenizer_reconstructs_held_out_chunks():
    t = 5
    train_chunks, held_out = smooth_chunks(2000, t, seed=0), smooth_chunks(500, t, seed=1)
    cfg = dataclasses.replace(SMALL_VQBET, vq_steps=300)
    torch.manual_seed(0)
    head = VqbetHead(EMB_DIM, ACTION_DIM, 2, t, cfg)
    prep = head.prepare(torch.zeros(2000, 2, EMB_DIM), train_chunks, torch.zeros(2000, t, dtype=torch.bool))
    assert prep["vq_codes_used_l0"] >= 12 and prep["vq_codes_used_l1"] >= 12  # dead codes were reseeded
    x = held_out.flatten(1)
    with torch.no_grad():
        codes = head.tokenizer.encode(x)
        rec = head.tokenizer.decode_codes(codes)
        # The head's targets (codes alone, the fast path) are the codes the fitting pass assigns.
        assert torch.equal(codes, head.tokenizer.vq(head.tokenizer.encoder(x))[1])
    rmse, std = (rec - x).pow(2).mean().sqrt(), x.std(0).pow(2).mean().sqrt()
    # What a working 2-layer x 16-code tokenizer leaves on these 6-degree-of-freedom chunks, measured:
    # 0.40-0.42 std at this 64-d latent and 300 steps (0.30 with the paper's 512-d latent, 3x the
    # cost); one layer alone (16 cells) leaves 0.56 std, a collapsed codebook 1.0. The bound sits
    # between a working second layer and none; the offset head corrects what the tokenizer leaves.
    assert rmse < 0.5 * std, (float(rmse), float(std))


# ----------------------------------------------------------------------------- diffusion
DF_T_O, DF_T = 2, 8
# One UNet level: the bimodal test needs ~400 steps, and a level costs ~2x per step on a CPU.
SMALL_DIFFUSION = DiffusionConfig(down_dims=(32,), step_embed=32)


def trained_bimodal_diffusion(cfg: DiffusionConfig):
    """A small diffusion head trained on the bimodal data, and the embeddings to sample it on."""
    emb, actions, pad = bimodal(512, DF_T_O, DF_T)
    torch.manual_seed(0)
    head = DiffusionHead(EMB_DIM, ACTION_DIM, DF_T_O, DF_T, cfg)
    train(head, emb, actions, pad, steps=400, lr=3e-3)
    return head, emb


@pytest.fixture(scope="module")
def diffusion_bimodal():
    return trained_bimodal_diffusion(SMALL_DIFFUSION)


@pytest.mark.slow
def test_diffusion_samples_both_modes(diffusion_bimodal):
    head, emb = diffusion_bimodal
    check_generative(head, emb)


@pytest.mark.slow
def test_diffusion_predict_uses_ema_weights(diffusion_bimodal):
    head, emb = diffusion_bimodal
    online, ema = head.net.state_dict(), head.ema.state_dict()
    assert any(not torch.equal(online[k], ema[k]) for k in online)
    assert head.denoiser() is head.ema
    assert all(not p.requires_grad for p in head.ema.parameters())
    assert {id(p) for g in head.param_groups() for p in g["params"]} == {id(p) for p in head.net.parameters()}
    x = emb[:16]
    with torch.no_grad():
        base = head.predict(x, torch.Generator().manual_seed(0))
        saved_online = {k: v.clone() for k, v in online.items()}
        for p in head.net.parameters():
            p.add_(0.5)
        assert torch.equal(head.predict(x, torch.Generator().manual_seed(0)), base)
        head.net.load_state_dict(saved_online)
        saved_ema = {k: v.clone() for k, v in ema.items()}
        for p in head.ema.parameters():
            p.add_(0.05)
        changed = head.predict(x, torch.Generator().manual_seed(0))
        head.ema.load_state_dict(saved_ema)
    assert not torch.allclose(changed, base)


def test_ema_decay_schedule():
    head = DiffusionHead(EMB_DIM, ACTION_DIM, DF_T_O, DF_T, SMALL_DIFFUSION)
    assert head.ema_decay(1) == 0.0  # the first update copies the weights
    assert head.ema_decay(11) == pytest.approx(1 - 11 ** -0.75)
    assert head.ema_decay(10**9) == 0.9999
    with torch.no_grad():
        for p in head.net.parameters():
            p.add_(1.0)
    head.after_step(1, 10)
    assert all(torch.equal(a, b) for a, b in zip(head.net.parameters(), head.ema.parameters()))


@pytest.mark.slow
def test_diffusion_roundtrip(diffusion_bimodal, tmp_path):
    head, emb = diffusion_bimodal
    fresh = roundtrip(head, DiffusionHead, tmp_path, DF_T_O, DF_T)
    with torch.no_grad():
        a = head.predict(emb[:32], torch.Generator().manual_seed(3))
        b = fresh.predict(emb[:32], torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


@pytest.mark.slow
def test_ddim_numpy_loop_matches_predict(diffusion_bimodal):
    head, emb = diffusion_bimodal
    const = head.ddim_constants()
    assert const["timesteps"] == list(range(90, -1, -10)) and len(const["alphas_cumprod"]) == 100
    x = emb[:8]
    noise = head.sample_noise(8, torch.Generator().manual_seed(5))
    cond = x.flatten(1)
    den = head.denoiser()

    def eps_fn(xt, t):
        with torch.no_grad():
            return den(torch.from_numpy(xt), torch.from_numpy(t), cond).numpy()

    with torch.no_grad():
        ref = head.predict_from_noise(x, noise).numpy()
    out = ddim_sample_numpy(eps_fn, noise.numpy(), const)
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_diffusion_loss_ignores_padded_steps():
    head = DiffusionHead(EMB_DIM, ACTION_DIM, DF_T_O, DF_T, SMALL_DIFFUSION)
    emb, actions, pad = bimodal(8, DF_T_O, DF_T)
    pad[:, 5:] = True
    seen = []
    head.net.register_forward_hook(lambda m, args, out: seen.append(out.detach()))
    torch.manual_seed(0)
    noise = torch.randn_like(actions)  # the loss's first draw after the same seed
    torch.manual_seed(0)
    masked, _ = head.loss(emb, actions, pad)
    torch.manual_seed(0)
    full, _ = head.loss(emb, actions, None)
    err = (seen[0] - noise).pow(2).mean(-1)
    assert torch.allclose(masked, err[:, :5].mean()) and torch.allclose(full, err.mean())


@pytest.fixture(scope="module")
def diffusion_sample_bimodal():
    return trained_bimodal_diffusion(dataclasses.replace(SMALL_DIFFUSION, prediction_type="sample"))


@pytest.mark.slow
def test_diffusion_sample_prediction_samples_both_modes_and_exports(diffusion_sample_bimodal):
    # x0 prediction (prediction_type "sample") must stay generative: both modes, not their mean.
    head, emb = diffusion_sample_bimodal
    check_generative(head, emb)
    const = head.ddim_constants()
    assert const["prediction_type"] == "sample"
    x, noise = emb[:8], head.sample_noise(8, torch.Generator().manual_seed(5))
    cond, den = x.flatten(1), head.denoiser()

    def x0_fn(xt, t):
        with torch.no_grad():
            return den(torch.from_numpy(xt), torch.from_numpy(t), cond).numpy()

    with torch.no_grad():
        ref = head.predict_from_noise(x, noise)
        unrolled = head.export_module()(x, noise)
    # The diffusers-free loops (numpy runtime, export graph) derive eps from x0 as diffusers does.
    np.testing.assert_allclose(ddim_sample_numpy(x0_fn, noise.numpy(), const), ref.numpy(), atol=1e-5)
    torch.testing.assert_close(unrolled, ref, atol=1e-5, rtol=0)


def test_diffusion_sample_prediction_loss_targets_the_chunk():
    cfg = dataclasses.replace(SMALL_DIFFUSION, prediction_type="sample")
    head = DiffusionHead(EMB_DIM, ACTION_DIM, DF_T_O, DF_T, cfg)
    emb, actions, pad = bimodal(8, DF_T_O, DF_T)
    pad[:, 5:] = True
    seen = []
    head.net.register_forward_hook(lambda m, args, out: seen.append(out.detach()))
    loss, logs = head.loss(emb, actions, pad)
    assert torch.allclose(loss, (seen[0] - actions).pow(2).mean(-1)[:, :5].mean()) and "x0_mse" in logs
    # The config checks itself when built (before any head or run folder exists).
    with pytest.raises(RobolearnError, match="prediction_type"):
        dataclasses.replace(SMALL_DIFFUSION, prediction_type="v")
    with pytest.raises(RobolearnError, match="cond_mlp"):
        dataclasses.replace(SMALL_DIFFUSION, cond_mlp=(16, 0))


def test_cropped_same_convolution_equals_the_full_kernel():
    """The UNet's convolutions skip the taps that only meet padding on short chunks (a speed-up): outputs and
    gradients are nn.Conv1d's with the same weights, at every length, the 1- and 2-step ones included."""
    torch.manual_seed(0)
    for kernel in (3, 5):
        for length in (1, 2, 3, 4, 7):
            conv = SameConv1d(8, 16, kernel, padding=kernel // 2)
            full = torch.nn.Conv1d(8, 16, kernel, padding=kernel // 2)
            full.load_state_dict(conv.state_dict())
            x = torch.randn(3, 8, length, requires_grad=True)
            x_full = x.detach().clone().requires_grad_(True)
            y, y_full = conv(x), full(x_full)
            assert y.shape == y_full.shape == (3, 16, length)
            torch.testing.assert_close(y, y_full, rtol=1e-5, atol=1e-6)
            y.square().sum().backward()
            y_full.square().sum().backward()
            torch.testing.assert_close(x.grad, x_full.grad, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(conv.weight.grad, full.weight.grad, rtol=1e-5, atol=1e-6)
            if length == 1:  # only the centre tap meets data
                assert conv.weight.grad[..., :kernel // 2].abs().sum() == 0
    with pytest.raises(RobolearnError, match="kernel_size must be odd"):
        ConditionalUnet1D(ACTION_DIM, EMB_DIM, (8, 16), kernel=4)


@pytest.mark.slow
def test_unet_multilevel_any_horizon():
    # The default three-level UNet on a horizon that is not a multiple of 4 (padded inside).
    net = ConditionalUnet1D(ACTION_DIM, 3 * EMB_DIM, DiffusionConfig().down_dims)
    x = torch.randn(3, 5, ACTION_DIM)
    out = net(x, torch.tensor([0, 50, 99]), torch.randn(3, 3 * EMB_DIM))
    assert out.shape == x.shape
    out.pow(2).mean().backward()
    assert all(p.grad is not None for p in net.parameters())
    # With an observation MLP the window reaches FiLM through it, and it trains with the UNet.
    net = ConditionalUnet1D(ACTION_DIM, 3 * EMB_DIM, (16, 32), groups=8, step_embed=16, cond_mlp=(24, 12))
    assert [m.out_features for m in net.cond_mlp if isinstance(m, torch.nn.Linear)] == [24, 12]
    out = net(x, torch.tensor([0, 50, 99]), torch.randn(3, 3 * EMB_DIM))
    assert out.shape == x.shape
    out.pow(2).mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.cond_mlp.parameters())
    # A few steps on one batch: the two-level path (down- and upsampling) trains.
    head = DiffusionHead(EMB_DIM, ACTION_DIM, DF_T_O, DF_T, DiffusionConfig(down_dims=(16, 32), step_embed=16))
    emb, actions, pad = bimodal(32, DF_T_O, DF_T)
    opt = torch.optim.AdamW(head.param_groups(), lr=3e-3)
    torch.manual_seed(0)
    losses = []
    for _ in range(30):
        torch.manual_seed(0)  # same noise and timesteps each step: a fixed objective
        loss, _ = head.loss(emb, actions, pad)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_bad_diffusion_option_is_one_line_before_any_file(tmp_path, capsys):
    """A bad head option ends `robolearn train` at parse time: one line, exit 2, no run folder left."""
    from robolearn.cli import main

    for flag, value, msg in (("--diffusion.cond-mlp", "0", "every cond_mlp width must be >= 1; got (0,)"),
                             ("--diffusion.prediction-type", "v", "prediction_type must be one of epsilon, sample")):
        out = tmp_path / "pol"
        code = main(["train", "--data", str(tmp_path / "missing.hdf5"), "--head", "diffusion", flag, value,
                     "--out", str(out)])
        err = capsys.readouterr().err.strip()
        assert code == 2 and err.startswith("error: diffusion: ") and msg in err and "\n" not in err
        assert not out.exists()


def test_head_constructor_error_leaves_no_run_folder(tmp_path, capsys):
    """A head option that only the head can check (widths against GroupNorm groups) on real data: one line,
    exit 2, no run folder left, and a folder the user made left as it was (empty)."""
    from robolearn.cli import main

    data = tmp_path / "d.hdf5"
    assert main(["collect", "--env", "robolearn/PointMass-v0", "--episodes", "2", "--image-size", "32",
                 "--out", str(data)]) == 0
    kept = tmp_path / "kept"
    kept.mkdir()
    for out in (tmp_path / "pol", kept):
        capsys.readouterr()
        code = main(["train", "--data", str(data), "--encoder", "state", "--head", "diffusion", "--out", str(out),
                     "--diffusion.down-dims", "30", "60", "--diffusion.n-groups", "8", "--wandb", "disabled"])
        err = capsys.readouterr().err.strip()
        assert code == 2 and "\n" not in err and "divisible by n_groups (8); got (30, 60)" in err, err
    assert not (tmp_path / "pol").exists()
    assert kept.is_dir() and not any(kept.iterdir())  # the user's own empty folder stays, empty


def test_noise_schedule_and_ddim_loop_are_diffusers_arithmetic():
    """The head's own schedule (no diffusers at run time: importing it costs 1.9 s of CPU a process) against
    diffusers itself: the same alphas, timesteps and noised chunks bit for bit, and the same DDIM samples
    from a denoiser for both prediction types."""
    from diffusers import DDIMScheduler, DDPMScheduler

    from robolearn.policies.diffusion import NoiseSchedule, ddim_loop

    g = torch.Generator().manual_seed(0)
    for train_steps, inference_steps in ((100, 10), (100, 16), (50, 7)):
        ours = NoiseSchedule(train_steps, inference_steps)
        for kind in PREDICTION_TYPES:
            kw = dict(num_train_timesteps=train_steps, beta_schedule="squaredcos_cap_v2", clip_sample=True,
                      prediction_type=kind)
            ddpm, ddim = DDPMScheduler(**kw), DDIMScheduler(**kw)
            ddim.set_timesteps(inference_steps)
            assert torch.equal(ours.alphas_cumprod, ddpm.alphas_cumprod)
            assert ours.timesteps == [int(t) for t in ddim.timesteps]
            x0, noise = torch.randn(64, 4, 2, generator=g), torch.randn(64, 4, 2, generator=g)
            t = torch.randint(0, train_steps, (64,), generator=g)
            assert torch.equal(ours.add_noise(x0, noise, t), ddpm.add_noise(x0, noise, t))

            net = ConditionalUnet1D(2, 6, (8, 16), groups=4, step_embed=16).eval()
            emb, start = torch.randn(5, 1, 6, generator=g), torch.randn(5, 4, 2, generator=g)
            with torch.no_grad():
                x = start.clone()
                for step in ddim.timesteps:
                    x = ddim.step(net(x, step.expand(5), emb.flatten(1)), step, x, eta=0.0).prev_sample
                reference = x.clamp(-1, 1)
                mine = ddim_loop(net, ours.ddim_steps, kind == "sample", ours.clip_range, emb, start)
            torch.testing.assert_close(mine, reference, rtol=0, atol=1e-6)
    with pytest.raises(RobolearnError, match="inference_steps"):
        NoiseSchedule(100, 0)
