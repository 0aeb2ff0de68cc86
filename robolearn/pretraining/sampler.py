"""A device-resident window sampler: every frame of a demo set in one uint8 tensor on the device,
random full windows gathered by index arithmetic (no Python loop over samples or frames).

For objectives that read only image windows (DynaMo): a 64 px demo set of 100k frames is 1.2 GB
of uint8, which sits in GPU memory beside the model and removes HDF5 decoding, collation and
host-to-device copies from the training step. Windows lie entirely inside one episode (as
`WindowSpec(pad=False)`).

    sampler = GpuWindowSampler.from_store(open_store(path), cameras, window=5, device="cuda")
    batch = sampler.sample(64)         # {"images": uint8 (64, 5, V, H, W, 3), "episode", "t"}
    for batch in sampler.batches(64):  # one epoch without replacement (drop_last)
        ...

Under torchrun every rank holds all frames on its own GPU and reads its share of each global batch
(batch_size x world size): the ranks draw the same global indices (same seed) and each takes its
slice, as robolearn.distributed.ShardedBatchSampler does for DataLoaders; so global batches do not
depend on the world size, and `set_position(step)` resumes the data order of a run exactly.
"""
from __future__ import annotations

from typing import Iterator, Optional, Sequence

import numpy as np
import torch

from robolearn import distributed
from robolearn.data.store import demo_index
from robolearn.distributed import ShardedBatchSampler
from robolearn.errors import RobolearnError


