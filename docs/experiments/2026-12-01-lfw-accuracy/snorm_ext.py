import sys, numpy as np, csv
def load(tsv, variant):
    E = {}
    for line in open(tsv):
        f = line.rstrip('\n').split('\t')
        if len(f) >= 4 and f[2] == 'ok' and f[1] == variant:
            v = np.array(f[3].split(), dtype=np.float64); E[f[0]] = v[:128] + v[128:]
    return E
variant = sys.argv[1]
E = load('/tmp/lfw_variants.tsv', variant); C = load('/tmp/exp/cohort.tsv', variant)
names = sorted(E); idx = {n: i for i, n in enumerate(names)}
ids = np.array([n.split('/')[0] for n in names])
unit = lambda X: X / np.linalg.norm(X, axis=1, keepdims=True)
M = unit(np.stack([E[n] for n in names])); Cm = unit(np.stack(list(C.values())))
print("cohort", Cm.shape)
pairs = [(idx[r['a']], idx[r['b']], int(r['same'])) for r in csv.DictReader(open('/work/shared/data/faces/lfw_view1/pairs_view1.csv'))]
y = np.array([p[2] for p in pairs])
G = M @ M.T
same = ids[:, None] == ids[None, :]
iu = np.triu_indices(len(names), 1)
CS = M @ Cm.T
for K in (0, 20, 50, 100, 200, 764):
    if K:
        top = -np.sort(-CS, axis=1)[:, :K]
        mu, sd = top.mean(1), top.std(1)
        N = 0.5 * ((G - mu[:, None]) / sd[:, None] + (G - mu[None, :]) / sd[None, :])
    else:
        N = G
    imp = np.sort(N[iu][~same[iu]])[::-1]
    s = np.array([N[a, b] for a, b, _ in pairs]); gen, impp = s[y == 1], s[y == 0]
    acc = lambda t: ((gen >= t).sum() + (impp < t).sum()) / len(s)
    out = []
    for fmr in (1e-3, 1e-4):
        t = imp[int(len(imp) * fmr)]
        out.append(f"acc@x{fmr:g}={acc(t)*100:6.2f} FNMR={(gen<t).mean()*100:5.2f}")
    print(f"K={K:4d} {'  '.join(out)} best={max(acc(t) for t in np.unique(s))*100:6.2f}")
