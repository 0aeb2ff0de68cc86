"""Classify the episodes of a diag_roll.py npz: failure types, stalls, dithering, block rotation,
sampled-action spread vs the 4 expert modes' spread.

    python analyze.py X.npz [--per-episode] [--plots DIR]
"""
import argparse, json
import numpy as np

p = argparse.ArgumentParser()
p.add_argument("npz"); p.add_argument("--per-episode", action="store_true"); p.add_argument("--plots", default=None)
p.add_argument("--json", default=None)
a = p.parse_args()
d = np.load(a.npz)
ee, vel, blk, yaw, hgt, zone = d["ee"], d["vel"], d["blk"], d["yaw"], d["hgt"], d["zone"]
act, exp, samp, succ, entered = d["act"], d["exp"], d["samp"], d["succ"], d["entered"]
N, H = act.shape[:2]
CONTACT, ZH = 0.06, 0.05


def zdist(b):  # (L+1,) Chebyshev distance of a block centre to the nearest zone's edge (<= 0 inside)
    return np.min(np.stack([np.abs(b - z).max(-1) for z in zone_i]), 0) - ZH


rows = []
for i in range(N):
    L = int((~np.isnan(act[i, :, 0])).sum())
    s = bool(np.nan_to_num(succ[i, :L]).max() >= 1); ne = int(np.nan_to_num(entered[i, :L]).max())
    zone_i = zone[i]
    E, B = ee[i, :L + 1], blk[i, :L + 1]
    dist = np.linalg.norm(B - E[:, None], axis=-1)  # (L+1, 2)
    contact = dist < CONTACT
    first_contact = int(np.argmax(contact.any(1))) if contact.any() else -1
    zd = np.stack([zdist(B[:, b]) for b in range(2)], 1)  # (L+1, 2)
    progress = zd[0] - zd.min(0)  # best approach to a zone per block (m)
    final_gap = zd[-1]
    moved = np.linalg.norm(B[-1] - B[0], axis=-1)
    step = np.linalg.norm(np.diff(E, axis=0), axis=-1)  # m per step (max 0.02)
    slow = step < 0.002
    runs, r = [], 0
    for v in slow:
        r = r + 1 if v else 0
        runs.append(r)
    longest_stall = int(max(runs) if runs else 0)
    # actions vs the 4 expert modes at the same state
    A, X = act[i, :L], exp[i, :L]  # (L, 2), (L, 4, 2)
    err = np.linalg.norm(A[:, None] - X, axis=-1)  # (L, 4)
    near_mode = err.argmin(1); near_err = err.min(1)
    blk_err = np.stack([err[:, :2].min(1), err[:, 2:].min(1)], 1)  # closest mode pushing block 0 / 1 first
    # implied first-block flips (only where the two blocks' best modes differ clearly)
    clear = np.abs(blk_err[:, 0] - blk_err[:, 1]) > 0.3
    implied = np.where(blk_err[:, 0] < blk_err[:, 1], 0, 1)[clear]
    flips = int((np.diff(implied) != 0).sum()) if len(implied) > 1 else 0
    # before first contact: flips of the block the pusher heads toward (velocity direction vs direction to block)
    pre = first_contact if first_contact > 0 else L
    head_flips = 0; prev = -1
    for t in range(1, min(pre, L)):
        v = E[t] - E[t - 1]
        if np.linalg.norm(v) < 0.004:
            continue
        cos = [(v @ (B[t, b] - E[t])) / (np.linalg.norm(v) * np.linalg.norm(B[t, b] - E[t]) + 1e-9) for b in range(2)]
        if abs(cos[0] - cos[1]) < 0.3:
            continue
        h = int(np.argmax(cos))
        if prev >= 0 and h != prev:
            head_flips += 1
        prev = h
    dyaw = np.abs(((yaw[i, :L + 1] - yaw[i, 0] + np.pi / 4) % (np.pi / 2)) - np.pi / 4).max(0)
    flipped = bool((hgt[i, :L + 1] > 0.05).any())
    # contact in the last 50 steps, pusher path in the last 50 steps
    tail = slice(max(0, L - 50), L + 1)
    tail_contact = bool(contact[tail].any())
    tail_path = float(step[max(0, L - 50):].sum())
    last_contact = int(np.nonzero(contact.any(1))[0].max()) if contact.any() else -1
    # ever entered then out (pushed out)
    # failure type for episodes with no block entered
    if ne >= 1:
        ftype = "success" if s else ("1 entered" if ne == 1 else "2 entered, not at once")
    elif first_contact < 0:
        ftype = "never touched"
    elif progress.max() < 0.03:
        ftype = "touched, no progress (<3cm)"
    else:
        ftype = "block moved >=3cm toward zone, not in"
    rows.append(dict(ep=i, L=L, strict=s, entered=ne, ftype=ftype, first_contact=first_contact, last_contact=last_contact,
                     contact_steps=[int(contact[:, 0].sum()), int(contact[:, 1].sum())],
                     progress_cm=[round(100 * float(x), 1) for x in progress], final_gap_cm=[round(100 * float(x), 1) for x in final_gap],
                     moved_cm=[round(100 * float(x), 1) for x in moved], stall_steps=int(slow.sum()), longest_stall=longest_stall,
                     near_err=round(float(near_err.mean()), 3), near_err_p90=round(float(np.quantile(near_err, 0.9)), 3),
                     mode_flips=flips, head_flips_before_contact=head_flips, dyaw_max=[round(float(x), 2) for x in dyaw], flipped=flipped,
                     tail_contact=tail_contact, tail_path_cm=round(100 * tail_path, 1),
                     path_cm=round(100 * float(step.sum()), 1),
                     mean_speed=round(float(np.linalg.norm(A, axis=-1).mean()), 3)))

