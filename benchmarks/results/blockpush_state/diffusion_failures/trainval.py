"""Sampled first action of a state policy against the demos' on 40 training and 40 validation demos
(one sample: MSE; best of 6 samples: how close the nearest mode comes). `python trainval.py POLICY DEMOS.hdf5`."""
import sys, numpy as np, torch
torch.set_num_threads(1)
from robolearn.policies.policy import Policy
from robolearn.data.store import open_store
from robolearn.train import demo_features, feature_windows
pol = Policy.load(sys.argv[1]); nd = 40
store = open_store(sys.argv[2])
for split in ["train", "valid"]:
    demos = store.demo_names(split)[:nd]
    feats = demo_features(pol.features, store, demos, [])
    acts = {d: pol.normalizer.normalize("actions", store.actions(d)) for d in demos}
    x, y, pad = feature_windows(feats, acts, demos, pol.obs_horizon, pol.pred_horizon)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        preds = torch.stack([pol.head.predict(x, generator=g) for _ in range(6)])
    e0 = ((preds[:, :, 0] - y[None, :, 0]) ** 2).mean(-1)  # (K, N)
    print(split, "windows", len(x), "first-action MSE", f"{float(e0[0].mean()):.4f}", "best-of-6", f"{float(e0.min(0).values.mean()):.4f}",
          "median", f"{float(e0[0].median()):.4f}", flush=True)
