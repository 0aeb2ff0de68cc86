"""Eval a policy with a different number of DDIM inference steps: `robolearn eval`'s own rollouts,
with the loaded head's DDIM schedule reset. usage: isteps.py POLICY STEPS OUT"""
import sys
if __name__ == "__main__":
    import torch; torch.set_num_threads(1)
    from robolearn.policies.policy import Policy
    import robolearn.evaluate as ev
    pol, steps, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    load = Policy.load.__func__
    def patched(cls, *a, **k):
        p = load(cls, *a, **k)
        p.head.set_inference_steps(steps)
        print("DDIM steps", len(p.head.schedule.timesteps), flush=True)
        return p
    Policy.load = classmethod(patched)
    ev.evaluate(ev.EvalConfig(policy=pol, env="robolearn/BlockPush-v0", episodes=50, seed=100000, workers=1,
                              envs_per_worker=50, videos=0, wandb="disabled", threads=1, out=out))
