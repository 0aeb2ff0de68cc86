"""Multi-process training with torch.distributed: what `robolearn pretrain` and `robolearn train` need
to run unchanged under `torchrun`.

    torchrun --nproc_per_node 4 -m robolearn.cli pretrain --data demos.hdf5 --objective dynamo ...
    torchrun --nnodes 2 --nproc_per_node 8 --rdzv-backend c10d --rdzv-endpoint host0:29500 \\
        --max-restarts 3 -m robolearn.cli pretrain ...

One process per device (rank). `setup` reads torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK)
and joins the process group: NCCL when the device is a GPU (cuda:LOCAL_RANK), gloo on CPU. Without
torchrun (or with one process) nothing here starts a process group and every helper is trivial.

Batches: `--optim.batch-size` is the per-rank batch; the global batch is batch_size x world size.
`ShardedBatchSampler` makes global batch k of an epoch the same set of samples at any world size
(for the same global batch): every rank shuffles the same permutation (seed, epoch) and takes its
contiguous slice of each global batch. That is what makes a 2-process run reproduce a 1-process run
with twice the batch, and a checkpoint resume exactly where it stopped at another world size.

What is averaged: DDP averages the ranks' gradients, which is the gradient of the global batch for a
loss that is a plain mean over samples. Terms computed over a batch are computed over each rank's
batch instead: masked means normalized by the rank's count of valid steps (action chunks padded past
an episode's end), DynaMo's covariance regularizer, CCL's within-batch Gram matrices, and BatchNorm
statistics on CPU (on GPUs BatchNorm becomes SyncBatchNorm: global statistics).

Learning rate: `--optim.lr` is used as given, whatever the world size. Changing the world size at a
fixed per-rank batch changes the global batch; scale the learning rate with it yourself (linear rule,
lr x N, with warmup, Goyal et al. 2017; for AdamW sqrt(N) is the gentler choice), or divide the
per-rank batch by N to keep the global batch, the learning rate and the results of the 1-process run.

Only rank 0 writes (checkpoints, metrics.jsonl, wandb, results, the final weights); the run folder must
be on a filesystem every node sees (all ranks read the checkpoint they resume from).
"""
from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
import warnings
from datetime import timedelta
from typing import Iterator, Optional, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, Dataset, TensorDataset

from robolearn.errors import RobolearnError


# ----------------------------------------------------------------------------- process group
def launched() -> bool:
    """True in a process that torchrun started as one of several ranks."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0")) if active() else 0


def is_main() -> bool:
    return rank() == 0


def restart_count() -> int:
    """How many times torchrun's elastic agent has restarted this job (0 on the first attempt)."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))


def setup(device: str = "auto") -> torch.device:
    """The device of this process; under torchrun also joins the process group (idempotent).

    `device`: auto (a GPU when there is one), cuda, cpu, or an explicit cuda:i (single process only).
    """
    if not launched():
        if device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(device)
    lr = int(os.environ.get("LOCAL_RANK", "0"))
    want_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if want_cuda:
        if not torch.cuda.is_available():
            raise RobolearnError(f"--optim.device {device}: no CUDA device on this machine")
        if lr >= torch.cuda.device_count():
            raise RobolearnError(f"local rank {lr} has no GPU ({torch.cuda.device_count()} visible); "
                                 f"start at most {torch.cuda.device_count()} processes per node")
        dev = torch.device("cuda", lr)  # one GPU per rank, whatever index the user named
        torch.cuda.set_device(dev)
    elif device in ("auto", "cpu"):
        dev = torch.device("cpu")
    else:
        raise RobolearnError(f"--optim.device {device}: under torchrun use auto, cuda or cpu")
    if not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        kw = {"device_id": dev} if dev.type == "cuda" else {}
        # A generous timeout: rank 0 alone runs validation probes and checkpoint writes meanwhile.
        timeout = timedelta(minutes=30)
        store, rank, world = _attempt_store(timeout)
        dist.init_process_group(backend=backend, store=store, rank=rank, world_size=world, timeout=timeout, **kw)
    return dev


