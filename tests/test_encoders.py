import numpy as np
import pytest
import torch

from robolearn.config import EncoderConfig
from robolearn.encoders import ConvEncoder, SpatialSoftmax, make_encoder
from robolearn.errors import RobolearnError


@pytest.mark.parametrize("name,dim", [("conv", 64), ("resnet18", 512)])
def test_shapes_and_views_concatenated(name, dim):
    enc = make_encoder(EncoderConfig(name=name), num_views=2, image_size=32).eval()
    x = torch.randint(0, 256, (3, 4, 2, 32, 32, 3), dtype=torch.uint8)
    out = enc(x)
    assert out.shape == (3, 4, 2 * dim) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    # The same network encodes every view: swapping the views swaps the halves of the output.
    swapped = enc(x.flip(2))
    assert torch.allclose(swapped[..., :dim], out[..., dim:], atol=1e-5)
    assert enc.embed_dim == 2 * dim


def test_resnet_groupnorm_option_is_batch_independent():
    enc = make_encoder(EncoderConfig(name="resnet18", norm="group"), 1, 32).train()
    x = torch.randint(0, 256, (4, 1, 32, 32, 3), dtype=torch.uint8)
    # GroupNorm: a frame's embedding does not depend on the rest of the batch, even in train mode.
    assert torch.allclose(enc(x)[:1], enc(x[:1]), atol=1e-5)


def test_rejects_float_images_and_wrong_view_count():
    enc = make_encoder(EncoderConfig(name="conv"), 2, 32)
    with pytest.raises(RobolearnError, match="uint8"):
        enc(torch.rand(1, 2, 32, 32, 3))
    with pytest.raises(RobolearnError, match="2 camera"):
        enc(torch.zeros(1, 3, 32, 32, 3, dtype=torch.uint8))


@pytest.mark.parametrize("name", ["conv", "resnet18"])
def test_normalization_inside_the_encoder(name):
    """Callers pass raw uint8 frames; the encoder maps 0..255 to [-1, 1] itself, and what its
    network sees is exactly that (not the raw values, not a second scaling)."""
    enc = make_encoder(EncoderConfig(name=name), 1, 32).eval()
    frames = torch.randint(0, 256, (2, 1, 32, 32, 3), dtype=torch.uint8)
    frames[0, 0, 0, 0] = torch.tensor([0, 255, 128], dtype=torch.uint8)
    seen = []
    original = enc.frame_forward
    enc.frame_forward = lambda x: (seen.append(x), original(x))[1]
    out = enc(frames)
    x = seen[0]  # float (N, 3, H, W)
    assert x.shape == (2, 3, 32, 32) and x.dtype == torch.float32
    assert x[0, :, 0, 0].tolist() == pytest.approx([-1.0, 1.0, 128 / 127.5 - 1.0], abs=1e-6)
    assert torch.allclose(x, frames[:, 0].permute(0, 3, 1, 2).float() / 127.5 - 1.0)
    assert torch.allclose(out, original(x), atol=1e-6)


