"""SIRL: similarity-based implicit representation learning (Bobu, Liu, Shah, Brown, Dragan, HRI 2023).

Similarity queries. A query shows three demonstration segments of H = cfg.segment steps; a
simulated user says which two are most alike. The user judges by privileged task features: each
segment is summarized by the mean and the final value of its standardized task features (z-scored
per dimension with the train split's mean and std, so no unit dominates), and two segments are
d apart, d = the root-mean-square difference of their summaries (RMS rather than the Euclidean sum,
so beta means the same for any number of features). Noiseless (cfg.beta <= 0 or inf, the default):
the user always names the closest pair. Boltzmann-noisy (cfg.beta > 0): the user names pair p with
probability exp(-beta d_p) / sum_q exp(-beta d_q). The literal beta = 0 of that formula, a user
answering uniformly at random, teaches nothing, so 0 is taken as "noiseless", as in the config.

Representation. phi is the encoder (per frame); a segment's embedding Phi is the mean of its
frames' embeddings; the loss is the triplet loss max(0, |Phi_a - Phi_p|^2 - |Phi_a - Phi_n|^2 + m)
with the chosen pair as anchor/positive and the third segment as negative, averaged over both
choices of anchor within the pair (the pair is unordered). The encoder sees cfg.frames frames per
segment, evenly spaced with the first and last included (all H when H <= cfg.frames): a mean
over H = 10 frames is well estimated from 5, and encoder cost per query is 3 x frames images.

Privileged labels. The answers come from ground-truth task features; SIRL is the one objective
that uses them (`uses_privileged_labels`), and its query budget (cfg.queries) is part of the result.

Reproducibility. `prepare` draws the queries and answers once with cfg.query_seed from the train
split and writes `queries.json` in the run folder: settings, the data file's hash, the feature
standardization, and per query the three (demo, start, length) segments, their feature summaries,
the three pair distances, and the answer. A resumed run reloads the file (and refuses one made with
other settings or another data file); the same seed and store give a byte-identical file.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import psutil
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from robolearn.checkpoint import atomic_write_text
from robolearn.data.store import file_hash, open_store
from robolearn.data.windows import RAM_FRACTION, GiB
from robolearn.errors import RobolearnError
from robolearn.pretraining import DataInfo, Objective, register_objective

QUERY_FILE = "queries.json"
FORMAT = "robolearn/sirl-queries"
VERSION = 1
PAIRS = ((0, 1), (0, 2), (1, 2))
"""Pair index -> the two segments of a query it names; the third is the odd one out."""
ODD = (2, 1, 0)
# Per answer: (anchor, positive, negative) segment positions.
_ORDER = torch.tensor([[0, 1, 2], [0, 2, 1], [1, 2, 0]])
_SEED_MIX = 0x51A1  # separates the query stream from other uses of the same integer seed


# ----------------------------------------------------------------------------- the simulated user
def is_noiseless(beta: float) -> bool:
    return beta <= 0 or math.isinf(beta)


def pair_distances(summaries: np.ndarray) -> np.ndarray:
    """(..., 3, S) segment summaries -> (..., 3) RMS distances of the pairs in PAIRS order."""
    s = np.asarray(summaries, np.float64)
    return np.stack([np.sqrt(((s[..., i, :] - s[..., j, :]) ** 2).mean(-1)) for i, j in PAIRS], -1)


def pair_probabilities(distances: np.ndarray, beta: float) -> np.ndarray:
    """(..., 3) pair distances -> (..., 3) probabilities that the user names each pair."""
    d = np.asarray(distances, np.float64)
    if is_noiseless(beta):
        return np.eye(3)[d.argmin(-1)]
    logits = -beta * d
    logits = logits - logits.max(-1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(-1, keepdims=True)


def simulated_answer(distances: np.ndarray, beta: float, rng: np.random.Generator) -> int:
    """The pair (index into PAIRS) a simulated user with rationality beta names for one query."""
    d = np.asarray(distances, np.float64)
    if is_noiseless(beta):
        return int(d.argmin())
    p = pair_probabilities(d, beta)
    return int(min(np.searchsorted(np.cumsum(p), rng.random(), side="right"), 2))


def segment_summary(z: np.ndarray, start: int, length: int) -> np.ndarray:
    """Mean and final value of standardized features z (T, F) over steps start .. start+length-1."""
    seg = z[start : start + length]
    return np.concatenate([seg.mean(0), seg[-1]])


def segment_frames(length: int, frames: int) -> np.ndarray:
    """Offsets (within a segment of `length` steps) of the frames the encoder sees: `frames` of them,
    evenly spaced, first and last included (repeats when the segment is shorter than `frames`)."""
    return np.round(np.linspace(0, length - 1, frames)).astype(np.int64)


# ----------------------------------------------------------------------------- the query set
@dataclass
class QuerySet:
    """Similarity queries and the simulated user's answers, as saved in queries.json."""

    split: str
    seed: int
    budget: int
    segment: int
    frames: int
    beta: float
    data_hash: Optional[str]
    feature_names: list[str]
    feature_mean: np.ndarray  # (F,)
    feature_std: np.ndarray  # (F,)
    demos: list[list[str]]  # (Q, 3) demo names
    starts: np.ndarray  # (Q, 3) int64
    lengths: np.ndarray  # (Q, 3) int64
    summaries: np.ndarray  # (Q, 3, 2F) float64
    distances: np.ndarray  # (Q, 3) float64, PAIRS order
    answers: np.ndarray  # (Q,) int64, index into PAIRS

    def __len__(self) -> int:
        return len(self.answers)

    def settings(self) -> dict:
        return {"split": self.split, "seed": self.seed, "budget": self.budget, "segment": self.segment,
                "frames": self.frames, "beta": self.beta, "data_hash": self.data_hash}

    def to_json(self) -> str:
        """One header, then one query per line, so the file can be read and diffed by eye."""
        header = {
            "format": FORMAT, "version": VERSION, **self.settings(),
            "noiseless": is_noiseless(self.beta),
            "user": "summary = [mean, final] of standardized task features over the segment; "
                    "d = RMS difference of summaries; P(pair) ~ exp(-beta d), argmin when noiseless",
            "feature_names": list(self.feature_names),
            "feature_mean": [float(x) for x in self.feature_mean],
            "feature_std": [float(x) for x in self.feature_std],
            "pairs": [list(p) for p in PAIRS],
        }
        rows = []
        for q in range(len(self)):
            rows.append(json.dumps({
                "segments": [[self.demos[q][k], int(self.starts[q, k]), int(self.lengths[q, k])] for k in range(3)],
                "answer": int(self.answers[q]),
                "pair": list(PAIRS[int(self.answers[q])]),
                "odd": ODD[int(self.answers[q])],
                "distances": [float(x) for x in self.distances[q]],
                "summaries": [[float(x) for x in s] for s in self.summaries[q]],
            }))
        head = json.dumps(header, indent=1)
        return head[:-2] + ',\n "queries": [\n' + ",\n".join(rows) + "\n ]\n}\n"

    @classmethod
    def from_json(cls, text: str, where: str = QUERY_FILE) -> "QuerySet":
        try:
            d = json.loads(text)
        except ValueError as e:
            raise RobolearnError(f"{where}: not valid JSON ({e})") from None
        if d.get("format") != FORMAT or d.get("version") != VERSION:
            raise RobolearnError(f"{where}: not a SIRL query file of version {VERSION}")
        qs = d["queries"]
        n_f = len(d["feature_names"])
        return cls(
            split=d["split"], seed=int(d["seed"]), budget=int(d["budget"]), segment=int(d["segment"]),
            frames=int(d["frames"]), beta=float(d["beta"]), data_hash=d["data_hash"],
            feature_names=list(d["feature_names"]),
            feature_mean=np.asarray(d["feature_mean"], np.float64),
            feature_std=np.asarray(d["feature_std"], np.float64),
            demos=[[s[0] for s in q["segments"]] for q in qs],
            starts=np.asarray([[s[1] for s in q["segments"]] for q in qs], np.int64).reshape(-1, 3),
            lengths=np.asarray([[s[2] for s in q["segments"]] for q in qs], np.int64).reshape(-1, 3),
            summaries=np.asarray([q["summaries"] for q in qs], np.float64).reshape(-1, 3, 2 * n_f),
            distances=np.asarray([q["distances"] for q in qs], np.float64).reshape(-1, 3),
            answers=np.asarray([q["answer"] for q in qs], np.int64),
        )

    def save(self, path) -> None:
        atomic_write_text(Path(path), self.to_json())

    @classmethod
    def load(cls, path) -> "QuerySet":
        path = Path(path)
        return cls.from_json(path.read_text(), str(path))


