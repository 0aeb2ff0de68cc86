"""Embeddings of every demonstration frame by a frozen encoder, cached on disk.

Heads train on these instead of images (as in DynaMo and the inverse-dynamics paper): the encoder
runs once per frame instead of once per step. The cache file is keyed by the encoder weights' hash
and the dataset's hash, so a changed encoder or dataset never reuses stale embeddings.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm


@torch.no_grad()
def embed_demos(encoder, store, cameras: list[str], demos: list[str], device=None,
                batch_size: int = 256, desc: str = "embedding", progress: bool = True) -> dict[str, np.ndarray]:
    """Per-demo (T, D) float32 embeddings of every frame."""
    device = device or next(encoder.parameters()).device
    encoder.eval()
    out = {}
    for demo in tqdm(demos, desc=desc, disable=not progress, dynamic_ncols=True, leave=False):
        frames = store.images(demo, cameras)  # (T, V, H, W, 3)
        chunks = []
        for i in range(0, len(frames), batch_size):
            x = torch.from_numpy(frames[i : i + batch_size]).to(device)
            chunks.append(encoder(x).float().cpu())
        out[demo] = torch.cat(chunks).numpy()
    return out


def cached_embeddings(encoder, encoder_hash: str, store, data_hash: str, cameras: list[str],
                      cache_dir: Path, device=None) -> dict[str, np.ndarray]:
    """All demos' frame embeddings, read from the cache or computed and written to it."""
    cache_dir = Path(cache_dir)
    path = cache_dir / f"emb-{encoder_hash}-{data_hash}-{'+'.join(cameras)}.safetensors"
    demos = store.demo_names(None)
    if path.exists():
        sd = load_file(str(path))
        if all(d in sd for d in demos):
            return {d: sd[d].numpy() for d in demos}
    emb = embed_demos(encoder, store, cameras, demos, device=device)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    save_file({d: torch.from_numpy(np.ascontiguousarray(e)) for d, e in emb.items()}, str(tmp))
    os.replace(tmp, path)
    return emb