def _attempt_store(timeout: timedelta):
    """The rendezvous store of this torchrun attempt: the launcher's store under a per-attempt prefix.

    torchrun keeps one store across restarts (same MASTER_PORT) and torch adds no per-attempt prefix
    ("a new TCPStore for every retry" holds only without the agent's store), so after a rank dies the
    restarted ranks read the dead ranks' gloo addresses and fail with "connectFullMesh ... Connection
    refused" (tests/test_distributed.py's kill test, 4 of 4 runs on torch 2.13)."""
    missing = [k for k in ("RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:  # WORLD_SIZE > 1 set by hand: torch's env:// would have refused too
        raise RobolearnError(f"WORLD_SIZE={os.environ['WORLD_SIZE']} but {', '.join(missing)} not set: "
                             f"start several ranks with torchrun")
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    agent = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"  # the launcher hosts the store
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world,
                          is_master=not agent and rank == 0, timeout=timeout, multi_tenant=not agent)
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    return dist.PrefixStore(f"robolearn/attempt_{attempt}", store), rank, world


def shutdown(finished: bool = False) -> None:
    """Leave the process group (nothing to do outside torchrun); every rank, on every exit path.

    `finished` (the command completed): first wait at a barrier for every rank, rank 0's writes
    included. Without it rank 1 reached interpreter shutdown ~2 ms after its last all-reduce, while a
    gloo worker could still hold that collective's Python-made tensor; freeing it takes the GIL, and a
    thread taking the GIL during finalization dies inside a C++ destructor: "terminate called without
    an active exception", SIGABRT (destroy_process_group does not join the workers: DDP keeps the
    backend alive). The barrier's tensor is C++'s, and while a rank waits in it its workers get the
    GIL. After a failure no barrier: torchrun stops the ranks left waiting."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    try:
        if finished:
            barrier()
    finally:
        dist.destroy_process_group()


_GLOO_DDP = False
"""Whether this process wrapped a model in DDP over gloo (see `exit_process`)."""


def exit_process(code: int) -> None:
    """End this process with `code`. A process that wrapped a model in DDP over gloo (a torchrun rank on
    CPU) leaves without interpreter finalization: DDP keeps gloo's worker threads alive past
    `destroy_process_group`, and one may still be freeing a collective's Python-made tensor; doing so
    while the interpreter finalizes aborts the process ("terminate called without an active exception",
    SIGABRT; `benchmarks/results/exit_race/`), which torchrun reports as a failed rank of a finished run.
    The barrier in `shutdown` narrowed that window; this closes it. What finalization would do for us
    is done first: other threads joined, atexit callbacks run, the standard streams flushed."""
    if not _GLOO_DDP:
        sys.exit(code)
    for t in threading.enumerate():
        if t is not threading.main_thread() and not t.daemon:
            t.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def barrier() -> None:
    if active():
        if dist.get_backend() == "nccl":
            dist.barrier(device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier()


def broadcast_object(obj, src: int = 0):
    """rank `src`'s `obj` on every rank (small Python objects: decisions, paths, metadata)."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_gather_object(obj) -> list:
    """Every rank's `obj`, in rank order (small Python objects)."""
    if not active():
        return [obj]
    out = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


@contextlib.contextmanager
def main_first():
    """Rank 0 runs the body first (creates a file, a cache), then the other ranks (read it)."""
    if not is_main():
        barrier()
    try:
        yield
    finally:
        if is_main():
            barrier()


def mean_across_ranks(values: dict) -> dict[str, float]:
    """Scalars (floats or 0-d tensors) averaged over the ranks with one all-reduce; for logging."""
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64)
    if active() and keys:
        if dist.get_backend() == "nccl":
            t = t.cuda()
        dist.all_reduce(t)
        t = t.cpu() / world_size()
    return dict(zip(keys, t.tolist()))