class GpuWindowSampler:
    sharded = True
    """Rank-aware: the trainer may use it as a torchrun rank's data."""

    def __init__(self, frames: torch.Tensor, episode_lengths: Sequence[int], window: int,
                 device=None, seed: int = 0, batch_size: Optional[int] = None,
                 episode_ids: Optional[Sequence[int]] = None, rank: Optional[int] = None,
                 world_size: Optional[int] = None):
        """frames: uint8 (N, V, H, W, 3), episodes concatenated in order; episode_lengths sum to N.
        episode_ids: what batches report as `episode` (default 0, 1, ...; from_store: i of demo_<i>).
        rank, world_size: this process's share of each global batch (default: torchrun's, or 0 of 1);
        batch_size and the batch sizes passed to `sample`/`batches` are per rank."""
        device = torch.device(device) if device is not None else frames.device
        if frames.dtype != torch.uint8 or frames.dim() != 5 or frames.shape[-1] != 3:
            raise RobolearnError(f"GpuWindowSampler: frames must be uint8 (N, V, H, W, 3), got "
                                 f"{frames.dtype} {tuple(frames.shape)}")
        lengths = torch.as_tensor(list(episode_lengths), dtype=torch.long)
        if int(lengths.sum()) != frames.shape[0]:
            raise RobolearnError(f"GpuWindowSampler: episode lengths sum to {int(lengths.sum())}, "
                                 f"frames hold {frames.shape[0]}")
        if window < 1:
            raise RobolearnError(f"GpuWindowSampler: window must be >= 1, got {window}")
        self.window = int(window)
        self.batch_size = batch_size
        self.frames = frames.to(device, non_blocking=True)
        # Valid starts per episode: first frame + 0 .. len - window; built once, vectorized.
        first = torch.cumsum(lengths, 0) - lengths
        n_valid = (lengths - self.window + 1).clamp(min=0)
        episode = torch.repeat_interleave(torch.arange(len(lengths)), n_valid)
        before = torch.cumsum(n_valid, 0) - n_valid
        offset = torch.arange(int(n_valid.sum())) - torch.repeat_interleave(before, n_valid)
        self.starts = (first[episode] + offset).to(device)
        ids = torch.arange(len(lengths)) if episode_ids is None else torch.as_tensor(list(episode_ids))
        self.episode = ids.long()[episode].to(device)
        self.t = (offset + self.window - 1).to(device)  # the window's last frame, as in the batch format
        self._steps = torch.arange(self.window, device=device)
        self.seed = int(seed)
        self.rank = distributed.rank() if rank is None else int(rank)
        self.world_size = distributed.world_size() if world_size is None else int(world_size)
        self.epoch, self._offset = 0, 0
        # The same stream on every rank: the ranks draw one global batch and take their slices.
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)

    # ---------------------------------------------------------------------------- construction
    @classmethod
    def from_arrays(cls, episodes: Sequence[np.ndarray], window: int, device=None, **kw) -> "GpuWindowSampler":
        """episodes: uint8 arrays (T_i, V, H, W, 3)."""
        frames = torch.from_numpy(np.concatenate(list(episodes), axis=0))
        return cls(frames, [len(e) for e in episodes], window, device=device, **kw)

    @classmethod
    def from_store(cls, store, cameras: Optional[list[str]], window: int, split: Optional[str] = "train",
                   device=None, max_bytes: Optional[int] = None, **kw) -> "GpuWindowSampler":
        """All frames of a split of a `robolearn.data.store.DemoStore`, views in `cameras` order. Refuses to load more than
        `max_bytes` (default: 80% of the free memory of a CUDA device; no limit elsewhere)."""
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        cams = list(cameras) if cameras else list(store.cameras)
        demos = store.demo_names(split)
        lengths = [store.length(d) for d in demos]
        h, w = store.images(demos[0], cams, index=slice(0, 1)).shape[2:4]
        need = sum(lengths) * len(cams) * h * w * 3
        if max_bytes is None and device.type == "cuda":
            max_bytes = int(0.8 * torch.cuda.mem_get_info(device)[0])
        if max_bytes is not None and need > max_bytes:
            raise RobolearnError(f"{store.path}: {need / 2**30:.2f} GiB of frames exceed the "
                                 f"{max_bytes / 2**30:.2f} GiB allowed on {device}")
        frames = torch.empty((sum(lengths), len(cams), h, w, 3), dtype=torch.uint8, device=device)
        at = 0
        for d, n in zip(demos, lengths):  # one read per episode (load time only)
            frames[at:at + n].copy_(torch.from_numpy(store.images(d, cams)))
            at += n
        return cls(frames, lengths, window, device=device, episode_ids=[demo_index(d) for d in demos], **kw)

    # ---------------------------------------------------------------------------- sampling
    def __len__(self) -> int:
        return int(self.starts.shape[0])

    def gather(self, index: torch.Tensor) -> dict:
        """Windows number `index` (B,) -> a batch dict."""
        frame_idx = self.starts[index].unsqueeze(1) + self._steps  # (B, T)
        return {"images": self.frames[frame_idx], "episode": self.episode[index], "t": self.t[index]}

    def sample(self, batch_size: int) -> dict:
        """This rank's `batch_size` windows of a global batch drawn uniformly with replacement."""
        if len(self) == 0:
            raise RobolearnError(f"GpuWindowSampler: no episode is {self.window} frames long")
        index = torch.randint(len(self), (batch_size * self.world_size,), device=self.starts.device,
                              generator=self.generator)
        return self.gather(index[self.rank * batch_size:(self.rank + 1) * batch_size])

    def _sharder(self, batch_size: int):
        return ShardedBatchSampler(len(self), batch_size, self.seed, self.rank, self.world_size)

    def batches(self, batch_size: int, epoch: Optional[int] = None, start: int = 0) -> Iterator[dict]:
        """One epoch (default: the next one): every window at most once, in an order fixed by (seed,
        epoch), the last partial global batch dropped (kept when it is the only one); this rank's
        share of each global batch, from the start'th batch on."""
        if epoch is None:
            epoch, self.epoch = self.epoch, self.epoch + 1
        sharder = self._sharder(batch_size)
        slices = [sharder.rank_slice(b) for b in sharder.global_batches(epoch)[start:]]
        if not slices:
            return
        # One host-to-device copy per epoch (the slices have one length, except a lone partial batch).
        order = torch.from_numpy(np.stack(slices)).to(self.starts.device)
        for row in order:
            yield self.gather(row)

    def set_position(self, step: int) -> None:
        """Continue at the step'th batch of a run (epoch step // batches per epoch); needs batch_size."""
        if self.batch_size is None:
            raise RobolearnError("GpuWindowSampler: pass batch_size to iterate it")
        self.epoch, self._offset = divmod(int(step), max(len(self._sharder(self.batch_size)), 1))

    def __iter__(self) -> Iterator[dict]:
        """Iterable like a DataLoader (the trainer re-iterates it each epoch); needs batch_size."""
        if self.batch_size is None:
            raise RobolearnError("GpuWindowSampler: pass batch_size to iterate it")
        start, self._offset = self._offset, 0
        return self.batches(self.batch_size, start=start)