groups = {}
for r in rows:
    groups.setdefault(r["ftype"], []).append(r)
modes = [int(np.nan_to_num(d["mode"][r["ep"], :r["L"]], nan=-1).max()) for r in rows]
print(f"{a.npz}: N {N}, strict {sum(r['strict'] for r in rows)}, >=1 entered {sum(r['entered'] >= 1 for r in rows)}, "
      f"2 entered {sum(r['entered'] >= 2 for r in rows)}, modes 0/1/2/3/none {[modes.count(m) for m in (0, 1, 2, 3, -1)]}, "
      f"switches/ep {np.mean([np.nan_to_num(d['sw'][r['ep'], :r['L']]).max() for r in rows]):.2f}")
keys = ["L", "first_contact", "last_contact", "stall_steps", "longest_stall", "near_err", "near_err_p90", "mode_flips",
        "head_flips_before_contact", "path_cm", "tail_path_cm", "mean_speed"]
print("type | n | " + " | ".join(keys))
for k, g in sorted(groups.items()):
    print(f"{k} | {len(g)} | " + " | ".join(f"{np.mean([r[c] for r in g]):.2f}" for c in keys))
print("per type: max block progress (cm, median), max dyaw (rad, median), tail contact share")
for k, g in sorted(groups.items()):
    print(f"  {k}: progress {np.median([max(r['progress_cm']) for r in g]):.1f}, dyaw {np.median([max(r['dyaw_max']) for r in g]):.2f}, "
          f"tail contact {np.mean([r['tail_contact'] for r in g]):.2f}, flipped {sum(r['flipped'] for r in g)}")

# action spread: samples at visited states vs the 4 expert modes' spread
ok = ~np.isnan(samp[..., 0, 0])  # (N, H) steps with samples
S = samp[ok]  # (M, K, 2)
X = exp[ok]  # (M, 4, 2)
ep_idx = np.nonzero(ok)[0]
fail = np.array([rows[i]["entered"] == 0 for i in ep_idx])
good = np.array([rows[i]["strict"] for i in ep_idx])
spread = S.std(1).mean(-1)  # per state: std over K samples, mean of the 2 dims
mode_spread = X.std(1).mean(-1)
serr = np.linalg.norm(S[:, :, None] - X[:, None], axis=-1).min(-1)  # (M, K) each sample's distance to the nearest mode
# within the nearest-mode cluster: std of samples assigned to the same nearest mode (averaged over modes with >= 2)
assign = np.linalg.norm(S[:, :, None] - X[:, None], axis=-1).argmin(-1)
within = []
for m_i in range(len(S)):
    v = []
    for m in range(4):
        sel = S[m_i, assign[m_i] == m]
        if len(sel) >= 2:
            v.append(sel.std(0).mean())
    within.append(np.mean(v) if v else np.nan)
