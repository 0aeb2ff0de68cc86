"""SIRL: the simulated user, the saved queries, the query dataset, and what the triplet loss learns."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from robolearn.config import EncoderConfig, OptimConfig, PretrainConfig, resolve_optim
from robolearn.pretraining.sirl import SirlConfig
from robolearn.data.store import make_env_args, open_store, write_store
from robolearn.encoders import Encoder, SpatialSoftmax
from robolearn.errors import RobolearnError
from robolearn.pretraining import DataInfo, get_objective
from robolearn.pretraining.sirl import (
    PAIRS, QUERY_FILE, QuerySet, Sirl, generate_queries, pair_distances,
    pair_probabilities, segment_frames, simulated_answer, triplet_loss,
)
from robolearn.probes import ridge_r2


# ----------------------------------------------------------------------------- a synthetic task
def _blob(img: np.ndarray, x: float, y: float, color, r: float) -> None:
    s = img.shape[0]
    yy, xx = np.mgrid[0:s, 0:s]
    m = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * r * r))
    np.maximum(img, (m[..., None] * np.asarray(color, np.float64)).astype(np.uint8), out=img)


def write_blob_store(path, demos: int = 24, steps: int = 24, size: int = 24, seed: int = 0):
    """A red dot moves in a straight line (the task features: its x, y) while a bigger, brighter
    white blob wanders at random (not a feature). A random encoder's spatial softmax is drawn to the
    white blob; the user's answers are about the red dot only."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(demos):
        a, b = rng.uniform(3, size - 4, 2), rng.uniform(3, size - 4, 2)
        pos = a + np.linspace(0, 1, steps)[:, None] * (b - a)
        w = rng.uniform(3, size - 4, 2)
        imgs = np.zeros((steps, size, size, 3), np.uint8)
        for t in range(steps):
            w = np.clip(w + rng.normal(0, 2.0, 2), 2, size - 3)
            _blob(imgs[t], *pos[t], (220, 0, 0), 1.2)
            _blob(imgs[t], *w, (255, 255, 255), 3.0)
        out.append({"actions": np.gradient(pos, axis=0).astype(np.float32),
                    "obs": {"cam_image": imgs, "proprio": (pos / size).astype(np.float32)},
                    "task_features": (pos / size).astype(np.float32)})
    return write_store(path, out, make_env_args("robolearn/Synthetic-v0"), valid_fraction=0.25,
                       feature_names=["dot_x", "dot_y"])


@pytest.fixture(scope="module")
def blob_store(tmp_path_factory):
    return write_blob_store(tmp_path_factory.mktemp("sirl") / "blobs.hdf5")


class TinyEncoder(Encoder):
    """Two convolutions and a spatial softmax: the objective is encoder-agnostic, and this keeps
    the learning test within seconds on a CPU."""

    def __init__(self, num_views: int, image_size: int, dim: int = 16):
        super().__init__(num_views, image_size)
        self.conv = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.GELU(), nn.Conv2d(16, 32, 3, 1, 1))
        self.pool = SpatialSoftmax()
        self.proj = nn.Linear(64, dim)
        self.view_dim = dim

    def frame_forward(self, x):
        return self.proj(self.pool(self.conv(x)))


def _info(store) -> DataInfo:
    return DataInfo(num_views=len(store.cameras), image_size=store.image_size, action_dim=store.action_dim,
                    proprio_dim=store.proprio_dim, feature_dim=store.feature_dim)


# ----------------------------------------------------------------------------- the simulated user
def test_noiseless_user_names_the_closest_pair(blob_store):
    with open_store(blob_store) as store:
        qs = generate_queries(store, SirlConfig(queries=300, segment=6, beta=0.0, query_seed=3))
        # The summaries are recomputed independently from the file: mean and final value of the
        # features standardized with the train split's statistics.
        feats = np.concatenate([store.task_features(d) for d in store.demo_names("train")]).astype(np.float64)
        mean, std = feats.mean(0), feats.std(0)
        np.testing.assert_allclose(qs.feature_mean, mean)
        np.testing.assert_allclose(qs.feature_std, std)
        for q in range(0, len(qs), 7):
            for k in range(3):
                z = (store.task_features(qs.demos[q][k]).astype(np.float64) - mean) / std
                seg = z[qs.starts[q, k] : qs.starts[q, k] + qs.lengths[q, k]]
                assert qs.lengths[q, k] == 6
                np.testing.assert_allclose(qs.summaries[q, k], np.concatenate([seg.mean(0), seg[-1]]), atol=1e-9)
        assert qs.split == "train"
        assert all(d in store.demo_names("train") for row in qs.demos for d in row)
    np.testing.assert_allclose(qs.distances, pair_distances(qs.summaries))
    assert (qs.answers == qs.distances.argmin(1)).all()
    # The chosen pair is strictly closer than the others (up to exact ties).
    chosen = qs.distances[np.arange(len(qs)), qs.answers]
    assert (chosen[:, None] <= qs.distances + 1e-12).all()
    # Three distinct segments per query; answers spread over all three pairs.
    for q in range(len(qs)):
        assert len({(qs.demos[q][k], int(qs.starts[q, k])) for k in range(3)}) == 3
    assert set(np.unique(qs.answers)) == {0, 1, 2}
    # beta = inf is noiseless too.
    with open_store(blob_store) as store:
        inf = generate_queries(store, SirlConfig(queries=300, segment=6, beta=float("inf"), query_seed=3))
    assert (inf.answers == qs.answers).all()


