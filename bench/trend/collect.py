"""Healthy Monitor-like runs with real lsc.assess: per run a fresh reference, the assess seed fixed
(as the Monitor passes it), T fresh batches from the reference's own distribution."""
import numpy as np, time, lsc, sys
runs, T, N, M, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
D = 16
def sampler(r):
    g = np.random.default_rng(50_000 + r)
    if r % 2 == 0:
        return lambda n, g=g: g.standard_normal((n, D)).astype('f4'), "gauss"
    centre = g.normal(0.0, 4.0, (10, D))
    return (lambda n, g=g: (centre[g.integers(0, 10, n)] + g.standard_normal((n, D))).astype('f4')), "mixture"
Z = np.full((runs, T, 6), np.nan); LV = np.empty((runs, T, 6), dtype='U12'); t0 = time.time()
for r in range(runs):
    draw, kind = sampler(r)
    ref = lsc.Reference(draw(N), 5, backend='cpu', threads=1)
    for t in range(T):
        a = lsc.assess(ref, draw(M), backend='cpu', threads=1)
        for c, v in enumerate(a.verdicts.values()):
            LV[r, t, c] = v.level
            if v.level != "not_assessed" and np.isfinite(v.score):
                Z[r, t, c] = v.score
    if r % 10 == 9:
        np.savez(out, Z=Z[:r + 1], LV=LV[:r + 1], checks=list(a.verdicts))
        print(f"{r + 1} runs {time.time() - t0:.0f}s", flush=True)
