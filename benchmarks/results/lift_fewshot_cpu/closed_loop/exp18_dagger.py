"""exp18: closed-loop diagnosis. Roll a trained policy out on the bench's evaluation seeds (100000..) and, on every
state the policy visits, ask the scripted expert what it would do (DAgger-style relabel; the wrapper the evaluator
uses with expert=True). Reports success, on-policy |policy - expert| action error per dim (x1000), and for failed
episodes the final cube-gripper offset.     python exp18_dagger.py POLICY_DIR [EPISODES]"""
import robolearn.rendering  # noqa
import sys, json, numpy as np, torch
from robolearn.evaluation.workers import make_eval_env
from policies.policy import Policy
torch.set_num_threads(1)
pol_dir, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20
policy = Policy.load(pol_dir)
env = make_eval_env("robosuite/Lift-v0", dict(image_size=32, cameras=["agentview", "robot0_eye_in_hand"]), True)
rows = []
for ep in range(n):
    obs, info = env.reset(seed=100000 + ep); policy.reset()
    errs, succ, t = [], False, 0
    while True:
        a = np.asarray(policy.select_action(obs), np.float32)
        errs.append(np.abs(np.clip(a, -1, 1) - info["expert_action"]))
        obs, r, term, trunc, info = env.step(a); t += 1
        if info.get("success") or info.get("is_success"):
            succ = True
        if term or trunc or t >= 200:
            break
    st = obs["state"]  # robosuite object-state: cube pos (3), quat (4), gripper_to_cube (3)
    rows.append(dict(ep=ep, success=succ, len=t, err=np.mean(errs, 0).tolist(), err_first40=np.mean(errs[:40], 0).tolist(),
                     final_g2c_mm=(np.asarray(st[7:10]) * 1000).round(1).tolist(), finger=float(obs["proprio"][7] - obs["proprio"][8])))
    print(json.dumps(rows[-1]), flush=True)
s = [r for r in rows if r["success"]]; f = [r for r in rows if not r["success"]]
print(f"{pol_dir}: success {len(s)}/{n}")
for name, grp in (("all", rows), ("success", s), ("fail", f)):
    if grp:
        print(f"  {name:8s} on-policy |a-expert| x1000 per dim (dx dy dz rx ry rz grip):",
              np.round(np.mean([r['err'] for r in grp], 0) * 1000, 0).tolist(),
              " first 40 steps:", np.round(np.mean([r['err_first40'] for r in grp], 0) * 1000, 0).tolist())
for r in f:
    print(f"  fail ep {r['ep']}: final gripper-to-cube mm {r['final_g2c_mm']}, finger gap {r['finger']:.3f}, len {r['len']}")
