import sys, numpy as np, csv, collections
tsv, pairs_csv, variant = sys.argv[1], sys.argv[2], sys.argv[3]
E = {}
for line in open(tsv):
    f = line.rstrip('\n').split('\t')
    if len(f) >= 4 and f[2] == 'ok' and f[1] == variant:
        v = np.array(f[3].split(), dtype=np.float64); E[f[0]] = v[:128] + v[128:]
names = sorted(E); idx = {n: i for i, n in enumerate(names)}
ids = np.array([n.split('/')[0] for n in names])
M = np.stack([E[n] for n in names]); 
pairs = [(idx[r['a']], idx[r['b']], int(r['same'])) for r in csv.DictReader(open(pairs_csv))]
y = np.array([p[2] for p in pairs])
def run(M, label, K):
    M = M / np.linalg.norm(M, axis=1, keepdims=True)
    G = M @ M.T
    same = ids[:, None] == ids[None, :]
    C = np.where(same, -np.inf, G)
    if K:
        top = -np.sort(-C, axis=1)[:, :K]
        mu, sd = top.mean(1), top.std(1)
        N = 0.5 * ((G - mu[:, None]) / sd[:, None] + (G - mu[None, :]) / sd[None, :])
    else:
        N = G
    iu = np.triu_indices(len(names), 1)
    imp = np.sort(N[iu][~same[iu]])[::-1]
    s = np.array([N[a, b] for a, b, _ in pairs])
    gen, impp = s[y == 1], s[y == 0]
    def acc(t): return ((gen >= t).sum() + (impp < t).sum()) / len(s)
    out = []
    for fmr in (1e-3, 1e-4):
        t = imp[int(len(imp) * fmr)]
        out.append(f"acc@x{fmr:g}={acc(t)*100:6.2f} FNMR={(gen<t).mean()*100:5.2f}")
    best = max(acc(t) for t in np.unique(s))
    print(f"{label:28s} K={K:4d} {'  '.join(out)} best={best*100:6.2f}")
for K in (0, 50, 200, 1000):
    run(M, variant, K)
# centering on the mean of the population
mean = (M / np.linalg.norm(M, axis=1, keepdims=True)).mean(0)
run(M / np.linalg.norm(M, axis=1, keepdims=True) - mean, variant + " centred", 0)
run(M / np.linalg.norm(M, axis=1, keepdims=True) - mean, variant + " centred", 200)
