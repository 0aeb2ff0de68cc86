"""Decisive experiment: is BlockPush's image failure at 32 px the conv encoder's 3x3 final map?
For 32 and 64 px, conv encoder as is (strides 2,2,1,1) and with strides (1,2,1,1):
random-init probe R² (3 seeds) and a supervised ceiling (conv trained to regress the state, 1500 steps)."""
import os, sys, time, json
os.environ.setdefault("MUJOCO_GL", "egl")
import numpy as np, torch
from torch import nn
torch.set_num_threads(1)
from data.store import open_store
from robolearn.encoders import ConvEncoder, _norm
from robolearn.probes import ridge_r2

def load(path, every=3):
    st = open_store(path)
    out = {}
    for split in ("train", "valid"):
        X, Y = [], []
        for d in st.demo_names(split):
            n = st.length(d); idx = np.arange(0, n, every)
            X.append(st.images(d, st.cameras)[idx]); Y.append(st.obs(d, "state")[idx])
        out[split] = (np.concatenate(X), np.concatenate(Y).astype(np.float32))
    return out, st.feature_names

def make(size, strides, seed):
    torch.manual_seed(seed)
    enc = ConvEncoder(2, size)
    if strides != (2, 2, 1, 1):
        layers, c_in = [], 3
        for c, s in zip((32, 64, 128, 256), strides):
            conv = nn.Conv2d(c_in, c, 3, stride=s); nn.init.kaiming_normal_(conv.weight, nonlinearity="relu"); nn.init.zeros_(conv.bias)
            layers += [conv, _norm("group", c), nn.GELU()]; c_in = c
        enc.conv = nn.Sequential(*layers)
    return enc

@torch.no_grad()
def embed(enc, X):
    enc.eval()
    return np.concatenate([enc(torch.from_numpy(X[i:i+512])).numpy() for i in range(0, len(X), 512)])

GROUPS = {"block xy": [0, 1, 4, 5], "block yaw": [2, 3, 6, 7], "target xy": [8, 9, 10, 11]}
def summarize(r2):
    return {g: round(float(np.mean(r2[ix])), 3) for g, ix in GROUPS.items()}

def supervised(enc, data, steps=1500, bs=64):
    Xtr, Ytr = data["train"]
    m, s = Ytr.mean(0), Ytr.std(0) + 1e-6
    head = nn.Linear(enc.embed_dim, Ytr.shape[1])
    opt = torch.optim.AdamW(list(enc.parameters()) + list(head.parameters()), lr=3e-4)
    rng = np.random.default_rng(0); enc.train()
    for it in range(steps):
        i = rng.integers(0, len(Xtr), bs)
        loss = ((head(enc(torch.from_numpy(Xtr[i]))) - torch.from_numpy((Ytr[i] - m) / s)) ** 2).mean()
        opt.zero_grad(); loss.backward(); opt.step()
    return enc

rows = []
for size in (32, 64):
    data, names = load(f"/work/exp20/bp200_{size}.hdf5")
    print(size, "frames", len(data["train"][0]), len(data["valid"][0]), flush=True)
    for strides in ((2, 2, 1, 1), (1, 2, 1, 1)):
        enc = make(size, strides, 0)
        with torch.no_grad():
            fmap = enc.conv(torch.zeros(1, 3, size, size)).shape[-1]
        for seed in (0, 1, 2):
            enc = make(size, strides, seed)
            r2 = ridge_r2(embed(enc, data["train"][0]), data["train"][1], embed(enc, data["valid"][0]), data["valid"][1])
            rows.append(dict(size=size, strides=strides, fmap=fmap, enc=f"random s{seed}", **summarize(r2)))
            print(rows[-1], flush=True)
        t = time.time()
        enc = supervised(make(size, strides, 0), data)
        r2 = ridge_r2(embed(enc, data["train"][0]), data["train"][1], embed(enc, data["valid"][0]), data["valid"][1])
        rows.append(dict(size=size, strides=strides, fmap=fmap, enc="supervised 1500", secs=round(time.time() - t), **summarize(r2)))
        print(rows[-1], flush=True)
json.dump(rows, open("/work/exp20/probe_res.json", "w"), indent=1)
print("| px | strides | final map | encoder | block xy R² | block yaw R² | target xy R² |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for r in rows:
    print(f"| {r['size']} | {r['strides']} | {r['fmap']}x{r['fmap']} | {r['enc']} | {r['block xy']} | {r['block yaw']} | {r['target xy']} |")
