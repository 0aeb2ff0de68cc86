"""Copy a policy folder with policy.json / head.json overrides: python variant.py SRC DST action_horizon=4 inference_steps=100"""
import json, shutil, sys
from pathlib import Path
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
shutil.copytree(src, dst, ignore=shutil.ignore_patterns("checkpoint"), dirs_exist_ok=True)
for kv in sys.argv[3:]:
    k, v = kv.split("="); v = int(v)
    if k == "action_horizon":
        m = json.load(open(dst / "policy.json")); m[k] = v; json.dump(m, open(dst / "policy.json", "w"), indent=2)
    else:
        for f in ("policy.json", "head.json"):
            m = json.load(open(dst / f))
            tgt = m["head_config"] if f == "policy.json" else m
            if f == "head.json" and "config" in m: tgt = m["config"]
            tgt[k] = v; json.dump(m, open(dst / f, "w"), indent=2)
print("wrote", dst)
