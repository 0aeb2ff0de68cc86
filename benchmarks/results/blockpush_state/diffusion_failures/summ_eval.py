import json, sys, collections
for f in sys.argv[1:]:
    r = json.load(open(f)); eps = r["per_episode"]
    inf = [e["final_info"] for e in eps]
    ent = [i.get("blocks_entered", 0) for i in inf]; modes = collections.Counter(i.get("mode_executed", -1) for i in inf)
    sw = sum(i.get("block_switches", 0) for i in inf) / len(inf)
    print(f, f"strict {r['successes']}/{r['episodes']} CI {[round(x,2) for x in r['success_ci95']]}", ">=1", sum(e >= 1 for e in ent), "2", sum(e >= 2 for e in ent),
          "modes 0/1/2/3/none", [modes.get(m, 0) for m in (0, 1, 2, 3, -1)], f"sw {sw:.2f}", "mean len", r["mean_length"])
