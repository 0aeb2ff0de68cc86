"""Input-sensitivity probe at recorded states (diag_roll.py npz): the policy's deterministic action (DDIM from
zero noise) with the real 2-frame observation, with the pusher velocity zeroed in both frames, and with the
history replaced by the current frame twice; each compared with the 4 expert modes' actions there.

    python counterfactual.py POL R_POLICY.npz R_EXPERT.npz
"""
import sys
import numpy as np, torch
torch.set_num_threads(1)
from robolearn.policies.policy import Policy

pol = Policy.load(sys.argv[1])


def obs_at(d, i, t):
    blk, yaw, zone, ee, vel = d["blk"][i, t], d["yaw"][i, t], d["zone"][i], d["ee"][i, t], d["vel"][i, t]
    state = []
    for b in range(2):
        state += [blk[b, 0], blk[b, 1], np.sin(4 * yaw[b]), np.cos(4 * yaw[b])]
    state += [*zone[0], *zone[1]]
    return np.array(state, np.float32), np.array([*ee, *vel], np.float32)


def feats(state, prop):
    with torch.no_grad():
        return pol.features(None, {"state": torch.as_tensor(state), "proprio": torch.as_tensor(prop)})


def act(hist):  # (B, 2, D) -> (B, 2) deterministic first action
    with torch.no_grad():
        ch = pol.head.predict_from_noise(hist, torch.zeros(len(hist), pol.pred_horizon, pol.action_dim))
    return np.clip(pol.normalizer.unnormalize("actions", ch.numpy())[:, 0], -1, 1)


def probe(d, pick, name):
    S0, P0, S1, P1, X = [], [], [], [], []
    for i, t in pick:
        s0, p0 = obs_at(d, i, max(t - 1, 0)); s1, p1 = obs_at(d, i, t)
        S0.append(s0); P0.append(p0); S1.append(s1); P1.append(p1); X.append(d["exp"][i, t])
    S0, P0, S1, P1, X = map(np.stack, (S0, P0, S1, P1, X))
    f0, f1 = feats(S0, P0), feats(S1, P1)
    Pz0, Pz1 = P0.copy(), P1.copy(); Pz0[:, 2:] = 0; Pz1[:, 2:] = 0
    fz0, fz1 = feats(S0, Pz0), feats(S1, Pz1)
    variants = {"real obs": torch.stack([f0, f1], 1), "velocity zeroed": torch.stack([fz0, fz1], 1),
                "history = current frame twice": torch.stack([f1, f1], 1)}
    print(f"{name}: {len(pick)} states")
    for k, h in variants.items():
        A = act(h)
        err = np.linalg.norm(A[:, None] - X, axis=-1).min(1)
        cos = ((A[:, None] * X).sum(-1) / (np.linalg.norm(A, axis=-1)[:, None] * np.linalg.norm(X, axis=-1) + 1e-9)).max(1)
        print(f"   {k:32s} error to the nearest expert mode {err.mean():.3f} (median {np.median(err):.3f}), best cos {cos.mean():.2f}, |a| {np.linalg.norm(A, axis=-1).mean():.2f}")


d = np.load(sys.argv[2])
CONTACT = 0.06
lost, contact_steps = [], []
for i in range(d["act"].shape[0]):
    L = int((~np.isnan(d["act"][i, :, 0])).sum())
    if np.nan_to_num(d["succ"][i, :L]).max() >= 1:
        continue
    dist = np.linalg.norm(d["blk"][i, :L + 1] - d["ee"][i, :L + 1, None], axis=-1).min(1)
    nz = np.nonzero(dist < CONTACT)[0]
    if len(nz) and L - nz.max() > 50 and d["ee"][i, L - 50:L, 1].mean() > 0.1:
        lc = int(nz.max())
        lost += [(i, t) for t in range(lc + 1, min(L, lc + 11))]
        contact_steps += [(i, t) for t in nz if t < L and t >= max(1, lc - 10)]
probe(d, lost, "policy rollouts, lost episodes, the 10 steps after the last contact")
probe(d, contact_steps, "policy rollouts, lost episodes, the 10 contact steps before the block was lost")
e = np.load(sys.argv[3])
rng = np.random.default_rng(0)
pick = []
for i in range(e["act"].shape[0]):
    L = int((~np.isnan(e["act"][i, :, 0])).sum())
    pick += [(i, int(t)) for t in rng.choice(np.arange(1, L), 10, replace=False)]
probe(e, pick, "expert-driven (demo-like) states")
