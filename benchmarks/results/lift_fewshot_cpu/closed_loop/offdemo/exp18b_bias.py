"""exp18b: is a head's error on a states set a persistent bias (compounds in closed loop) or zero-mean noise?
Per condition: mean |err| of dx,dy,dz (x1000); 'bias' = RMS over episodes of the episode's mean SIGNED error over its
pre-grasp frames (phase <= 1), per axis; 'early' = mean |err| over t < 10; lag-5 autocorrelation of the dx error.
     STATES=file.npz python exp18b_bias.py LABEL=POLICY_DIR ...
"""
import robolearn.rendering  # noqa
import os, sys, numpy as np, torch
from robolearn.policies.policy import Policy
torch.set_num_threads(1)
S = np.load(os.environ.get("STATES", "/work/exp18b/offdemo_states.npz"))
conds = list(S["cond_names"])


@torch.no_grad()
def preds(pol):
    out = []
    for i in range(0, len(S["proprio"]), 512):
        obs = {k: S[k][i:i + 512] for k in ("agentview_image", "robot0_eye_in_hand_image", "proprio")}
        a = pol.normalizer.unnormalize("actions", pol.head.predict(pol.step_features(obs)[:, None]).float().numpy())[:, 0]
        out.append(np.clip(a, -1, 1))
    return np.concatenate(out)


print("| policy | condition | mean abs err dx dy dz | episode bias RMS dx dy dz (pre-grasp) | early t<10 abs err dx dy dz | lag-5 autocorr dx |")
print("| --- | --- | --- | --- | --- | --- |")
for arg in sys.argv[1:]:
    lab, d = arg.split("=", 1)
    err = preds(Policy.load(d)) - S["label"]
    for ci, c in enumerate(conds):
        m = S["cond"] == ci
        eps = np.unique(S["ep"][m])
        bias, ac = [], []
        for e in eps:
            me = m & (S["ep"] == e)
            pre = me & (S["phase"] <= 1)
            if pre.sum() >= 3:
                bias.append(err[pre, :3].mean(0))
            x = err[me, 0] - err[me, 0].mean()
            if len(x) > 10 and x.std() > 0:
                ac.append(np.corrcoef(x[:-5], x[5:])[0, 1])
        bias = np.sqrt((np.array(bias) ** 2).mean(0)) if bias else np.full(3, np.nan)
        early = np.abs(err[m & (S["t"] < 10), :3]).mean(0)
        f = lambda v: " ".join(f"{x * 1000:.0f}" for x in v)
        print(f"| {lab} | {c} | {f(np.abs(err[m, :3]).mean(0))} | {f(bias)} | {f(early)} | {np.nanmean(ac):.2f} |", flush=True)
