"""A method is one file: a toy objective and a toy (sampling) head, written to a temporary module
that no robolearn file names, go through pretrain, train, eval and export, and the config, CLI and
pipeline find them through the registries."""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys

import numpy as np
import pytest
import tyro

from robolearn import config
from robolearn.config import EvalConfig, ExportConfig, OptimConfig, PretrainConfig, TrainConfig
from robolearn.errors import RobolearnError
from robolearn.evaluate import evaluate
from robolearn.export import export
from robolearn.pipeline import TaskSpec, validate_task
from robolearn.policies import HEADS
from robolearn.pretrain import pretrain
from robolearn.pretraining import OBJECTIVES
from robolearn.runtime import BundlePolicy
from robolearn.train import train

TOY = '''
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from robolearn.policies import Head, register_head
from robolearn.pretraining import Objective, register_objective


@dataclass
class ToyObjectiveConfig:
    weight: float = 1.0


@register_objective("toy_objective")
class ToyObjective(Objective):
    """Regress the action from one frame's embedding (inverse dynamics without the second frame)."""
    Config = ToyObjectiveConfig
    optim_defaults = dict(lr=3e-3)
    short_run_optim = dict(batch_size=16)

    def __init__(self, encoder, cfg, info):
        super().__init__(encoder, cfg, info)
        self.readout = nn.Linear(encoder.embed_dim, info.action_dim)

    def loss(self, batch):
        pred = self.readout(self.encoder(batch["images"][:, -1]))
        loss = self.cfg.weight * F.mse_loss(pred, batch["actions"][:, 0])
        return loss, {"mse": loss.detach()}


@dataclass
class ToyHeadConfig:
    jitter: float = 0.05
    """Half-width of the uniform noise added to the prediction (a sampling head)."""


@register_head("toy_head")
class ToyHead(Head):
    Config = ToyHeadConfig
    noise_distribution = "uniform"
    default_pred_horizon = 2
    default_action_horizon = 2

    def __init__(self, emb_dim, action_dim, obs_horizon, pred_horizon, cfg):
        super().__init__(emb_dim, action_dim, obs_horizon, pred_horizon, cfg)
        self.net = nn.Linear(emb_dim * obs_horizon, pred_horizon * action_dim)

    def _mean(self, emb):
        return self.net(emb.flatten(1)).view(-1, self.pred_horizon, self.action_dim)

    def loss(self, emb, actions, pad=None):
        err = (self._mean(emb) - actions).pow(2).mean(-1)
        w = torch.ones_like(err) if pad is None else (~pad).float()
        loss = (err * w).sum() / w.sum().clamp(min=1)
        return loss, {"mse": loss.detach()}

    def noise_shape(self, batch_size):
        return (batch_size, self.pred_horizon, self.action_dim)

    def sample_noise(self, batch_size, generator=None, device=None):
        return torch.rand(self.noise_shape(batch_size), generator=generator, device=device)

    def predict_from_noise(self, emb, noise):
        jitter = self.cfg.jitter * (2 * noise.to(emb.dtype) - 1)
        return (self._mean(emb) + jitter).clamp(-1.0, 1.0)
'''


@pytest.fixture(scope="module")
def toy_module(tmp_path_factory):
    path = tmp_path_factory.mktemp("plugin") / "toy_methods.py"
    path.write_text(TOY)
    spec = importlib.util.spec_from_file_location("toy_methods", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["toy_methods"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("toy_methods", None)


@pytest.mark.slow
def test_a_method_in_its_own_file_runs_every_stage(toy_module, pointmass_demos, tmp_path):
    assert "toy_objective" in OBJECTIVES and "toy_head" in HEADS
    quick = dict(warmup_steps=5, checkpoint_every=0, eval_every=1000, log_every=10)
    enc = pretrain(PretrainConfig(data=pointmass_demos, out=tmp_path / "enc", objective="toy_objective",
                                  optim=OptimConfig(steps=30, batch_size=32, **quick), wandb="disabled"))
    meta = json.loads((enc / "encoder.json").read_text())
    assert meta["objective"] == "toy_objective" and meta["objective_config"] == {"weight": 1.0}
    resolved = config.load_config(PretrainConfig, enc / "config.yaml").optim
    assert resolved.lr == 3e-3  # the method's own optimizer default, from its class

    pol = train(TrainConfig(data=pointmass_demos, encoder=str(enc), out=tmp_path / "pol", head="toy_head",
                            optim=OptimConfig(steps=60, batch_size=64, **quick), wandb="disabled"))
    head_json = json.loads((pol / "head.json").read_text())
    assert head_json["type"] == "toy_head" and head_json["config"] == {"jitter": 0.05}

    res = evaluate(EvalConfig(policy=str(pol), episodes=2, workers=1, videos=0, horizon=15, wandb="disabled",
                              out=tmp_path / "eval"))
    assert res["episodes"] == 2 and all(r["length"] >= 1 for r in res["per_episode"])

    bundle = export(ExportConfig(policy=pol, out=tmp_path / "bundle", parity_frames=12))
    spec = json.loads((bundle / "policy.json").read_text())
    assert spec["head"] == "toy_head" and spec["noise"]["distribution"] == "uniform"
    assert spec["parity"]["max_abs_error"] <= 1e-4
    runtime = BundlePolicy(bundle, seed=0)
    obs = {k: np.zeros(v["shape"], np.uint8 if v["dtype"] == "uint8" else np.float32)
           for k, v in spec["observation"]["keys"].items()}
    assert runtime.act(obs).shape == (spec["action"]["dim"],)


def test_config_cli_and_pipeline_find_a_registered_method(toy_module):
    # The CLI is built from configs that get one field per registered method.
    cls = config.with_method_fields(config._PretrainOptions, "objective", OBJECTIVES)
    cfg = tyro.cli(cls, args=["--objective", "toy_objective", "--toy_objective.weight", "2.5"])
    assert cfg.objective_config() == toy_module.ToyObjectiveConfig(weight=2.5)
    head_cls = config.with_method_fields(config._TrainOptions, "head", HEADS)
    assert {"toy_head", "mlp"} <= {f.name for f in dataclasses.fields(head_cls)}
    # A config class built before the method was registered still runs it, with its defaults.
    assert PretrainConfig(objective="toy_objective").objective_config() == toy_module.ToyObjectiveConfig()
    # The pipeline's rows and short-run presets come from the registries.
    validate_task(TaskSpec(name="t", env="robolearn/PointMass-v0", demos=1, encoders=["toy_objective"],
                           heads=["toy_head"]))
    with pytest.raises(RobolearnError, match="unknown head"):
        validate_task(TaskSpec(name="t", env="robolearn/PointMass-v0", demos=1, heads=["nope"]))
