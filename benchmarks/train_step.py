"""CPU time of one head training step, with and without this project's step-speed changes.

The three heads of the `blockpush-state` suite at its settings (state embedding 16-D, 2-D actions,
batch 256, one torch thread), each step as the trainer takes it (loss, backward, per-group clip,
AdamW, after_step) on one in-memory batch, timed in CPU seconds over `--steps` steps after 5 warm-up
steps:

- `optimizer`: AdamW fused (one kernel over all parameters; `robolearn.trainable.adamw`) against the
  per-tensor `foreach` update that was the CPU default before;
- `crop`: the diffusion UNet's 'same' convolutions with the kernel taps that only meet padding
  skipped (`SameConv1d`) against the full kernel (plain `nn.Conv1d.forward`);
- `decode`: VQ-BeT's frozen tokenizer decoded through its table of every code combination
  (`VqbetHead.decode_table`) against the decoder MLP run on each position;
- `bf16`: the step under bf16 autocast (the trainer's `amp="bf16"`), which this CPU's bf16 matmul and
  convolution kernels run faster for some heads and slower for others.

The variants of a head alternate over `--rounds` rounds and the table gives the min and the median
per variant: this host's run-to-run spread (~15%) is larger than some of the changes.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/train_step.py
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch
import torch.nn as nn
import tyro

from robolearn.bench import (BLOCKPUSH_STATE_DIFFUSION, BLOCKPUSH_STATE_DIFFUSION_HORIZONS,
                             BLOCKPUSH_STATE_DIFFUSION_OPTIM, BLOCKPUSH_STATE_VQBET)
from robolearn.policies import get_head
from robolearn.policies.diffusion import SameConv1d
from robolearn.settings import OptimConfig, resolve_optim


@dataclass
class Args:
    steps: int = 20
    """Timed steps per variant and round (after 5 untimed)."""
    rounds: int = 5
    """Rounds; each times every variant of a head once, in turn."""
    batch: int = 256
    emb_dim: int = 16
    action_dim: int = 2


# (head, options, (T_o, T)), as the blockpush-state suite trains them
HEADS = [
    ("mlp", {}, (1, 5)),
    ("vqbet", BLOCKPUSH_STATE_VQBET, (3, 1)),
    ("diffusion", BLOCKPUSH_STATE_DIFFUSION, tuple(BLOCKPUSH_STATE_DIFFUSION_HORIZONS[:2])),
]


def build(name: str, options: dict, horizons: tuple[int, int], args: Args, batch):
    cls = get_head(name)
    torch.manual_seed(0)
    head = cls(args.emb_dim, args.action_dim, *horizons, cls.Config(**options))
    head.prepare(*batch)  # VQ-BeT fits its tokenizer; the others do nothing
    return head


def cpu_ms_per_step(head, batch, optim_cfg: OptimConfig, steps: int, fused: bool, bf16: bool = False) -> float:
    groups = [g for g in head.param_groups() if g["params"]]
    opt = torch.optim.AdamW(groups, lr=optim_cfg.lr, weight_decay=optim_cfg.weight_decay,
                            betas=tuple(optim_cfg.betas), fused=fused, foreach=None if fused else True)
    head.train()

    def step(i):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):  # the trainer's amp="bf16"
            loss, _ = head.train_loss(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for g in opt.param_groups:
            torch.nn.utils.clip_grad_norm_(g["params"], optim_cfg.grad_clip)
        opt.step()
        head.after_step(i + 1, steps + 5)

    for i in range(5):
        step(i)
    t0 = time.process_time()
    for i in range(steps):
        step(5 + i)
    return (time.process_time() - t0) / steps * 1000


def variants(name: str) -> list[tuple[str, bool]]:
    """(variant, fused AdamW) pairs of a head: each change against the code before it."""
    if name == "diffusion":
        return [("full kernel", False), ("full kernel", True), ("cropped", False), ("cropped", True),
                ("cropped, bf16", True)]
    if name == "vqbet":
        return [("decoder MLP", False), ("decoder MLP", True), ("decode table", True), ("decode table, bf16", True)]
    return [("-", False), ("-", True), ("bf16", True)]


def build_variant(name, options, horizons, args, batch, variant: str):
    head = build(name, options, horizons, args, batch)
    if variant == "decoder MLP":  # an empty table: decode() runs the tokenizer's decoder, as before
        head.decode_table = head.decode_table[:0]
    return head


def main(args: Args) -> None:
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread, batch {args.batch}, "
          f"{args.rounds} rounds of {args.steps} steps")
    print("| head | variant | AdamW | CPU ms / step, min | median | steps / CPU s (median) |")
    print("| --- | --- | --- | --- | --- | --- |")
    same_forward = SameConv1d.forward
    for name, options, horizons in HEADS:
        t_o, t = horizons
        # The window's actions: VQ-BeT supervised at every position also reads the T_o - 1 before its chunk.
        t_act = t + get_head(name)(args.emb_dim, args.action_dim, t_o, t, get_head(name).Config(**options)).action_context
        g = torch.Generator().manual_seed(0)
        batch = (torch.randn(args.batch, t_o, args.emb_dim, generator=g),
                 torch.rand(args.batch, t_act, args.action_dim, generator=g) * 2 - 1,
                 torch.zeros(args.batch, t_act, dtype=torch.bool))
        short = get_head(name).short_run_optim
        extra = BLOCKPUSH_STATE_DIFFUSION_OPTIM if name == "diffusion" else {}
        ocfg = resolve_optim(OptimConfig(steps=args.steps, batch_size=args.batch, **{**short, **extra}),
                             get_head(name).optim_defaults)
        runs = [(v, fused, build_variant(name, options, horizons, args, batch, v)) for v, fused in variants(name)]
        times: dict = {}
        for _ in range(args.rounds):
            for v, fused, head in runs:
                SameConv1d.forward = nn.Conv1d.forward if v == "full kernel" else same_forward
                times.setdefault((v, fused), []).append(
                    cpu_ms_per_step(head, batch, ocfg, args.steps, fused, bf16=v.endswith("bf16")))
        SameConv1d.forward = same_forward
        for (v, fused), ms in times.items():
            med = statistics.median(ms)
            print(f"| {name} | {v} | {'fused' if fused else 'foreach'} | {min(ms):.1f} | {med:.1f} | {1000 / med:.2f} |",
                  flush=True)


if __name__ == "__main__":
    main(tyro.cli(Args))
