"""The linear probe the reports quote: what its mean is over."""
import numpy as np

from robolearn.probes import probe_report


def test_probe_mean_skips_constant_features():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(400, 8))
    feat = np.stack([emb[:, 0] * 2 + 1, emb[:, 1] - emb[:, 2], np.full(400, 0.5)], 1)  # the third never varies
    out = probe_report(emb[:300], feat[:300], emb[300:], feat[300:], ["a", "b", "constant"])
    assert out["probe_r2/a"] > 0.99 and out["probe_r2/b"] > 0.99 and out["probe_r2/constant"] == 0.0
    assert out["probe_r2/mean"] > 0.99  # the mean of the two that vary, not dragged to 2/3
    flat = probe_report(emb[:300], np.zeros((300, 2)), emb[300:], np.zeros((100, 2)), ["x", "y"])
    assert flat["probe_r2/mean"] == 0.0


def test_collapse_indicators_tell_a_constant_embedding_from_a_spread_one():
    from robolearn.probes import collapse_stats, collapse_warning

    rng = np.random.default_rng(0)
    episodes = np.repeat(np.arange(10), 20)
    # Nearly one vector for every frame (what the paper's conv encoder gave at init): cosine ~1.
    common = rng.normal(size=16)
    constant = common + 1e-3 * rng.normal(size=(200, 16))
    c = collapse_stats(constant, episodes)
    assert c["mean_cosine"] > 0.99 and "cosine" in collapse_warning(c)
    # Spread, centred embeddings whose variation is all within episodes, then all between them.
    moving = rng.normal(size=(200, 16))
    m = collapse_stats(moving, episodes)
    assert abs(m["mean_cosine"]) < 0.1 and m["effective_rank"] > 12 and collapse_warning(m) is None
    assert 0.9 < m["within_episode_share"] <= 1.0
    per_episode = rng.normal(size=(10, 16))[episodes] + 1e-3 * rng.normal(size=(200, 16))
    assert collapse_stats(per_episode, episodes)["within_episode_share"] < 0.01
    # Spread but along two directions only: the rank guard fires.
    flat = rng.normal(size=(200, 2)) @ rng.normal(size=(2, 16))
    f = collapse_stats(flat)
    assert f["effective_rank"] < 2.5 and "rank" in collapse_warning(f)


def test_probe_takes_whole_demos_up_to_a_frame_budget(pointmass_demos, monkeypatch):
    """The periodic probe's training set is bounded in frames, not demos: short-episode data gets
    enough frames for a ridge over the embedding, long-episode data stays cheap to embed."""
    from robolearn import pretrain
    from robolearn.data.store import open_store

    store = open_store(pointmass_demos)
    lengths = store.lengths("train")
    names = store.demo_names("train")
    monkeypatch.setattr(pretrain, "PROBE_FRAMES", lengths[names[0]] + 1)
    picked = pretrain.probe_demos(store, "train")
    assert picked == names[:2]  # the first demo alone is one frame short of the budget
    monkeypatch.setattr(pretrain, "PROBE_FRAMES", 1)
    assert pretrain.probe_demos(store, "train") == names[:1]
    monkeypatch.setattr(pretrain, "PROBE_FRAMES", 10**9)
    assert pretrain.probe_demos(store, "valid") == store.demo_names("valid")
