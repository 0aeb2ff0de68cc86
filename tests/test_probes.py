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
