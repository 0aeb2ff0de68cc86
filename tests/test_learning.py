"""The fast suite's one learning check: collect -> train -> eval on PointMass learns to reach the goal.

Not marked slow (about 10 s): `make test-fast` then fails when a change breaks learning itself, not
only an interface. Measured (seeds fixed): the trained state MLP solves 19/20, the untrained one 0/20.
"""
from __future__ import annotations

from robolearn.config import CollectConfig, EvalConfig, OptimConfig, TrainConfig
from robolearn.evaluate import wilson_interval

EPISODES = 20


def test_pointmass_policy_beats_the_untrained_one(tmp_path):
    from robolearn.data.collect import collect
    from robolearn.evaluate import evaluate
    from robolearn.train import train

    demos = collect(CollectConfig(env="robolearn/PointMass-v0", episodes=20, out=tmp_path / "d.hdf5", seed=0,
                                  image_size=16, workers=1))
    solved = {}
    for steps in (1, 300):  # 1 step: the head as initialized, the chance level of this pipeline
        pol = train(TrainConfig(data=demos, encoder="state", out=tmp_path / f"pol{steps}", wandb="disabled",
                                optim=OptimConfig(steps=steps, batch_size=64, warmup_steps=min(10, steps),
                                                  checkpoint_every=0, log_every=steps)))
        res = evaluate(EvalConfig(policy=str(pol), episodes=EPISODES, workers=1, videos=0, wandb="disabled",
                                  out=tmp_path / f"eval{steps}"))
        assert res["sim_faults"] == 0
        solved[steps] = res["successes"]
    low_trained = wilson_interval(solved[300], EPISODES)[0]
    high_untrained = wilson_interval(solved[1], EPISODES)[1]
    assert low_trained > high_untrained, solved  # the intervals do not overlap
    assert solved[300] >= 15, solved  # measured 19/20
