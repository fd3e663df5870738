import sys, numpy as np, csv, collections
tsv, pairs_csv = sys.argv[1], sys.argv[2]
emb = collections.defaultdict(dict)
for line in open(tsv):
    f = line.rstrip('\n').split('\t')
    if len(f) >= 4 and f[2] == 'ok':
        v = np.array(f[3].split(), dtype=np.float64)
        emb[f[1]][f[0]] = (v[:128], v[128:])
pairs = [(r['a'], r['b'], int(r['same'])) for r in csv.DictReader(open(pairs_csv))]
variants = [v for v in ['base','fliplm','re1.5','re2.0','re2.0f','re2.5'] + sorted(emb) if v in emb]
variants = list(dict.fromkeys(variants))
def unit(x): return x / np.linalg.norm(x, axis=-1, keepdims=True)
def scorers():
    yield 'cos', lambda a, b: unit(a[0] + a[1]), lambda X, Y: X @ Y.T, False
    yield 'l2', lambda a, b: (a[0] + a[1]) / 2, None, True
for v in variants:
    E = emb[v]
    names = sorted(E)
    idx = {n: i for i, n in enumerate(names)}
    ids = np.array([n.split('/')[0] for n in names])
    for sname, prep, _, is_l2 in scorers():
        M = np.stack([prep(E[n], None) for n in names])
        def score(i, j):
            if is_l2: return -np.linalg.norm(M[i] - M[j])
            return float(M[i] @ M[j])
        s, y, miss = [], [], 0
        for a, b, same in pairs:
            if a in idx and b in idx:
                s.append(score(idx[a], idx[b])); y.append(same)
            else:
                miss += 1
                s.append(np.nan); y.append(same)
        s, y = np.array(s), np.array(y)
        # cross identity impostor scores
        if is_l2:
            sq = (M**2).sum(1)
            G = -np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * M @ M.T, 0))
        else:
            G = M @ M.T
        iu = np.triu_indices(len(names), 1)
        diff = ids[iu[0]] != ids[iu[1]]
        imp = np.sort(G[iu][diff])[::-1]
        t3 = imp[int(len(imp) * 1e-3)]
        t4 = imp[int(len(imp) * 1e-4)]
        ok = ~np.isnan(s)
        gen, impp = s[ok & (y == 1)], s[ok & (y == 0)]
        def acc(t): return ((gen >= t).sum() + (impp < t).sum()) / len(pairs)
        ths = np.unique(np.concatenate([gen, impp]))
        accs = [acc(t) for t in ths]
        bi = int(np.argmax(accs))
        fnmr3 = ((gen < t3).sum() + (~ok & (y == 1)).sum()) / (y == 1).sum()
        fnmr4 = ((gen < t4).sum() + (~ok & (y == 1)).sum()) / (y == 1).sum()
        # protocol fmr 1e-3 (at most 1 of 1600)
        pi = np.sort(impp)[::-1]
        tp = pi[1] + 1e-7
        print(f"{v:8s} {sname:3s} miss={miss:2d} acc@xFMR1e-3={acc(t3)*100:6.2f} FNMR@x1e-3={fnmr3*100:5.2f} FNMR@x1e-4={fnmr4*100:5.2f} best={accs[bi]*100:6.2f} acc@protoFMR1e-3={acc(tp)*100:6.2f} t3={t3:.4f}")
