import json, sys, numpy as np
for f in sys.argv[1:]:
    res = json.load(open(f))
    pre = [r for r in res if r["first"] is not None and r["first"][0] < 49]
    post = [r for r in res if not (r["first"] is not None and r["first"][0] < 49)]
    delays = [r["first"][0] - 48 if r["first"] else 99 for r in post]
    by60 = np.mean([d <= 11 for d in delays])
    # did any record read collapse before (or at) the warning, after the change?
    coll_before = np.mean([any(l == "collapse" for l in r["levels"][49:(r["first"][0] + 1 if r["first"] else 60)]) for r in post])
    shifted = {c: np.mean([np.mean([s[c] for s in r["scores"][49:]]) - np.mean([s[c] for s in r["scores"][:49]]) for r in res]) for c in ("diversity_loss", "dimensional_collapse")}
    levels = {l: np.mean([l == x for r in post for x in r["levels"][49:]]) for l in ("ok", "borderline", "collapse")}
    which = {}
    for r in post:
        if r["first"]:
            for c in r["first"][1]: which[c] = which.get(c, 0) + 1
    print(f"{f}: {len(res)} runs, warned before the change {len(pre)}; warned by record 60: {by60:.2f}; "
          f"delays {sorted(delays)} median {np.median(delays)}; shifted records' levels {levels}; "
          f"a collapse verdict at or before the warning in {coll_before:.2f} of runs; mean shift {shifted}; warned checks {which}")