# ----------------------------------------------------------------------------- sharding
class ShardedBatchSampler:
    """Per-rank batches of dataset indices, the same global batches at every world size.

    Epoch e shuffles range(n) with numpy's generator seeded (seed, e) on every rank; the permutation
    is cut into global batches of batch_size x world_size (the last partial one dropped), and rank r
    takes elements [r*b, (r+1)*b) of each. With fewer samples than one global batch, all of them form
    the one global batch, split across the ranks as evenly as possible (wrapping around when there
    are fewer samples than ranks). `set_position(step)` starts at the step'th batch of the run
    (epoch step // len, batch step % len): a resumed run sees exactly the batches it would have.
    Use it as a DataLoader's `batch_sampler`.
    """

    sharded = True

    def __init__(self, n: int, batch_size: int, seed: int = 0, rank_: Optional[int] = None,
                 world: Optional[int] = None):
        if batch_size < 1:
            raise RobolearnError(f"batch size must be >= 1, got {batch_size}")
        self.n, self.batch_size, self.seed = int(n), int(batch_size), int(seed)
        self.rank = rank() if rank_ is None else int(rank_)
        self.world = world_size() if world is None else int(world)
        self.global_batch = self.batch_size * self.world
        self.epoch, self.offset = 0, 0

    def __len__(self) -> int:
        return max(self.n // self.global_batch, 1) if self.n > 0 else 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self.offset = int(epoch), 0

    def set_position(self, step: int) -> None:
        per_epoch = max(len(self), 1)
        self.epoch, self.offset = divmod(int(step), per_epoch)

    def permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.n)

    def global_batches(self, epoch: int) -> list[np.ndarray]:
        perm = self.permutation(epoch)
        if self.n >= self.global_batch:
            k = self.n // self.global_batch
            return list(perm[: k * self.global_batch].reshape(k, self.global_batch))
        return [perm]

    def rank_slice(self, batch: np.ndarray) -> np.ndarray:
        if len(batch) >= self.global_batch:
            return batch[self.rank * self.batch_size:(self.rank + 1) * self.batch_size]
        if len(batch) < self.world:  # fewer samples than ranks: every rank still needs one
            return batch[np.arange(self.rank, self.rank + 1) % len(batch)]
        return np.array_split(batch, self.world)[self.rank]

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.global_batches(self.epoch)
        start, self.offset = self.offset, 0  # the offset applies to the first pass only
        for b in batches[start:]:
            yield self.rank_slice(b).tolist()
        self.epoch += 1  # iterating again continues with the next epoch


class TensorBatches:
    """Batches of in-memory tensors cut by one fancy index per tensor: what a DataLoader over a
    TensorDataset yields (the same batches, in the same order), without its per-sample indexing and
    collation, which cost more than a small head's whole step."""

    def __init__(self, tensors: Sequence[torch.Tensor], batch_sampler: ShardedBatchSampler):
        self.tensors, self.batch_sampler = list(tensors), batch_sampler

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def __iter__(self) -> Iterator[list[torch.Tensor]]:
        for idx in self.batch_sampler:
            index = torch.as_tensor(idx, dtype=torch.long)
            yield [t[index] for t in self.tensors]


