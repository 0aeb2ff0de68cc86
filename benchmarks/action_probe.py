"""How much of the demonstrated action a linear read-out finds in a frozen embedding, from few demos
and from many: the check between a state probe and rollouts.

A high state probe (`val/probe_r2`) says the embedding holds the scene's state; a head must still
learn the action from it with the task's few demonstrations. This fits a ridge from each encoder's
embedding (both cameras) to the action, once on the head's demos and once on the pretraining pool's
training demos, and reports R² on the pool's validation demos. Run it on a finished `lift-fewshot`
bench folder:

    .venv/bin/python benchmarks/action_probe.py --root runs/lift_fewshot/lift-fewshot \\
        --encoders none-s0 idm-s0 dynamo-s0 none-s1 idm-s1 dynamo-s1
"""
from __future__ import annotations

import robolearn.rendering  # noqa: F401  (MUJOCO_GL before mujoco)

import os
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch
import tyro

from robolearn.data.store import open_store
from robolearn.data.windows import resolve_cameras
from robolearn.embeddings import embed_demos
from robolearn.encoders import load_encoder
from robolearn.probes import ridge_r2


@dataclass
class Args:
    root: Path = Path("runs/lift_fewshot/lift-fewshot")
    """A bench task folder: demos.hdf5 (the heads' demos), pretrain_demos.hdf5 and enc/<encoder>."""
    encoders: list[str] = field(default_factory=lambda: ["none-s0", "idm-s0", "dynamo-s0"])
    alpha: float = 1e-2


def main(args: Args) -> None:
    torch.set_num_threads(1)
    head, pool = open_store(args.root / "demos.hdf5"), open_store(args.root / "pretrain_demos.hdf5")
    cams = resolve_cameras(head, None)
    few, train, valid = head.demo_names(None), pool.demo_names("train"), pool.demo_names("valid")

    def stack(store, emb, demos):
        return (np.concatenate([emb[d] for d in demos]), np.concatenate([store.actions(d) for d in demos]))

    print(f"action R² on {len(valid)} validation demos of the pool, ridge alpha {args.alpha}\n")
    print(f"| encoder | fitted on the {len(few)} head demos | fitted on {len(train)} pool demos |")
    print("| --- | --- | --- |")
    for name in args.encoders:
        enc = load_encoder(args.root / "enc" / name)
        enc = enc[0] if isinstance(enc, tuple) else enc
        eh = embed_demos(enc, head, cams, few, progress=False)
        ep = embed_demos(enc, pool, cams, train + valid, progress=False)
        vx, vy = stack(pool, ep, valid)
        r_few = ridge_r2(*stack(head, eh, few), vx, vy, alpha=args.alpha).mean()
        r_many = ridge_r2(*stack(pool, ep, train), vx, vy, alpha=args.alpha).mean()
        print(f"| {name} | {r_few:.2f} | {r_many:.2f} |", flush=True)


if __name__ == "__main__":
    main(tyro.cli(Args))
