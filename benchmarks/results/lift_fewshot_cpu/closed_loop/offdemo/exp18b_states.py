"""exp18b step 2a: ONE common set of states off the demos, labelled by the clean scripted expert.

Lift episodes on fresh seeds (300000.., disjoint from demos 0.., pool 1,000,000.., evaluation 100000..). The expert
(LiftExpert, its own 0.02 action noise switched off for the label) says the clean action at every visited state;
the env executes label + N(0, 0.02) on the arm (the demos' own expert noise) + a perturbation:
  iid-S    DART-style: N(0, S) added to the 6 arm dims every step (S = 0, 0.1, 0.3, 0.6)
  push-K   perturbed start: for the first K steps a constant random arm action (xy direction uniform,
           |xy| 0.4, z 0) replaces the expert's (K = 5, 10: ~10 / ~20 cm off), then the expert (+0.02 noise)
Recorded per state: both cameras at 32 px, proprio, the object state, task features, the clean label, the expert's
phase, condition, episode, step.                     python exp18b_states.py [EPISODES_PER_CONDITION]
"""
import robolearn.rendering  # noqa
import sys, numpy as np
from robolearn.envs import expert_rng, get_task
from robolearn.evaluation.workers import make_eval_env
from robolearn.data.store import open_store

N = int(sys.argv[1]) if len(sys.argv) > 1 else 10
CONDS = [("iid-0", 0.0, 0), ("iid-0.1", 0.1, 0), ("iid-0.3", 0.3, 0), ("iid-0.6", 0.6, 0), ("push-5", 0.0, 5), ("push-10", 0.0, 10)]
store = open_store("/work/exp18b/bench/lift-fewshot/demos.hdf5")
kw = dict(store.env_kwargs or {}); print("env kwargs", kw, flush=True)
env = make_eval_env("robosuite/Lift-v0", kw, False)
task = get_task("robosuite/Lift-v0")
rec = {k: [] for k in ("agentview_image", "robot0_eye_in_hand_image", "proprio", "state", "feats", "label", "phase",
                       "cond", "ep", "t", "executed")}
summary = []
for ci, (name, sigma, push) in enumerate(CONDS):
    succ, lens = 0, []
    for e in range(N):
        seed = 300000 + 1000 * ci + e
        obs, info = env.reset(seed=seed)
        expert = task.expert(env, expert_rng(seed)); expert.NOISE_STD = 0.0
        rng = np.random.default_rng([seed, 0xE18B])
        ang = rng.uniform(0, 2 * np.pi); push_a = np.array([0.4 * np.cos(ang), 0.4 * np.sin(ang), 0, 0, 0, 0])
        t, ok = 0, False
        while True:
            phase = expert.phase
            label = np.asarray(expert.act(obs), np.float32)
            a = label.copy()
            a[:6] += rng.normal(0, 0.02, 6) + (rng.normal(0, sigma, 6) if sigma > 0 else 0)
            if t < push:
                a[:6] = push_a
            a = np.clip(a, -1, 1).astype(np.float32)
            for k in ("agentview_image", "robot0_eye_in_hand_image", "proprio", "state"):
                rec[k].append(np.array(obs[k], copy=True))
            rec["feats"].append(np.asarray(task.task_features(env), np.float32))
            rec["label"].append(label); rec["phase"].append(phase); rec["cond"].append(ci); rec["ep"].append(e)
            rec["t"].append(t); rec["executed"].append(a)
            obs, r, term, trunc, info = env.step(a); t += 1
            if info.get("is_success"):
                ok = True
            if term or trunc:
                break
        succ += ok; lens.append(t)
    summary.append(f"{name}: {N} episodes, expert success {succ}/{N}, mean length {np.mean(lens):.0f}")
    print(summary[-1], flush=True)
out = {k: np.stack(v) for k, v in rec.items()}
out["cond_names"] = np.array([c[0] for c in CONDS])
np.savez_compressed("/work/exp18b/offdemo_states.npz", **out)
print("wrote /work/exp18b/offdemo_states.npz", {k: v.shape for k, v in out.items()})
