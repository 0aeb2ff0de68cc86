"""exp18b: along a policy's own closed-loop trajectories (exp18b_onpolicy.py file), each head's SIGNED error vs the
clean expert in dx summed over the first 40 steps (x 5 cm per unit action = the x offset that error alone would
integrate to, open loop), per episode, split by whether that rollout succeeded.
     STATES=onpol_X.npz python exp18b_drift.py LABEL=POLICY_DIR ...
"""
import robolearn.rendering  # noqa
import os, sys, numpy as np, torch
from robolearn.policies.policy import Policy
torch.set_num_threads(1)
S = np.load(os.environ["STATES"])
late_fail = {int(e) for e in np.unique(S["ep"][S["cond"] == 2])}
for arg in sys.argv[1:]:
    lab, d = arg.split("=", 1)
    pol = Policy.load(d)
    with torch.no_grad():
        obs = {k: S[k] for k in ("agentview_image", "robot0_eye_in_hand_image", "proprio")}
        a = np.clip(pol.normalizer.unnormalize("actions", pol.head.predict(pol.step_features(obs)[:, None]).float().numpy())[:, 0], -1, 1)
    err = a - S["label"]
    rows = []
    for e in np.unique(S["ep"]):
        m = (S["ep"] == e) & (S["t"] < 40)
        rows.append((int(e), e in late_fail, err[m, 0].sum() * 5.0, err[m, 1].sum() * 5.0))
    f = [r for r in rows if r[1]]; s = [r for r in rows if not r[1]]
    print(f"{lab}: integrated dx error over t<40 (cm), failed rollouts {[round(r[2], 1) for r in f]} mean|.| {np.mean([abs(r[2]) for r in f]):.1f}; "
          f"successful {[round(r[2], 1) for r in s]} mean|.| {np.mean([abs(r[2]) for r in s]):.1f}; dy mean|.| fail {np.mean([abs(r[3]) for r in f]):.1f} succ {np.mean([abs(r[3]) for r in s]):.1f}")
