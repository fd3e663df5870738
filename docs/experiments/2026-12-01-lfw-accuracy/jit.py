import numpy as np, csv, collections
E = collections.defaultdict(dict)
for line in open('/tmp/exp/jitter.tsv'):
    f = line.rstrip('\n').split('\t')
    v = np.array(f[3].split(), dtype=np.float64); E[f[0]][f[1]] = v[:128] + v[128:]
names = sorted(n for n in E if len(E[n]) == 7); idx = {n: i for i, n in enumerate(names)}
ids = np.array([n.split('/')[0] for n in names])
pairs = [(r['a'], r['b'], int(r['same'])) for r in csv.DictReader(open('/work/shared/data/faces/lfw_view1/pairs_view1.csv'))]
same = ids[:, None] == ids[None, :]; iu = np.triu_indices(len(names), 1)
unit = lambda X: X / np.linalg.norm(X, axis=-1, keepdims=True)
for label, js in [('j0', [0]), ('scale', [0,1,2]), ('shift', [0,3,4,5,6]), ('all7', range(7)), ('all7 unit-mean', None)]:
    if js is None:
        M = unit(np.stack([sum(unit(E[n][f'j{j}']) for j in range(7)) for n in names]))
    else:
        M = unit(np.stack([sum(E[n][f'j{j}'] for j in js) for n in names]))
    G = M @ M.T
    imp = np.sort(G[iu][~same[iu]])[::-1]
    s = np.array([G[idx[a], idx[b]] if a in idx and b in idx else np.nan for a, b, _ in pairs]); y = np.array([p[2] for p in pairs])
    gen, impp = s[y == 1], s[y == 0]
    acc = lambda t: ((gen >= t).sum() + (impp < t).sum()) / len(s)
    out = []
    for fmr in (1e-3, 1e-4):
        t = imp[int(len(imp) * fmr)]
        out.append(f"acc@x{fmr:g}={acc(t)*100:6.2f} FNMR={(~(gen>=t)).mean()*100:5.2f} t={t:.4f}")
    print(f"{label:16s} {'  '.join(out)} best={max(acc(t) for t in np.unique(s[~np.isnan(s)]))*100:6.2f}")
