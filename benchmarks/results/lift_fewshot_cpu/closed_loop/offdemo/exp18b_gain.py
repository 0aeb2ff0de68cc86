"""exp18b: feedback gain of each head on a states set: least-squares slope of the head's action on the clean expert's
action, per axis (dx dy dz), over pre-grasp frames (phase <= 1); slope < 1 = the head under-reacts to where the
expert says to go (weaker correction of a deviation). Also the correlation.
     STATES=file.npz python exp18b_gain.py LABEL=POLICY_DIR ...
"""
import robolearn.rendering  # noqa
import os, sys, numpy as np, torch
from robolearn.policies.policy import Policy
torch.set_num_threads(1)
S = np.load(os.environ.get("STATES", "/work/exp18b/offdemo_states.npz"))
conds = list(S["cond_names"])
for arg in sys.argv[1:]:
    lab, d = arg.split("=", 1)
    pol = Policy.load(d)
    out = []
    with torch.no_grad():
        for i in range(0, len(S["proprio"]), 512):
            obs = {k: S[k][i:i + 512] for k in ("agentview_image", "robot0_eye_in_hand_image", "proprio")}
            out.append(np.clip(pol.normalizer.unnormalize("actions", pol.head.predict(pol.step_features(obs)[:, None]).float().numpy())[:, 0], -1, 1))
    a = np.concatenate(out)
    line = []
    for ci, c in enumerate(conds):
        m = (S["cond"] == ci) & (S["phase"] <= 1)
        if m.sum() < 10:
            continue
        sl = [np.polyfit(S["label"][m, j], a[m, j], 1)[0] for j in range(3)]
        r = [np.corrcoef(S["label"][m, j], a[m, j])[0, 1] for j in range(3)]
        line.append(f"{c}: slope {' '.join(f'{x:.2f}' for x in sl)} r {' '.join(f'{x:.2f}' for x in r)}")
    print(lab, " | ".join(line), flush=True)