@pytest.mark.parametrize("beta", [1.0, 4.0])
def test_noisy_user_follows_boltzmann_probabilities(beta):
    d = np.array([0.3, 0.5, 0.9])
    p = pair_probabilities(d, beta)
    np.testing.assert_allclose(p, np.exp(-beta * d) / np.exp(-beta * d).sum())
    n = 20_000
    rng = np.random.default_rng(0)
    freq = np.bincount([simulated_answer(d, beta, rng) for _ in range(n)], minlength=3) / n
    se = np.sqrt(p * (1 - p) / n)
    assert (np.abs(freq - p) < 4 * se).all(), (freq, p)


@pytest.mark.slow
def test_noisy_user_in_generated_queries(blob_store):
    """Over generated queries, how often the user names the closest pair matches the Boltzmann
    probability of doing so, and a more rational user errs less."""
    rates = {}
    with open_store(blob_store) as store:
        base = generate_queries(store, SirlConfig(queries=2000, segment=6, beta=0.0, query_seed=1))
        for beta in (1.0, 5.0):
            qs = generate_queries(store, SirlConfig(queries=2000, segment=6, beta=beta, query_seed=1))
            p = pair_probabilities(qs.distances, beta)
            best = qs.distances.argmin(1)
            hit = (qs.answers == best).astype(float)
            expected = p[np.arange(len(qs)), best]
            se = np.sqrt((expected * (1 - expected)).sum()) / len(qs)
            assert abs(hit.mean() - expected.mean()) < 4 * se, (beta, hit.mean(), expected.mean())
            assert expected.mean() < 0.999  # the noise is real at this beta
            rates[beta] = hit.mean()
            # Same seed, other beta: the same segments are asked about (only the answers differ).
            assert base.demos == qs.demos and (base.starts == qs.starts).all()
    assert rates[5.0] > rates[1.0]


# ----------------------------------------------------------------------------- saved queries
def test_queries_saved_and_reloaded_identically(blob_store, tmp_path):
    with open_store(blob_store) as store:
        info = _info(store)
    cfg = SirlConfig(queries=200, segment=5, frames=3, beta=2.0, query_seed=7)
    runs = []
    for name in ("a", "b"):
        obj = Sirl(TinyEncoder(info.num_views, info.image_size), cfg, info)
        (tmp_path / name).mkdir()
        obj.prepare(tmp_path / name, blob_store, None)
        runs.append(obj)
    text_a = (tmp_path / "a" / QUERY_FILE).read_text()
    assert text_a == (tmp_path / "b" / QUERY_FILE).read_text()  # same seed, same store: same bytes
    loaded = QuerySet.load(tmp_path / "a" / QUERY_FILE)
    made = runs[0].queries
    assert loaded.to_json() == text_a
    assert loaded.demos == made.demos
    for k in ("starts", "lengths", "summaries", "distances", "answers", "feature_mean", "feature_std"):
        np.testing.assert_array_equal(getattr(loaded, k), getattr(made, k))
    header = json.loads(text_a)
    assert header["budget"] == 200 and header["seed"] == 7 and header["beta"] == 2.0
    assert header["feature_names"] == ["dot_x", "dot_y"] and len(header["queries"]) == 200
    assert header["data_hash"]

    # A resumed run reloads its queries; other settings in the same folder are refused.
    again = Sirl(TinyEncoder(info.num_views, info.image_size), cfg, info)
    again.prepare(tmp_path / "a", blob_store, None)
    assert again.queries.to_json() == text_a
    other = Sirl(TinyEncoder(info.num_views, info.image_size), SirlConfig(queries=200, segment=5, frames=3,
                                                                          beta=2.0, query_seed=8), info)
    with pytest.raises(RobolearnError, match="seed"):
        other.prepare(tmp_path / "a", blob_store, None)
    (tmp_path / "c").mkdir()
    other.prepare(tmp_path / "c", blob_store, None)
    assert (tmp_path / "c" / QUERY_FILE).read_text() != text_a
    assert Sirl.uses_privileged_labels and runs[0].query_budget == 200


