"""exp18b step 4: the bench's seed-0 head (robolearn.pipeline._train_config, identical job) for one encoder row, with
ONE general head-side change, applied the same way to every encoder:
  bench      no change (a rerun of the bench's head)
  globalstd  embeddings centred with the training split's mean but divided by ONE scalar (the RMS of the per-dim
             stds) instead of per dimension: the head sees the embedding's own geometry, low-variance dimensions
             stay small (the policy file format is unchanged: emb_std holds that scalar in every dimension)
  noise:S    Gaussian noise N(0, S) added to the standardized image features of each training batch (head only)
      python exp18b_trainfix.py ENCODER FIX OUT_DIR       (ENCODER: none | idm | dynamo)
"""
import robolearn.rendering  # noqa
import os, sys, dataclasses
from pathlib import Path
import numpy as np, torch
import robolearn.pipeline as P
from robolearn.bench import BenchConfig, suite_tasks
from robolearn.policies.features import StepFeatures, STD_FLOOR
from robolearn.policies.mlp import MlpHead
from robolearn.train import train

enc, fix, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
torch.set_num_threads(1)
root = Path("/work/exp18b/bench")
cfg = BenchConfig(suite="lift-fewshot", seeds=[0], encoders=[enc], jobs=1, eval_workers=1, videos=0, out=root, wandb="disabled")
t = suite_tasks(cfg)[0]
tc = P._train_config(t, enc, "mlp", 0, root / t.name / "demos.hdf5", root / P.pretrain_name(t), out, dict(wandb="disabled"))

if fix == "globalstd":
    def set_embedding_stats(self, emb):
        emb = np.asarray(emb, np.float64)
        s = max(float(np.sqrt(emb.var(0).mean())), STD_FLOOR)
        self.emb_mean.copy_(torch.from_numpy(emb.mean(0)).float())
        self.emb_std.copy_(torch.full_like(self.emb_std, s))
        print(f"exp18b globalstd: scalar std {s:.3g}; per-dim std min {emb.std(0).min():.3g} max {emb.std(0).max():.3g}", flush=True)
    StepFeatures.set_embedding_stats = set_embedding_stats
elif fix.startswith("noise:"):
    sigma = float(fix.split(":")[1])
    D_IMG = 64  # conv encoder embed_dim (the task's EncoderConfig); proprio follows
    orig_loss = MlpHead.loss
    def loss(self, emb, actions, pad=None):
        if self.training:
            n = torch.zeros_like(emb); n[..., :D_IMG] = torch.randn_like(emb[..., :D_IMG]) * sigma
            emb = emb + n
        return orig_loss(self, emb, actions, pad)
    MlpHead.loss = loss
elif fix != "bench":
    raise SystemExit(f"unknown fix {fix}")
tc.optim.seed = int(os.environ.get("HEADSEED", tc.optim.seed))  # exp18b: head-seed check (encoder unchanged)
print("exp18b train", enc, fix, tc.encoder, tc.optim, flush=True)
train(tc)
