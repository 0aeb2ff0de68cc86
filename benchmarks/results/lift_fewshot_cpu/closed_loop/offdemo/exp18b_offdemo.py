"""exp18b steps 2 + 3: every head's action error against the clean expert on the common off-demo states
(exp18b_states.py), by condition, beside the demo states; the standardized embeddings' z-scores there; the heads'
input sensitivity.     python exp18b_offdemo.py LABEL=POLICY_DIR [LABEL=POLICY_DIR ...]   (writes offdemo_<labels>.json)
"""
import robolearn.rendering  # noqa
import sys, json, numpy as np, torch
from robolearn.policies.policy import Policy
from robolearn.data.store import open_store
torch.set_num_threads(1)
ACT = ["dx", "dy", "dz", "rx", "ry", "rz", "grip"]
import os
S = np.load(os.environ.get("STATES", "/work/exp18b/offdemo_states.npz"))
conds = list(S["cond_names"])
store = open_store("/work/exp18b/bench/lift-fewshot/demos.hdf5")
train, valid = store.demo_names("train"), store.demo_names("valid")
CAMS = ["agentview", "robot0_eye_in_hand"]


def demo_set(demos):
    ims = [store.images(d, CAMS) for d in demos]
    return dict(agentview_image=np.concatenate([i[:, 0] for i in ims]), robot0_eye_in_hand_image=np.concatenate([i[:, 1] for i in ims]),
                proprio=np.concatenate([store.obs(d, "proprio") for d in demos]).astype(np.float32),
                label=np.concatenate([store.actions(d) for d in demos]), feats=np.concatenate([store.task_features(d) for d in demos]))


SETS = {"demo-train": demo_set(train), "demo-valid": demo_set(valid)}
for ci, c in enumerate(conds):
    m = S["cond"] == ci
    SETS[c] = {k: S[k][m] for k in ("agentview_image", "robot0_eye_in_hand_image", "proprio", "label", "feats", "phase")}
# how far off the head demos a state is: nearest head-train frame in (eef xyz, cube xyz), cm; and pre-grasp mask
ref = np.concatenate([SETS["demo-train"]["feats"][:, 4:7], SETS["demo-train"]["feats"][:, 0:3]], 1)
for k, s in SETS.items():
    q = np.concatenate([s["feats"][:, 4:7], s["feats"][:, 0:3]], 1)
    s["nn_cm"] = np.array([np.sqrt(((ref - x) ** 2).sum(1)).min() * 100 for x in q])
    if "phase" not in s:  # demo frames: before the expert's first close command
        s["pre"] = np.concatenate([np.cumsum(store.actions(d)[:, 6] > 0) == 0 for d in (train if k == "demo-train" else valid)])
    else:
        s["pre"] = s["phase"] <= 1


@torch.no_grad()
def run(pol, s):
    out_a, out_f = [], []
    for i in range(0, len(s["proprio"]), 512):
        obs = {k: s[k][i:i + 512] for k in ("agentview_image", "robot0_eye_in_hand_image", "proprio")}
        f = pol.step_features(obs)
        chunk = pol.head.predict(f[:, None])
        a = pol.normalizer.unnormalize("actions", chunk.float().numpy())[:, 0]
        out_a.append(np.clip(a, pol.action_low, pol.action_high)); out_f.append(f.numpy())
    return np.concatenate(out_a), np.concatenate(out_f)


def sensitivity(pol, f, d_img):
    """mean Frobenius norm of d(first action, arm dims, normalized units)/d(features): image part, proprio part."""
    x = torch.tensor(f[:: max(1, len(f) // 300)], requires_grad=True)
    pol.head.eval()
    y = pol.head(x[:, None])[:, 0, :6]
    J = torch.stack([torch.autograd.grad(y[:, j].sum(), x, retain_graph=True)[0] for j in range(6)], 1)  # (N, 6, D)
    return float(J[..., :d_img].pow(2).sum((1, 2)).sqrt().mean()), float(J[..., d_img:].pow(2).sum((1, 2)).sqrt().mean())


res = {"sets": {k: dict(n=int(len(s["label"])), nn_cm_median=float(np.median(s["nn_cm"])), nn_cm_p90=float(np.percentile(s["nn_cm"], 90)))
                for k, s in SETS.items()}, "policies": {}}
for arg in sys.argv[1:]:
    lab, d = arg.split("=", 1)
    pol = Policy.load(d)
    d_img = pol.features.image_dim
    r = {"standardized": bool(pol.meta.get("standardized")), "sets": {}}
    if d_img:
        std = pol.features.emb_std.numpy()
        r["emb_std"] = dict(min=float(std.min()), median=float(np.median(std)), max=float(std.max()),
                            n_below_0p1_median=int((std < 0.1 * np.median(std)).sum()))
        order = np.argsort(std)
    for k, s in SETS.items():
        a, f = run(pol, s)
        err = np.abs(a - s["label"])
        e = dict(mae=err.mean(0).tolist(), pos=float(err[:, :3].mean()), pos_pre=float(err[s["pre"], :3].mean()),
                 rms=np.sqrt((err ** 2).mean(0)).tolist())
        if d_img:
            z = f[:, :d_img]
            rz = np.sqrt((z ** 2).mean(0))  # per-dim RMS z over the set
            e.update(z_rms_mean=float(np.sqrt((z ** 2).mean())), z_rms_maxdim=float(rz.max()),
                     z_abs_p99=float(np.percentile(np.abs(z), 99)), z_frac_gt4=float((np.abs(z) > 4).mean()),
                     z_rms_low8=float(np.sqrt((z[:, order[:8]] ** 2).mean())), z_rms_high8=float(np.sqrt((z[:, order[-8:]] ** 2).mean())),
                     z_rms_perdim=rz.round(2).tolist())
        if k in ("demo-train", "iid-0.3", "push-10"):
            e["sens_img"], e["sens_prop"] = sensitivity(pol, f, d_img)
        r["sets"][k] = e
        print(lab, k, f"pos MAE x1000 {e['pos']*1000:.0f} (pre {e['pos_pre']*1000:.0f})", " ".join(f"{x*1000:.0f}" for x in e["mae"]),
              f"| z rms {e.get('z_rms_mean', 0):.2f} maxdim {e.get('z_rms_maxdim', 0):.1f} p99 {e.get('z_abs_p99', 0):.1f}"
              + (f" | sens img {e['sens_img']:.2f} prop {e['sens_prop']:.2f}" if "sens_img" in e else ""), flush=True)
    res["policies"][lab] = r
name = "_".join(a.split("=")[0] for a in sys.argv[1:])
json.dump(res, open(f"/work/exp18b/offdemo_{name}{os.environ.get('TAG', '')}.json", "w"), indent=1)
print(json.dumps(res["sets"]))