def test_query_dataset_items(blob_store, tmp_path):
    with open_store(blob_store) as store:
        info = _info(store)
        obj = Sirl(TinyEncoder(info.num_views, info.image_size), SirlConfig(queries=40, segment=6, frames=3), info)
        obj.prepare(tmp_path, blob_store, None)
        ds = obj.make_dataset(blob_store, "train", ["cam"], None)
        ram = obj.make_dataset(blob_store, "train", ["cam"], None, in_ram=True)
        assert len(ds) == 40
        qs = obj.queries
        for i in (0, 17, 39):
            item = ds[i]
            assert item["segments"].dtype == torch.uint8
            assert tuple(item["segments"].shape) == (3, 3, 1, store.image_size, store.image_size, 3)
            assert int(item["answer"]) == qs.answers[i]
            for k in range(3):
                frames = qs.starts[i, k] + segment_frames(6, 3)
                assert list(frames - qs.starts[i, k]) == [0, 2, 5]  # first, middle, last
                want = store.images(qs.demos[i][k], ["cam"])[frames]
                np.testing.assert_array_equal(item["segments"][k].numpy(), want)
            torch.testing.assert_close(ram[i]["segments"], item["segments"])
    with pytest.raises(RobolearnError, match="split"):
        obj.make_dataset(blob_store, "valid", ["cam"], None)
    # The registry finds it.
    assert get_objective("sirl") is Sirl


def test_triplet_loss_follows_the_answer():
    phi = torch.tensor([[[0.0, 0.0], [0.1, 0.0], [3.0, 0.0]]])  # segments 0 and 1 are close
    good, m = triplet_loss(phi, torch.tensor([0]), margin=1.0)
    bad, m_bad = triplet_loss(phi, torch.tensor([2]), margin=1.0)  # the user said (1, 2)
    assert float(good) == 0.0 and float(m["agree"]) == 1.0
    assert float(bad) > 1.0 and float(m_bad["agree"]) == 0.0
    assert PAIRS[0] == (0, 1)


# ----------------------------------------------------------------------------- learning
def _probe(encoder, store) -> np.ndarray:
    out = {}
    with torch.no_grad():
        for split in ("train", "valid"):
            demos = store.demo_names(split)
            emb = np.concatenate([encoder(torch.from_numpy(store.images(d))).numpy() for d in demos])
            out[split] = (emb, np.concatenate([store.task_features(d) for d in demos]))
    return ridge_r2(*out["train"], *out["valid"])


@pytest.mark.slow
def test_sirl_learns_the_features_it_was_asked_about(blob_store, tmp_path):
    """The triplet loss falls, the embedding comes to agree with the user, and a linear probe reads
    the red dot's position from it better than from the random initialization (which follows the
    distracting white blob)."""
    torch.manual_seed(0)
    with open_store(blob_store) as store:
        info = _info(store)
        enc = TinyEncoder(info.num_views, info.image_size)
        r2_init = _probe(enc.eval(), store)
        obj = Sirl(enc, SirlConfig(queries=400, segment=6, frames=2, margin=1.0, query_seed=0), info)
        obj.prepare(tmp_path, blob_store, None)
        ds = obj.make_dataset(blob_store, "train", ["cam"], None, in_ram=True)
        loader = DataLoader(ds, batch_size=16, shuffle=True, drop_last=True, generator=torch.Generator().manual_seed(0))
        opts = obj.configure_optimizers(resolve_optim(OptimConfig(lr=3e-3, weight_decay=0.0), Sirl.optim_defaults))
        obj.train()
        losses, agree = [], []
        while len(losses) < 240:
            for batch in loader:
                loss, m = obj.loss(batch)
                for o in opts:
                    o.zero_grad()
                loss.backward()
                for o in opts:
                    o.step()
                losses.append(float(loss.detach()))
                agree.append(float(m["agree"]))
                if len(losses) == 240:
                    break
        r2 = _probe(enc.eval(), store)
    first, last = np.mean(losses[:20]), np.mean(losses[-40:])
    print(f"\nSIRL triplet loss {first:.3f} -> {last:.3f}; agreement with the user {np.mean(agree[:20]):.2f} -> "
          f"{np.mean(agree[-40:]):.2f}; probe R² (dot_x, dot_y) init {np.round(r2_init, 3)} -> SIRL {np.round(r2, 3)}")
    assert last < 0.5 * first
    assert np.mean(agree[-40:]) > 0.7
    assert r2.mean() > r2_init.mean() + 0.05
    assert (r2 > r2_init).all()


@pytest.mark.slow
def test_pretrain_sirl_writes_queries_and_labels_the_result(tmp_path):
    """`robolearn pretrain` with the sirl objective: prepare, query dataset, trainer, results."""
    from robolearn.pretrain import pretrain

    data = write_blob_store(tmp_path / "small.hdf5", demos=8, steps=16, size=32, seed=1)
    cfg = PretrainConfig(data=data, out=tmp_path / "run", objective="sirl",
                         encoder=EncoderConfig(name="conv", embed_dim=16),
                         optim=OptimConfig(steps=6, batch_size=8, warmup_steps=1, checkpoint_every=6,
                                           eval_every=6, log_every=3),
                         sirl=SirlConfig(queries=40, segment=5, frames=2), wandb="disabled")
    out = pretrain(cfg)
    results = json.loads((out / "results.json").read_text())
    assert results["uses_privileged_labels"] is True and results["query_budget"] == 40
    qs = QuerySet.load(out / QUERY_FILE)
    assert len(qs) == 40 and qs.split == "train"
    assert (out / "encoder.safetensors").exists()
