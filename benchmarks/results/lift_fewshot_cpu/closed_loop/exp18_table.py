"""exp18: compact tables from probe_*.json files (merged; later files override)."""
import json, sys
res, FEAT, ACT = {}, None, None
for f in sys.argv[1:]:
    z = json.load(open(f)); FEAT, ACT = z["FEAT"], z["ACT"]; res.update(z["res"])
encs = [e for e in res if e != "proprio-only"]
def row(name, v): return f"| {name} | " + " | ".join(f"{x:.2f}" for x in v) + f" | {sum(v)/len(v):.2f} |"
print("State features (ridge on both cameras' embeddings; fit 180 pool train demos, R² on 20 pool valid demos; "
      "pre/post = frames before/after the expert's first close command, MSE there / overall variance)\n")
print("| encoder / frames | " + " | ".join(FEAT) + " | mean |"); print("|" + " --- |" * (len(FEAT) + 2))
for k in ("feat_all", "feat_pre", "feat_post"):
    for e in encs:
        print(row(f"{e} {k[5:]}", res[e][k]))
print("\nActions (ridge, R² on 20 pool valid demos; few = fit on the 20 head demos, many = 180 pool demos; +p = with proprio)\n")
print("| encoder / fit | " + " | ".join(ACT) + " | mean |"); print("|" + " --- |" * (len(ACT) + 2))
for k in ("act_few", "act_many", "act_few_prop", "act_many_prop", "act_few_prop_pre", "act_few_prop_post"):
    for e in ["proprio-only"] + encs:
        if k in res[e]:
            print(row(f"{e} {k[4:]}", res[e][k]))
