"""exp18b: the states a trained policy visits in closed loop (bench evaluation seeds 100000..), each labelled by the
clean scripted expert (its 0.02 noise off), saved in exp18b_states.py's format so exp18b_offdemo.py scores every
head on them. Conditions: early (t < 40), late-success (t >= 40, episode solved), late-fail (t >= 40, not solved).
     python exp18b_onpolicy.py POLICY_DIR EPISODES OUT.npz
"""
import robolearn.rendering  # noqa
import sys, numpy as np, torch
from robolearn.envs import expert_rng, get_task
from robolearn.evaluation.workers import make_eval_env
from robolearn.policies.policy import Policy
torch.set_num_threads(1)
pol, n, out = Policy.load(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
env = make_eval_env("robosuite/Lift-v0", dict(image_size=32, cameras=["agentview", "robot0_eye_in_hand"]), False)
task = get_task("robosuite/Lift-v0")
keys = ("agentview_image", "robot0_eye_in_hand_image", "proprio", "state", "feats", "label", "phase", "cond", "ep", "t")
rec = {k: [] for k in keys}
for e in range(n):
    seed = 100000 + e
    obs, info = env.reset(seed=seed); pol.reset()
    expert = task.expert(env, expert_rng(seed)); expert.NOISE_STD = 0.0
    ep = {k: [] for k in keys}; t, ok = 0, False
    while True:
        ep["phase"].append(expert.phase); ep["label"].append(np.asarray(expert.act(obs), np.float32))
        for k in ("agentview_image", "robot0_eye_in_hand_image", "proprio", "state"):
            ep[k].append(np.array(obs[k], copy=True))
        ep["feats"].append(np.asarray(task.task_features(env), np.float32)); ep["t"].append(t); ep["ep"].append(e)
        obs, r, term, trunc, info = env.step(np.asarray(pol.select_action(obs), np.float32)); t += 1
        ok = ok or bool(info.get("is_success"))
        if term or trunc:
            break
    ep["cond"] = [0 if tt < 40 else (1 if ok else 2) for tt in ep["t"]]
    for k in keys:
        rec[k] += ep[k]
    print(f"ep {e} success {ok} len {t}", flush=True)
o = {k: np.stack(v) for k, v in rec.items()}
o["cond_names"] = np.array(["early(t<40)", "late-success", "late-fail"])
np.savez_compressed(out, **o)
print("wrote", out, len(o["t"]))
