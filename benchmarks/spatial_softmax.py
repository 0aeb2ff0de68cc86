"""CPU time of the conv encoder's spatial softmax, and of a whole encoder step, before and after its rewrite.

`before` is the pooling as it was until this benchmark: a softmax over each channel's flattened map (the
last dimension), then the marginal sums times the coordinates. `after` is `robolearn.encoders.SpatialSoftmax`:
the expectation as one matmul against the (x, y) grid, and for maps under 16 pixels the softmax over the
leading dimension of the transposed logits (torch's CPU softmax over a last dimension of 9 is slow).

Rows: the pooling alone (forward and backward, batch x 256 channels) at each map side, then the conv
encoder's forward and backward at 32 px (3x3 map) and 64 px (11x11), first stride 2, and at 32 px with
first stride 1 (10x10). The variants alternate over `--rounds` rounds; the table gives the median
milliseconds of each and the ratio.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/spatial_softmax.py
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch
import tyro

from robolearn.encoders import ConvEncoder, SpatialSoftmax


@dataclass
class Args:
    batch: int = 128
    """Frames per call (an IDM step at batch 64 encodes 128)."""
    steps: int = 20
    """Timed calls per round, after 3 warm-up calls."""
    rounds: int = 3


class SpatialSoftmaxBefore(SpatialSoftmax):
    """The pooling before the rewrite, same parameters."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        attn = torch.softmax(x.flatten(2) / self.log_temperature.exp(), dim=-1).view(b, c, h, w)
        ys = torch.linspace(-1.0, 1.0, h, device=x.device, dtype=attn.dtype)
        xs = torch.linspace(-1.0, 1.0, w, device=x.device, dtype=attn.dtype)
        return torch.cat([(attn.sum(dim=2) * xs).sum(dim=-1), (attn.sum(dim=3) * ys).sum(dim=-1)], dim=-1)


def time_ms(fn, steps: int) -> float:
    for _ in range(3):
        fn()
    start = time.process_time()
    for _ in range(steps):
        fn()
    return (time.process_time() - start) / steps * 1000


def pooling_case(side: int, batch: int):
    x = torch.randn(batch, 256, side, side, requires_grad=True)
    pools = {"before": SpatialSoftmaxBefore(0.1), "after": SpatialSoftmax(0.1)}
    err = (pools["before"](x) - pools["after"](x)).abs().max().item()

    def step(pool):
        x.grad = None
        pool(x).sum().backward()
    return {name: (lambda p=pool: step(p)) for name, pool in pools.items()}, err


def encoder_case(size: int, first_stride: int, batch: int):
    torch.manual_seed(0)
    enc = ConvEncoder(1, size, 64, first_stride)
    before = SpatialSoftmaxBefore(ConvEncoder.SOFTMAX_TEMPERATURE)
    images = torch.randint(0, 256, (batch, 1, size, size, 3), dtype=torch.uint8)
    after = enc.pool
    with torch.no_grad():
        out_after = enc(images)
        enc.pool = before
        err = (enc(images) - out_after).abs().max().item()

    def step(pool):
        enc.pool = pool
        enc.zero_grad(set_to_none=True)
        enc(images).sum().backward()
    return {"before": lambda: step(before), "after": lambda: step(after)}, err


def main(args: Args) -> None:
    torch.set_num_threads(1)
    cases = {f"pooling {s}x{s}": pooling_case(s, args.batch) for s in (3, 4, 5, 7, 10, 11)}
    for size, stride in ((32, 2), (64, 2), (32, 1)):
        side = ConvEncoder.map_size(size, stride)
        cases[f"conv encoder {size} px, stride {stride} ({side}x{side})"] = encoder_case(size, stride, args.batch)
    times = {name: {"before": [], "after": []} for name in cases}
    for _ in range(args.rounds):
        for name, (fns, _) in cases.items():
            for variant, fn in fns.items():
                times[name][variant].append(time_ms(fn, args.steps))
    print(f"batch {args.batch}, 256 channels for the pooling rows; CPU ms a forward and backward, median of "
          f"{args.rounds} rounds of {args.steps}")
    print(f"{'case':40s} {'before':>8s} {'after':>8s} {'ratio':>6s} {'max |diff|':>10s}")
    for name, (_, err) in cases.items():
        b, a = (statistics.median(times[name][v]) for v in ("before", "after"))
        print(f"{name:40s} {b:8.2f} {a:8.2f} {b / a:6.2f} {err:10.1e}")


if __name__ == "__main__":
    main(tyro.cli(Args))
