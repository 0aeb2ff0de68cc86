"""Scratch: sampled chunks vs demo chunks on train windows; per-position shift test; best-of-K."""
import sys, numpy as np, torch
torch.set_num_threads(1)
from robolearn.policies.policy import Policy
from robolearn.data.store import open_store
from robolearn.train import demo_features, feature_windows
pol = Policy.load(sys.argv[1]); nd = int(sys.argv[2]) if len(sys.argv) > 2 else 20
store = open_store(pol.meta["data"])
demos = store.demo_names("train")[:nd]
feats = demo_features(pol.features, store, demos, [])
acts = {d: pol.normalizer.normalize("actions", store.actions(d)) for d in demos}
x, y, pad = feature_windows(feats, acts, demos, pol.obs_horizon, pol.pred_horizon)
g = torch.Generator().manual_seed(0)
with torch.no_grad():
    preds = torch.stack([pol.head.predict(x, generator=g) for _ in range(8)])  # (K, N, T, A)
p0 = preds[0]; T = y.shape[1]
print("windows", len(x), "demo action |a| mean", float(y.abs().mean()), "frac saturated", float((y.abs() > 0.99).float().mean()))
print("pred[:,k] vs y[:,j] MSE (rows k, cols j):")
for k in [0, 1, 2, 4, 7]:
    print(k, " ".join(f"{float(((p0[:, k] - y[:, j]) ** 2).mean()):.3f}" for j in range(0, 10)))
w = (~pad).float()[..., None]
err = (((preds - y[None]) ** 2) * w).sum((2, 3)) / (w.sum((1, 2)) * 2)[None]  # (K, N)
print("chunk MSE one sample", float(err[0].mean()), "best-of-8", float(err.min(0).values.mean()),
      "first-action MSE", float(((p0[:, 0] - y[:, 0]) ** 2).mean()), "first-action L1", float((p0[:, 0] - y[:, 0]).abs().mean()))
print("sample spread (std over K) at pos 0:", float(preds[:, :, 0].std(0).mean()))