@pytest.mark.parametrize("side", [3, 4, 10])
def test_spatial_softmax_is_each_channels_expected_pixel_coordinates(side):
    """Both layouts (maps under 16 pixels and the rest): a channel peaked at one pixel gives that pixel's
    (x, y) in [-1, 1]; any map gives the softmax-weighted mean of the coordinates, x of every channel then
    y of every channel, in float32 under bf16 autocast too."""
    pool = SpatialSoftmax(0.01)
    coords = torch.linspace(-1.0, 1.0, side)
    x = torch.zeros(2, 3, side, side)
    peaks = [(0, side - 1), (side - 1, 1), (1, 0)]  # (row, column) of each channel's peak
    for ch, (row, col) in enumerate(peaks):
        x[:, ch, row, col] = 1.0
    out = pool(x)
    assert out.shape == (2, 6)
    want = torch.tensor([coords[c] for _, c in peaks] + [coords[r] for r, _ in peaks])
    assert torch.allclose(out, want.expand(2, 6), atol=1e-4)
    x = torch.randn(2, 3, side, side, generator=torch.Generator().manual_seed(0))
    attn = torch.softmax(x.flatten(2) / 0.01, dim=-1).view(2, 3, side, side)
    mean = torch.cat([(attn.sum(2) * coords).sum(-1), (attn.sum(3) * coords).sum(-1)], dim=-1)
    assert torch.allclose(pool(x), mean, atol=1e-6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = pool(x.bfloat16())
    assert low.dtype == torch.float32 and torch.allclose(low, pool(x.bfloat16().float()), atol=1e-6)


def test_the_config_lists_exactly_the_registered_encoders():
    """EncoderConfig sits below the encoders (the data layer reads it), so its choices are written
    out there; this keeps them equal to the registry."""
    import typing

    from robolearn.encoders import ENCODERS

    assert typing.get_args(typing.get_type_hints(EncoderConfig)["name"]) == ENCODERS.names()


def test_conv_encoder_refuses_images_too_small_for_its_convolutions(tmp_path, capsys):
    """A 16-px store: pretraining says what the smallest size is in one line, not a torch traceback."""
    from robolearn.cli import main

    data = tmp_path / "d.hdf5"
    assert main(["collect", "--env", "robolearn/PointMass-v0", "--episodes", "2", "--image-size", "16",
                 "--out", str(data)]) == 0
    capsys.readouterr()
    rc = main(["pretrain", "--data", str(data), "--objective", "none", "--out", str(tmp_path / "enc"),
               "--wandb", "disabled"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "at least 23 px" in err and "got 16 px" in err, err
    assert not (tmp_path / "enc").exists()  # no folder with a config and no encoder left behind
    kept = tmp_path / "kept"  # a folder the user made: it stays, as empty as it was
    kept.mkdir()
    assert main(["pretrain", "--data", str(data), "--objective", "none", "--out", str(kept), "--wandb", "disabled"]) == 2
    assert kept.is_dir() and not any(kept.iterdir())
    assert ConvEncoder(1, 23)(torch.zeros(2, 1, 23, 23, 3, dtype=torch.uint8)).shape == (2, 64)  # the limit works


# ----------------------------------------------------------------------------- random init separates frames
@pytest.fixture(scope="module")
def reach_frames(reach_demos):
    """Rendered Reach frames at 32 and 64 px (floor colour and distractors redrawn per episode)."""
    from robolearn.data.store import open_store

    out = {}
    for size, path in reach_demos.items():
        with open_store(path) as store:
            demos = store.demo_names(None)
            out[size] = torch.from_numpy(np.concatenate([store.images(d) for d in demos]))
            out["episode", size] = np.concatenate([np.full(store.length(d), i) for i, d in enumerate(demos)])
    return out


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("name", ["conv", "resnet18"])
def test_random_init_separates_frames(reach_frames, name, size):
    """At random init, in eval mode (as the frozen `none` baseline and the embedding cache use it),
    different frames get different embeddings spread over many directions: DynaMo's cosine loss is
    then not trivially zero, and a head sees more than one varying direction. The paper's conv
    encoder gave mean pairwise cosine 0.9999 here; ResNet-18's BatchNorm at its initial statistics 0.95."""
    from robolearn.distributed import has_batchnorm
    from robolearn.encoders import calibrate_batchnorm
    from robolearn.probes import collapse_stats

    frames = reach_frames[size]
    torch.manual_seed(0)
    enc = make_encoder(EncoderConfig(name=name), 1, size)
    if has_batchnorm(enc):  # what `robolearn pretrain --objective none` does for BatchNorm encoders
        calibrate_batchnorm(enc, frames.split(64))
    with torch.no_grad():
        emb = enc.eval()(frames)
    stats = collapse_stats(emb.numpy())
    assert stats["mean_cosine"] < 0.6, stats
    assert stats["effective_rank"] >= 16, stats


def test_batchnorm_calibration_sets_statistics_not_weights():
    enc = make_encoder(EncoderConfig(name="resnet18"), 1, 32)
    before = {k: v.clone() for k, v in enc.state_dict().items() if "running" not in k and "num_batches" not in k}
    x = torch.randint(0, 256, (16, 1, 32, 32, 3), dtype=torch.uint8)
    assert calibrate_batchnorm_frames(enc, x) == 16
    after = enc.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())
    bn = enc.stem[1]
    assert not torch.allclose(bn.running_var, torch.ones_like(bn.running_var))
    assert bn.momentum == 0.1 and not enc.training  # restored


def calibrate_batchnorm_frames(enc, x):
    from robolearn.encoders import calibrate_batchnorm

    enc.eval()
    return calibrate_batchnorm(enc, x.split(8))


def test_consecutive_frames_are_not_trivially_predictable_at_init(reach_frames):
    """DynaMo's loss for a forward model that copies s_t: 1 - cos(s_t, s_t+1) over consecutive frames
    of an episode. The paper's conv encoder gave ~1e-5 at init (a loss with nothing to learn from);
    ours 0.29-0.38 (seeds 0-2)."""
    frames, episode = reach_frames[32], reach_frames["episode", 32]
    torch.manual_seed(0)
    with torch.no_grad():
        emb = make_encoder(EncoderConfig(name="conv"), 1, 32).eval()(frames)
    same = torch.from_numpy(episode[1:] == episode[:-1])
    copy_loss = 1 - torch.nn.functional.cosine_similarity(emb[1:], emb[:-1], dim=-1)[same]
    assert float(copy_loss.mean()) > 0.05


def test_frozen_random_resnet_uses_its_data_statistics(tmp_path):
    """`pretrain --objective none` with a BatchNorm encoder saves running statistics estimated on the
    training frames (not the initial mean 0 / variance 1), and its embedding separates frames."""
    from robolearn.config import CollectConfig, PretrainConfig
    from robolearn.data.collect import collect
    from robolearn.encoders import load_encoder
    from robolearn.pretrain import pretrain

    demos = collect(CollectConfig(env="robolearn/Reach-v0", episodes=10, image_size=32, seed=0, workers=1,
                                  out=tmp_path / "reach.hdf5"))
    out = pretrain(PretrainConfig(data=demos, out=tmp_path / "none", objective="none",
                                  encoder=EncoderConfig(name="resnet18"), wandb="disabled"))
    from robolearn.data.store import open_store
    from robolearn.probes import collapse_stats

    enc, _ = load_encoder(out)
    assert not torch.allclose(enc.stem[1].running_var, torch.ones(64))
    with open_store(demos) as store:
        frames = torch.from_numpy(np.concatenate([store.images(d) for d in store.demo_names(None)]))
    initial = make_encoder(EncoderConfig(name="resnet18"), 1, 32).eval()  # BatchNorm at mean 0 / variance 1
    with torch.no_grad():
        before = collapse_stats(initial(frames).numpy())["mean_cosine"]
        after = collapse_stats(enc(frames).numpy())["mean_cosine"]
    assert before > 0.9 and after < 0.6, (before, after)


def test_conv_first_stride_1_keeps_block_positions_at_32_px(blockpush_demos):
    """At 32 px the paper's strides (2, 2, 1, 1) leave the spatial softmax a 3x3 map, which a BlockPush
    block (about 2 px on the overview camera) falls between; first stride 1 leaves 10x10. On real
    BlockPush frames a linear probe reads the blocks' x, y from the random-init embedding far better
    with it (held-out episodes; 200 demos: 0.45 against 0.20, and after 1,500 supervised steps 0.90
    against 0.78, benchmarks/results/blockpush_images/encoder_resolution.md)."""
    from robolearn.data.store import open_store
    from robolearn.probes import ridge_r2

    assert (ConvEncoder.map_size(32), ConvEncoder.map_size(32, first_stride=1)) == (3, 10)
    with open_store(blockpush_demos) as store:
        names = store.demo_names(None)
        frames = [torch.from_numpy(store.images(d, store.cameras)) for d in names]
        blocks = [store.obs(d, "state")[:, [0, 1, 4, 5]] for d in names]  # both blocks' x, y
    fit, held = slice(0, 15), slice(15, None)
    probe = {}
    for stride in (2, 1):
        r2 = []
        for seed in (0, 1, 2):
            torch.manual_seed(seed)
            enc = make_encoder(EncoderConfig(name="conv", first_stride=stride), 2, 32).eval()
            with torch.no_grad():
                emb = [enc(f).numpy() for f in frames]
            r2.append(ridge_r2(np.concatenate(emb[fit]), np.concatenate(blocks[fit]),
                               np.concatenate(emb[held]), np.concatenate(blocks[held])).mean())
        probe[stride] = float(np.mean(r2))
    assert probe[1] > probe[2] + 0.2, probe  # measured: 0.12 against -0.22 (20 episodes)
