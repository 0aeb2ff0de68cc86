import pytest
import torch

from robolearn.config import EncoderConfig
from robolearn.encoders import ConvEncoder, make_encoder
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
    assert not (tmp_path / "enc" / "encoder.json").exists()
    assert ConvEncoder(1, 23)(torch.zeros(2, 1, 23, 23, 3, dtype=torch.uint8)).shape == (2, 64)  # the limit works
