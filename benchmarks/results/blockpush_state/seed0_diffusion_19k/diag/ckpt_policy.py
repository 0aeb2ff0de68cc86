"""Make a policy folder from a training checkpoint: the final policy's folder with the head's weights
replaced by the checkpoint's (EMA included), so `robolearn eval` can roll it out."""
import shutil, sys
from pathlib import Path
from safetensors.torch import load_file
from robolearn.checkpoint import save_weights
from robolearn.policies.policy import Policy
src, ckpt, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
shutil.copytree(src, out, ignore=shutil.ignore_patterns("checkpoint", "metrics.jsonl"))
pol = Policy.load(src)
state = load_file(str(ckpt / "model.safetensors"))
pol.head.load_state_dict(state, strict=True)  # the checkpoint holds the head alone (net, ema)
save_weights(out / "model.safetensors", {"features": pol.features, "head": pol.head})
print("wrote", out, "from", ckpt)