def feature_standardization(store, demos: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and std of the task features over every frame of `demos`."""
    feats = [store.task_features(d) for d in demos]
    if any(f is None for f in feats):
        raise RobolearnError(f"{store.path}: SIRL's simulated user needs task features, the file has none")
    x = np.concatenate(feats).astype(np.float64)
    std = x.std(0)
    # A constant feature tells segments nothing apart: scale 1 keeps its (zero) differences finite.
    return x.mean(0), np.where(std > 1e-8, std, 1.0)


def generate_queries(store, cfg, split: str = "train", data_hash: Optional[str] = None) -> QuerySet:
    """Draw cfg.queries queries of three distinct segments from `split` and the user's answers.

    Segments are uniform over all (demo, start) positions with a full H-step segment (a demo
    shorter than H contributes one segment, the whole demo), so long demos are not under-sampled.
    """
    if cfg.segment < 1 or cfg.frames < 1 or cfg.queries < 1:
        raise RobolearnError(f"SIRL needs segment, frames and queries >= 1, "
                             f"got {cfg.segment}, {cfg.frames}, {cfg.queries}")
    demos = store.demo_names(split)
    if not demos:
        raise RobolearnError(f"{store.path}: no demos in split '{split}' to ask SIRL queries about")
    mean, std = feature_standardization(store, demos)
    z = [(store.task_features(d).astype(np.float64) - mean) / std for d in demos]
    lens = np.array([len(x) for x in z], np.int64)
    n_starts = np.maximum(lens - cfg.segment + 1, 1)
    bounds = np.cumsum(n_starts)
    total = int(bounds[-1])
    if total < 3:
        raise RobolearnError(f"{store.path}: split '{split}' has {total} segment(s) of {cfg.segment} steps; "
                             f"a query needs 3")
    # Separate streams for segments and answers: the same seed asks the same queries at any beta.
    rng = np.random.default_rng([cfg.query_seed, _SEED_MIX, 0])
    user_rng = np.random.default_rng([cfg.query_seed, _SEED_MIX, 1])
    q_n = int(cfg.queries)
    demo_names, starts, lengths = [], np.zeros((q_n, 3), np.int64), np.zeros((q_n, 3), np.int64)
    summaries = np.zeros((q_n, 3, 2 * z[0].shape[1]))
    answers = np.zeros(q_n, np.int64)
    for q in range(q_n):
        picks = rng.integers(0, total, 3)
        while len(set(picks.tolist())) < 3:  # three distinct segments
            picks = rng.integers(0, total, 3)
        row = []
        for k, g in enumerate(picks):
            di = int(np.searchsorted(bounds, g, side="right"))
            s = int(g - (bounds[di - 1] if di else 0))
            length = int(min(cfg.segment, lens[di]))
            row.append(demos[di])
            starts[q, k], lengths[q, k] = s, length
            summaries[q, k] = segment_summary(z[di], s, length)
        demo_names.append(row)
        answers[q] = simulated_answer(pair_distances(summaries[q]), cfg.beta, user_rng)
    return QuerySet(
        split=split, seed=int(cfg.query_seed), budget=q_n, segment=int(cfg.segment), frames=int(cfg.frames),
        beta=float(cfg.beta), data_hash=data_hash, feature_names=list(store.feature_names),
        feature_mean=mean, feature_std=std, demos=demo_names, starts=starts, lengths=lengths,
        summaries=summaries, distances=pair_distances(summaries), answers=answers,
    )


# ----------------------------------------------------------------------------- the dataset
class SirlQueryDataset(Dataset):
    """Items over saved queries:
      segments  uint8 (3, n, V, H, W, 3)       the query's three segments, in query order;
                                               n = min(frames, segment) frames each (segment_frames)
      answer    int64                          index into PAIRS of the pair the user named
      query     int64                          the query's row in queries.json
    The h5py file opens lazily in the reading process (DataLoader workers each open their own)."""

    def __init__(self, path, queries: QuerySet, cameras: list[str], in_ram: bool = False):
        self.path = Path(path)
        self.queries = queries
        self.cameras = list(cameras)
        self._store = None
        self._pid: Optional[int] = None
        self._ram: Optional[dict] = None
        if in_ram:
            self._ram = self._load_in_ram()

    def _load_in_ram(self) -> dict:
        used = sorted({d for row in self.queries.demos for d in row})
        with open_store(self.path) as store:
            h, w = store.image_shape
            need = sum(store.length(d) for d in used) * len(self.cameras) * h * w * 3
            avail = psutil.virtual_memory().available
            if need > RAM_FRACTION * avail:
                raise RobolearnError(f"{self.path}: --in-ram needs {need / GiB:.2f} GiB, only {avail / GiB:.2f} GiB "
                                     f"available; drop --in-ram")
            return {d: store.images(d, self.cameras) for d in used}

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_store"], state["_pid"] = None, None
        return state

    def _read(self, demo: str, start: int, length: int) -> np.ndarray:
        if self._ram is not None:
            return self._ram[demo][start : start + length]
        # A handle inherited through fork is not safe to use: reopen in each process.
        if self._store is None or self._pid != os.getpid():
            self._store, self._pid = open_store(self.path), os.getpid()
        return self._store.images(demo, self.cameras, slice(start, start + length))

    def __len__(self) -> int:
        return len(self.queries)

    def __getitem__(self, i: int) -> dict:
        q = self.queries
        segs = []
        for k in range(3):
            start, length = int(q.starts[i, k]), int(q.lengths[i, k])
            frames = self._read(q.demos[i][k], start, length)  # one contiguous read per segment
            segs.append(frames[segment_frames(length, min(q.frames, q.segment))])
        return {"segments": torch.from_numpy(np.stack(segs)), "answer": torch.tensor(int(q.answers[i])),
                "query": torch.tensor(i, dtype=torch.int64)}

    def close(self) -> None:
        if self._store is not None and self._pid == os.getpid():
            self._store.close()
        self._store = None


# ----------------------------------------------------------------------------- the loss
def triplet_loss(phi: torch.Tensor, answers: torch.Tensor, margin: float) -> tuple[torch.Tensor, dict]:
    """phi (B, 3, D) segment embeddings in query order, answers (B,) pair indices.

    Mean over the batch and over both anchors of the chosen pair of
    max(0, |Phi_a - Phi_p|^2 - |Phi_a - Phi_n|^2 + margin)."""
    idx = _ORDER.to(phi.device)[answers]  # (B, 3): anchor, positive, negative
    trip = torch.gather(phi, 1, idx[..., None].expand(-1, -1, phi.shape[-1]))
    a, p, n = trip.float().unbind(1)
    d_ap = (a - p).pow(2).sum(-1)
    d_an = (a - n).pow(2).sum(-1)
    d_pn = (p - n).pow(2).sum(-1)
    loss = 0.5 * (F.relu(d_ap - d_an + margin) + F.relu(d_ap - d_pn + margin)).mean()
    with torch.no_grad():
        # Does the embedding agree with the user: is the chosen pair the closest of the three?
        agree = (d_ap < torch.minimum(d_an, d_pn)).float().mean()
    return loss, {"triplet": loss.detach(), "agree": agree, "d_pos": d_ap.mean().detach(),
                  "d_neg": (0.5 * (d_an + d_pn)).mean().detach()}


@dataclass
class SirlConfig:
    """SIRL (Bobu et al. 2023): triplet loss on similarity queries answered by a simulated user."""

    queries: int = 2000
    """Query budget."""
    segment: int = 10
    """Steps per segment (H)."""
    beta: float = 0.0
    """Boltzmann rationality of the simulated user, P(pair) proportional to exp(-beta*d);
    0 (or inf) = noiseless: always the closest pair (the literal beta -> 0 limit, a uniformly random
    user, would teach nothing)."""
    margin: float = 1.0
    query_seed: int = 0
    frames: int = 5
    """Frames per segment the encoder sees (evenly spaced, first and last included); the simulated
    user judges all `segment` steps."""


@register_objective("sirl")
class Sirl(Objective):
    Config = SirlConfig
    optim_defaults = dict(lr=1e-3, weight_decay=1e-4, grad_clip=1.0)
    """The repository's defaults (the paper trains phi with Adam, settings not tied to this encoder)."""
    uses_privileged_labels = True
    """Trained on answers computed from ground-truth task features: report it as such."""
    # A batch counts queries of 3 segments x `frames` frames, so fewer of them make a step of similar cost.
    short_run_optim = dict(batch_size=8)

    def __init__(self, encoder, cfg, info: DataInfo):
        super().__init__(encoder, cfg, info)
        self.queries: Optional[QuerySet] = None

    @property
    def query_budget(self) -> int:
        return int(self.cfg.queries)

    def results(self) -> dict:
        return {"query_budget": self.query_budget}

    def prepare(self, run_dir, store_path, normalizer) -> None:
        path = Path(run_dir) / QUERY_FILE
        data_hash = file_hash(store_path)
        if path.exists():
            qs = QuerySet.load(path)
            want = {"split": "train", "seed": int(self.cfg.query_seed), "budget": self.query_budget,
                    "segment": int(self.cfg.segment), "frames": int(self.cfg.frames),
                    "beta": float(self.cfg.beta), "data_hash": data_hash}
            diff = [k for k, v in want.items() if qs.settings()[k] != v]
            if diff:
                raise RobolearnError(f"{path} was made with other {', '.join(diff)} than this run asks for; "
                                     f"start a new run folder (or pass --overwrite)")
        else:
            with open_store(store_path) as store:
                qs = generate_queries(store, self.cfg, "train", data_hash)
            qs.save(path)
        self.queries = qs

    def make_dataset(self, path, split: str, cameras, normalizer, in_ram: bool = False):
        if self.queries is None:
            raise RobolearnError("SIRL draws its queries in prepare(run_dir, store_path, normalizer); call it first")
        if split != self.queries.split:
            raise RobolearnError(f"SIRL queries were drawn from split '{self.queries.split}', not '{split}'")
        return SirlQueryDataset(path, self.queries, cameras, in_ram=in_ram)

    def embed_segments(self, segments: torch.Tensor) -> torch.Tensor:
        """uint8 (B, 3, n, V, H, W, 3) -> (B, 3, D): the mean of each segment's frame embeddings."""
        return self.encoder(segments).mean(2)

    def loss(self, batch: dict):
        phi = self.embed_segments(batch["segments"])
        return triplet_loss(phi, batch["answer"], float(self.cfg.margin))

