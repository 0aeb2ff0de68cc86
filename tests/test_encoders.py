import pytest
import torch

from robolearn.config import EncoderConfig
from robolearn.encoders import make_encoder
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


def test_normalization_inside_the_encoder():
    # Callers pass raw uint8; the conv encoder's output is bounded by its tanh.
    enc = make_encoder(EncoderConfig(name="conv"), 1, 32)
    out = enc(torch.full((2, 1, 32, 32, 3), 255, dtype=torch.uint8))
    assert out.abs().max() <= 1.0
