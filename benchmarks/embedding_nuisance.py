"""Two embedding checks behind benchmarks/results/probe_objectives_item4 (issue 18, item 4).

- colour shift: how far a global recolouring (channel gains 1.2, 0.85, 1) of every frame of a store
  moves the embedding, as a share of the embedding's total variance over those frames. High: the
  embedding spends itself on colour (Reach redraws its floor colour every episode).
- action alignment: over pairs of validation frames, the correlation between the cosine of their
  (batch-centred) embeddings and the cosine of their (centred) actions. What CCL's local losses ask of
  the encoder when S is the actions' cosine.

    .venv/bin/python benchmarks/embedding_nuisance.py --data runs/h18/reach/pretrain_demos.hdf5 \\
        --encoders runs/h18/reach/enc/none-s0 runs/h18/reach/enc/dynamo-s0 runs/h18/reach/enc/ccl-s0
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch
import tyro

from robolearn.data.store import open_store
from robolearn.encoders import load_encoder

GAINS = (1.2, 0.85, 1.0)


@dataclass
class Args:
    data: Path
    encoders: list[Path] = field(default_factory=list)
    camera: str = "top"


def _unit(v: torch.Tensor) -> torch.Tensor:
    v = v - v.mean(0)
    return v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)


def main(args: Args) -> None:
    torch.set_num_threads(1)
    with open_store(args.data) as store:
        frames = torch.from_numpy(np.concatenate([store.images(d, [args.camera]) for d in store.demo_names(None)]))
        valid = store.demo_names("valid")
        vframes = torch.from_numpy(np.concatenate([store.images(d, [args.camera]) for d in valid]))
        actions = torch.from_numpy(np.concatenate([store.actions(d) for d in valid])).float()
    recoloured = (frames.float() * torch.tensor(GAINS)).round().clamp(0, 255).to(torch.uint8)
    pairs = torch.triu_indices(len(actions), len(actions), 1)
    action_cos = (_unit(actions) @ _unit(actions).T)[pairs[0], pairs[1]]
    print(f"{len(frames)} frames, {len(vframes)} validation frames")
    print("| encoder | colour shift / variance | action alignment |\n| --- | --- | --- |")
    for enc_dir in args.encoders:
        encoder, _ = load_encoder(enc_dir)
        with torch.no_grad():
            e, e2, ev = encoder(frames).float(), encoder(recoloured).float(), encoder(vframes).float()
        shift = float((e - e2).pow(2).sum(1).mean() / e.var(0).sum())
        emb_cos = (_unit(ev) @ _unit(ev).T)[pairs[0], pairs[1]]
        align = float(np.corrcoef(emb_cos.numpy(), action_cos.numpy())[0, 1])
        print(f"| {enc_dir} | {shift:.3f} | {align:.3f} |")


if __name__ == "__main__":
    main(tyro.cli(Args))
