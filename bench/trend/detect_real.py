"""Real Monitors: a fresh reference per run, 49 healthy records, then a partial collapse from
record 50 (4 of 16 directions shrunk by `factor`); when does the trend warn?"""
import numpy as np, lsc, sys, time, json
runs, factor, out = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
N, M, D = 2000, 200, 16
res = []; t0 = time.time()
for r in range(runs):
    g = np.random.default_rng(70_000 + r)
    def draw(n, f=1.0):
        x = g.standard_normal((n, D)); x[:, :4] *= f; return x.astype(np.float32)
    mon = lsc.Monitor(draw(N), every=1, backend="cpu", asynchronous=False, assess=True,
                      spectrum=False, prdc=False)
    first = None; levels = []; scores = []
    for t in range(60):
        rec = mon.step(t, draw(M, factor if t >= 49 else 1.0))
        levels.append(rec.verdict); scores.append({c: v.score for c, v in rec.verdicts.items()})
        if rec.warnings and first is None:
            first = (t, rec.warnings)
        if first is not None and t >= 49:
            break        # the first warning after the change is what is measured
    res.append(dict(first=first, levels=levels, scores=scores))
    if r % 10 == 9: print(r + 1, f"{time.time()-t0:.0f}s", flush=True)
json.dump(res, open(out, "w"))