within = np.array(within)
nmodes = np.array([len(set(assign[m_i].tolist())) for m_i in range(len(S))])


def summ(mask, name):
    if mask.sum() == 0:
        return
    print(f"  {name}: states {int(mask.sum())}, sample std {spread[mask].mean():.3f}, within-mode std {np.nanmean(within[mask]):.3f}, "
          f"4-mode expert std {mode_spread[mask].mean():.3f}, sample->nearest mode {serr[mask].mean():.3f} "
          f"(median {np.median(serr[mask]):.3f}; share < 0.1: {(serr[mask] < 0.1).mean():.2f}, > 0.5: {(serr[mask] > 0.5).mean():.2f}), "
          f"distinct nearest modes among K {nmodes[mask].mean():.2f}")


print("spread of the policy's first action (action units [-1, 1]) at visited states:")
summ(np.ones(len(S), bool), "all")
summ(good, "strict-success episodes")
summ(fail, "no-block episodes")
summ(~good & ~fail, "other failures")
if a.per_episode:
    for r in rows:
        if not r["strict"]:
            print(json.dumps(r))
if a.json:
    json.dump(rows, open(a.json, "w"), indent=0)
if a.plots:
    import os
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(a.plots, exist_ok=True)
    fails = [r for r in rows if r["entered"] == 0][:12] + [r for r in rows if r["strict"]][:4]
    fig, axs = plt.subplots(4, 4, figsize=(16, 16))
    for ax, r in zip(axs.flat, fails):
        i, L = r["ep"], r["L"]
        for j in range(2):
            z = zone[i, j]
            ax.add_patch(plt.Rectangle(z - ZH, 2 * ZH, 2 * ZH, color="g" if j == 0 else "b", alpha=0.2))
        ax.plot(ee[i, :L + 1, 0], ee[i, :L + 1, 1], "k-", lw=0.8)
        ax.plot(ee[i, 0, 0], ee[i, 0, 1], "ko")
        for b, c in ((0, "r"), (1, "orange")):
            ax.plot(blk[i, :L + 1, b, 0], blk[i, :L + 1, b, 1], "-", color=c, lw=2)
            ax.plot(blk[i, 0, b, 0], blk[i, 0, b, 1], "s", color=c, ms=10, mfc="none")
            ax.plot(blk[i, L, b, 0], blk[i, L, b, 1], "s", color=c, ms=10)
        ax.set_xlim(-0.3, 0.3); ax.set_ylim(-0.3, 0.3); ax.set_aspect("equal")
        ax.set_title(f"ep {i} {r['ftype'][:22]} L{L} stall{r['stall_steps']}", fontsize=9)
    fig.savefig(os.path.join(a.plots, "traj.png"), dpi=60)
    # actions over time for the first 4 failures
    fig, axs = plt.subplots(4, 1, figsize=(14, 12))
    for ax, r in zip(axs, [r for r in rows if r["entered"] == 0][:4]):
        i, L = r["ep"], r["L"]
        ax.plot(act[i, :L, 0], "b-", label="a_x"); ax.plot(act[i, :L, 1], "r-", label="a_y")
        for m in range(4):
            ax.plot(exp[i, :L, m, 0], "b:", lw=0.6); ax.plot(exp[i, :L, m, 1], "r:", lw=0.6)
        cont = np.linalg.norm(blk[i, :L] - ee[i, :L, None], axis=-1).min(-1) < CONTACT
        ax.fill_between(np.arange(L), -1.1, -1.0, where=cont, color="k")
        ax.set_title(f"ep {i}: actions (solid) vs 4 expert modes (dotted); black bar = contact"); ax.legend()
    fig.savefig(os.path.join(a.plots, "actions.png"), dpi=60)
