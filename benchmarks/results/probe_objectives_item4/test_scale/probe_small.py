"""Issue 18 item 6: does a short default DynaMo run on the test fixture's Reach frames probe above none?"""
import json, sys, time
from pathlib import Path
from robolearn.config import CollectConfig, OptimConfig, PretrainConfig
from robolearn.data.collect import collect
from robolearn.pipeline import pretrain_preset
from robolearn.pretrain import pretrain

if __name__ == "__main__":
    root = Path("/work/exp18f")
    data = root / "reach32.hdf5"
    if not data.exists():
        collect(CollectConfig(env="robolearn/Reach-v0", episodes=int(sys.argv[1]) if len(sys.argv) > 1 else 20, image_size=32, seed=0, workers=1, out=data))
    def mean_probe(out):
        r = json.loads((out / "results.json").read_text())
        ks = [k for k in r if k.startswith("val/probe_r2/")]
        return {k.split("/")[-1]: round(r[k], 3) for k in ks}, r.get("val/effective_rank")
    out = pretrain(PretrainConfig(data=data, out=root / "none", objective="none", wandb="disabled"))
    print("none", mean_probe(out), flush=True)
    for steps, preset in ((60, None), (200, "short")):
        for seed in (0, 1, 2):
            kw = pretrain_preset("short", "dynamo", steps) if preset else {}
            t = time.time()
            o = pretrain(PretrainConfig(data=data, out=root / f"dyn{steps}_{seed}", objective="dynamo", wandb="disabled",
                         optim=OptimConfig(steps=steps, batch_size=16 if steps == 60 else 32, log_every=20, eval_every=steps, checkpoint_every=steps, seed=seed, **kw)))
            print(steps, seed, mean_probe(o), f"{time.time()-t:.0f}s", flush=True)
