"""Embeddings of every demonstration frame by a frozen encoder, cached on disk.

Heads train on these instead of images (as in DynaMo and the inverse-dynamics paper): the encoder
runs once per frame instead of once per step. The cache file is keyed by the encoder weights' hash
and the dataset's hash, so a changed encoder or dataset never reuses stale embeddings. Under torchrun
the ranks compute it shard by shard.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from robolearn import distributed as dist


@torch.no_grad()
def embed_demos(encoder, store, cameras: list[str], demos: list[str], device=None,
                batch_size: int = 256, desc: str = "embedding", progress: bool = True) -> dict[str, np.ndarray]:
    """Per-demo (T, D) float32 embeddings of every frame."""
    device = device or next(encoder.parameters()).device
    encoder.eval()
    out = {}
    # `disable` only when asked: passing disable=False would override TQDM_DISABLE=1 (a bench's logs).
    for demo in tqdm(demos, desc=desc, dynamic_ncols=True, leave=False, **({} if progress else {"disable": True})):
        frames = store.images(demo, cameras)  # (T, V, H, W, 3)
        chunks = []
        for i in range(0, len(frames), batch_size):
            x = torch.from_numpy(frames[i : i + batch_size]).to(device)
            chunks.append(encoder(x).float().cpu())
        out[demo] = torch.cat(chunks).numpy()
    return out


def _read_cache(path: Path, demos: list[str]) -> dict[str, np.ndarray] | None:
    if not path.exists():
        return None
    try:
        sd = load_file(str(path))
    except Exception:  # a damaged cache file is recomputed, not trusted
        return None
    if not all(d in sd for d in demos):
        return None
    return {d: sd[d].numpy() for d in demos}


def _write(path: Path, emb: dict[str, np.ndarray]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    save_file({d: torch.from_numpy(np.ascontiguousarray(e)) for d, e in emb.items()}, str(tmp))
    os.replace(tmp, path)


def cached_embeddings(encoder, encoder_hash: str, store, data_hash: str, cameras: list[str],
                      cache_dir: Path, device=None) -> dict[str, np.ndarray]:
    """All demos' frame embeddings, read from the cache or computed and written to it.

    Under torchrun each rank embeds a contiguous share of the demos and writes it beside the cache;
    every rank then reads all shares, and rank 0 writes the cache file and removes the shares."""
    cache_dir = Path(cache_dir)
    path = cache_dir / f"emb-{encoder_hash}-{data_hash}-{'+'.join(cameras)}.safetensors"
    demos = store.demo_names(None)
    hit = _read_cache(path, demos)
    if dist.world_size() > 1:
        # One decision for all ranks (a rank must not skip the collective work below alone).
        if not all(dist.all_gather_object(hit is not None)):
            hit = None
    if hit is not None:
        return hit
    cache_dir.mkdir(parents=True, exist_ok=True)
    world, rank = dist.world_size(), dist.rank()
    mine = dist.split_items(demos)
    emb = embed_demos(encoder, store, cameras, mine, device=device, progress=dist.is_main())
    if world > 1:
        shard = lambda r: cache_dir / f".{path.stem}.shard{r}of{world}.safetensors"  # noqa: E731
        _write(shard(rank), emb)
        dist.barrier()
        emb = {}
        for r in range(world):
            emb.update({d: t.numpy() for d, t in load_file(str(shard(r))).items()})
        dist.barrier()  # every rank has read every share
        if dist.is_main():
            for r in range(world):
                shard(r).unlink()
    emb = {d: emb[d] for d in demos}
    if dist.is_main():
        _write(path, emb)
    return emb