class WholeBatches(Dataset):
    """A dataset with a `batch(indices)` method as a DataLoader sees it: torch's fetcher hands a batch
    sampler's indices to `__getitems__`, which returns the dataset's collated batch, and `passed_on`
    (the collate function) keeps it as it is."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i):
        return self.dataset[i]

    def __getitems__(self, indices) -> dict:
        return self.dataset.batch(indices)


def passed_on(batch):
    return batch


def sharded_loader(dataset, batch_size: int, seed: int, workers: int = 0, pin_memory: bool = False, **kw):
    """A DataLoader over this rank's shard (ShardedBatchSampler); reshuffled per epoch, by seed.
    A TensorDataset read in this process gets `TensorBatches` (same batches, no per-sample work); a
    dataset with a `batch(indices)` method (WindowDataset) is read a batch at a time."""
    sampler = ShardedBatchSampler(len(dataset), batch_size, seed)
    if isinstance(dataset, TensorDataset) and workers == 0 and not pin_memory and not kw:
        return TensorBatches(dataset.tensors, sampler)  # draws nothing from torch's random streams
    if callable(getattr(dataset, "batch", None)):
        dataset, kw["collate_fn"] = WholeBatches(dataset), passed_on
    # Its own generator: starting an epoch's iterator draws a seed from it, not from torch's global
    # one, whose state (dropout) a checkpoint restores exactly (robolearn.checkpoint).
    kw.setdefault("generator", torch.Generator().manual_seed(int(seed)))
    return DataLoader(dataset, batch_sampler=sampler, num_workers=workers,
                      persistent_workers=workers > 0, pin_memory=pin_memory, **kw)


def is_sharded(data) -> bool:
    """Whether `data` (a DataLoader or a sampler) yields this rank's shard."""
    for obj in (data, getattr(data, "batch_sampler", None)):
        if obj is not None and getattr(obj, "sharded", False):
            return True
    return False


def set_position(data, step: int) -> None:
    """Point a sharded data source at the step'th batch of the run (see ShardedBatchSampler)."""
    for obj in (data, getattr(data, "batch_sampler", None)):
        if obj is not None and hasattr(obj, "set_position"):
            obj.set_position(step)
            return


def split_items(items: Sequence, part: Optional[int] = None, parts: Optional[int] = None) -> list:
    """Contiguous share `part` of `parts` (default: this rank's of the world) of `items`."""
    part = rank() if part is None else part
    parts = world_size() if parts is None else parts
    n = len(items)
    return list(items[part * n // parts:(part + 1) * n // parts])


# ----------------------------------------------------------------------------- models
def wrap_model(model: torch.nn.Module, device: torch.device):
    """The model's `train_loss(batch)` as a DistributedDataParallel module (gradients all-reduced)."""
    # The gradient of a 1x1 convolution may carry other strides on its size-1 dimensions than its
    # bucket view (the same memory order); DDP then copies those few small tensors, and warns.
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
    global _GLOO_DDP
    _GLOO_DDP = _GLOO_DDP or dist.get_backend() == "gloo"
    return DDP(LossModule(model), device_ids=[device.index] if device.type == "cuda" else None,
               # Constant set of used parameters each step: DDP finds the unused ones (frozen
               # tokenizers, EMA copies) once, and overlaps the all-reduce with backward.
               static_graph=True)


class LossModule(torch.nn.Module):
    """forward(batch) = model.train_loss(batch): DDP only synchronizes what goes through forward."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, batch):
        return self.model.train_loss(batch)


def has_batchnorm(model: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())


def convert_sync_batchnorm(model: torch.nn.Module) -> bool:
    """BatchNorm -> SyncBatchNorm in place (statistics over the global batch); True if any."""
    if not has_batchnorm(model):
        return False
    torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)  # converts the children in place
    return True


def revert_sync_batchnorm(module: torch.nn.Module) -> torch.nn.Module:
    """SyncBatchNorm -> BatchNorm2d in place (same parameters and statistics), for use after training."""
    for name, child in list(module.named_children()):
        if isinstance(child, torch.nn.SyncBatchNorm):
            bn = torch.nn.BatchNorm2d(child.num_features, child.eps, child.momentum, child.affine,
                                      child.track_running_stats, device=child.weight.device if child.affine else None)
            bn.load_state_dict(child.state_dict())
            bn.train(child.training)
            setattr(module, name, bn)
        else:
            revert_sync_batchnorm(child)
    return module
