#!/usr/bin/env python3
"""Compare the Python peer pipelines (onnxruntime, OpenCV) with ikd on one pairs CSV.

    compare_peers.py PAIRS.csv [--threshold 0.925] [--policy center] [--workers N]
                     [--pipelines ort-sface,opencv-zoo,ort,opencv] [--cross-identity]
                     [--ikd PATH_TO_IKD] [--ikd-ort-lib LIBONNXRUNTIME] [--json OUT]

Pipelines: `ort-sface` (Python + onnxruntime, YuNet + SFace), `opencv-zoo` (OpenCV Zoo's own
cv2.FaceDetectorYN + cv2.FaceRecognizerSF), `ort` and `opencv` (YuNet + dlib, the first round's
peers). Accuracy is compared at the same operating point: FNMR on the genuine pairs at FMR 1e-3
and 1e-4, each pipeline's threshold read off its own impostor scores (every cross-identity pair
of the accepted images with --cross-identity, identity = the image's folder; else the pairs'
impostors).

PAIRS.csv has a header `a,b,same`; a and b are image paths relative to the CSV's folder.

For every pipeline: all distinct images of the pairs are run through it once in a Pool(N) of
single-threaded workers (models loaded and warmed up in every worker before the clock starts;
the timed part is file read + decode + detect + align + embed), then every pair is scored with
the cosine similarity of the L2-normalised descriptors (the raw Euclidean distance is reported
too).  A pair with an image where no face was found scores cosine -1 / distance +inf (a
non-match).

ikd is run as `ikd eval pairs PAIRS.csv --json --face-policy center --scores-out FILE`; its
throughput is taken from its JSON when it reports one, else from the wall clock of the whole
command (which then includes model loading).  If it fails, that is reported and the rest stands.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402

DEFAULT_THRESHOLD = 0.90    # cosine; best-accuracy threshold on LFW view 1 was 0.9035 (see README.md)
REPORT_THRESHOLDS = (0.85, 0.88, 0.89, 0.90, 0.91, 0.92, 0.93, 0.94)
DLIB_L2_RULE = 0.6          # dlib's own rule: same person when raw Euclidean distance < 0.6


# --------------------------------------------------------------------------------- pairs
def load_pairs(path):
    base = os.path.dirname(os.path.abspath(path))
    pairs = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            pairs.append((row["a"].strip(), row["b"].strip(), int(row["same"])))
    return base, pairs


# --------------------------------------------------------------------------------- metrics
def auc(genuine, impostor):
    """Mann-Whitney AUC (ties count 1/2)."""
    g = np.asarray(genuine, np.float64)
    i = np.asarray(impostor, np.float64)
    if g.size == 0 or i.size == 0:
        return None
    allv = np.concatenate([g, i])
    order = allv.argsort(kind="mergesort")
    ranks = np.empty(allv.size, np.float64)
    sv = allv[order]
    # average ranks for ties
    j = 0
    while j < sv.size:
        k = j
        while k + 1 < sv.size and sv[k + 1] == sv[j]:
            k += 1
        ranks[order[j:k + 1]] = (j + k) / 2.0 + 1
        j = k + 1
    rg = ranks[: g.size].sum()
    return float((rg - g.size * (g.size + 1) / 2) / (g.size * i.size))


def metrics(scores, labels, threshold, higher_is_same=True):
    """Accuracy at `threshold`, best accuracy (threshold midway between neighbouring scores),
    AUC, EER, and the threshold / TAR at FMR <= 1e-3 and 1e-2."""
    s = np.asarray(scores, np.float64)
    y = np.asarray(labels, np.int64)
    if not higher_is_same:
        s, threshold = -s, -threshold
    finite = np.isfinite(s)
    s = np.where(finite, s, -1e9)
    gen, imp = s[y == 1], s[y == 0]
    out = {"pairs": int(s.size), "genuine": int(gen.size), "impostor": int(imp.size)}
    dec = s >= threshold
    out["threshold"] = float(threshold if higher_is_same else -threshold)
    out["accuracy_at_threshold"] = float((dec == (y == 1)).mean())
    out["fmr_at_threshold"] = float((imp >= threshold).mean()) if imp.size else None
    out["fnmr_at_threshold"] = float((gen < threshold).mean()) if gen.size else None
    # best accuracy over all cut points
    u = np.unique(s)
    cuts = np.concatenate([[u[0] - 1e-6], (u[:-1] + u[1:]) / 2, [u[-1] + 1e-6]])
    g_sorted, i_sorted = np.sort(gen), np.sort(imp)
    tp = gen.size - np.searchsorted(g_sorted, cuts, side="left")
    tn = np.searchsorted(i_sorted, cuts, side="left")
    acc = (tp + tn) / s.size
    b = int(np.argmax(acc))
    out["best_accuracy"] = float(acc[b])
    out["best_threshold"] = float(cuts[b] if higher_is_same else -cuts[b])
    out["auc"] = auc(gen, imp)
    fmr = 1 - tn / max(imp.size, 1)
    fnmr = 1 - tp / max(gen.size, 1)
    e = int(np.argmin(np.abs(fmr - fnmr)))
    out["eer"] = float((fmr[e] + fnmr[e]) / 2)
    out["at_thresholds"] = {}
    for t in (REPORT_THRESHOLDS if higher_is_same else (0.4, 0.5, 0.55, 0.6)):
        tt = t if higher_is_same else -t
        out["at_thresholds"][f"{t:g}"] = {"accuracy": float(((s >= tt) == (y == 1)).mean()),
                                         "fmr": float((imp >= tt).mean()) if imp.size else None,
                                         "fnmr": float((gen < tt).mean()) if gen.size else None}
    for target, key in ((1e-3, "fmr_1e-3"), (1e-2, "fmr_1e-2")):
        ok = np.nonzero(fmr <= target)[0]
        t = cuts[ok[0]]  # lowest threshold meeting the target FMR (cuts ascend, fmr descends)
        out[key] = {"threshold": float(t if higher_is_same else -t), "fmr": float(fmr[ok[0]]),
                    "tar": float(1 - fnmr[ok[0]]),
                    "note": f"{imp.size} impostor pairs: FMR resolution {1 / max(imp.size, 1):.1e}"}
    return out


OPERATING_FMRS = (1e-3, 1e-4)


def fnmr_at_fmr(genuine, impostors, targets=OPERATING_FMRS):
    """FNMR of the genuine scores at the lowest threshold that at most floor(target * n) of the n
    impostor scores reach (the rule ikd eval uses), for each target."""
    imp = np.sort(np.asarray(impostors, np.float64))[::-1]
    gen = np.asarray(genuine, np.float64)
    out = {}
    for t in targets:
        allowed = int(np.floor(t * imp.size))
        if allowed >= imp.size:
            continue
        thr = np.nextafter(imp[allowed], np.inf)
        out[f"{t:.0e}"] = {"threshold": float(thr), "fnmr": float(np.mean(gen < thr)),
                           "impostor_pairs": int(imp.size), "underpowered": bool(imp.size * t < 1)}
    return out


def operating_points(cos, labels, by_path, base, cross_identity):
    genuine = cos[labels == 1]
    if not cross_identity:
        return {"impostors": "pairs", **fnmr_at_fmr(genuine, cos[labels == 0])}
    ok = sorted(p for p, r in by_path.items() if r["ok"])
    ids = np.array([os.path.basename(os.path.dirname(p)) for p in ok])
    E = np.array([C.l2n(by_path[p]["embedding"]) for p in ok], np.float32)
    S = E @ E.T
    iu = np.triu_indices(len(ok), 1)
    different = ids[iu[0]] != ids[iu[1]]
    return {"impostors": "cross-identity", **fnmr_at_fmr(genuine, S[iu][different])}


def score_pairs(by_path, base, pairs):
    cos, dist = [], []
    for a, b, _ in pairs:
        ra, rb = by_path[os.path.join(base, a)], by_path[os.path.join(base, b)]
        if ra["ok"] and rb["ok"]:
            cos.append(C.cosine(ra["embedding"], rb["embedding"]))
            dist.append(C.euclid(ra["embedding"], rb["embedding"]))
        else:
            cos.append(-1.0)
            dist.append(math.inf)
    return np.array(cos), np.array(dist)


IKD_EXTRA_ARGS = []  # set from --ikd-args
IKD_CROSS_IDENTITY = []  # non-empty with --cross-identity

# --------------------------------------------------------------------------------- ikd
def _find_key(obj, names):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in names and isinstance(v, (int, float)):
                return float(v)
        for v in obj.values():
            r = _find_key(v, names)
            if r is not None:
                return r
    elif isinstance(obj, list):
        for v in obj:
            r = _find_key(v, names)
            if r is not None:
                return r
    return None


def _read_ikd_scores(path, base, pairs):
    """Accept a CSV/TSV with columns a,b and a score column (score|cosine|similarity), optionally a
    decision column (same_pred|decision|match|predicted); or JSON (list of such objects, or
    {"pairs": [...]}).  Falls back to row order when a/b are absent."""
    text = open(path).read()
    rows = None
    try:
        j = json.loads(text)
        rows = j if isinstance(j, list) else next((v for v in j.values() if isinstance(v, list)), None)
    except json.JSONDecodeError:
        if text.strip():
            lines = text.splitlines()
            try:
                dialect = csv.Sniffer().sniff(lines[0], delimiters=",\t;")
            except csv.Error:
                dialect = csv.excel
            rows = list(csv.DictReader(lines, dialect=dialect))
    if not rows:
        raise ValueError(f"no rows in {path}")
    keys = {k.lower(): k for k in rows[0].keys()}
    sk = next((keys[k] for k in ("fused", "score", "cosine", "similarity", "cos", "sim") if k in keys), None)
    dk = next((keys[k] for k in ("same_pred", "decision", "match", "predicted", "pred", "accept") if k in keys), None)
    if sk is None:
        raise ValueError(f"no score column in {path}: {list(rows[0].keys())}")

    def norm(p):
        return os.path.normpath(p if os.path.isabs(p) else os.path.join(base, p))

    lookup = {}
    if "a" in keys and "b" in keys:
        for r in rows:
            lookup[(norm(str(r[keys["a"]])), norm(str(r[keys["b"]])))] = r
    scores, decisions = [], []
    for n, (a, b, _) in enumerate(pairs):
        r = lookup.get((norm(a), norm(b))) if lookup else (rows[n] if n < len(rows) else None)
        v = None if r is None else r.get(sk)
        try:
            scores.append(float(v))
        except (TypeError, ValueError):
            scores.append(-1.0)
        if dk is not None and r is not None:
            d = str(r.get(dk)).strip().lower()
            decisions.append(d in ("1", "true", "yes", "same", "match", "accept"))
        else:
            decisions.append(None)
    return np.array(scores), (decisions if dk is not None else None)


def run_ikd(ikd, pairs_csv, base, pairs, n_images, timeout, backend_args=()):
    out = {"command": None, "ok": False}
    with tempfile.TemporaryDirectory() as td:
        scores_file = os.path.join(td, "ikd_scores.csv")
        cmd = [ikd, "eval", "pairs", pairs_csv, "--json", "--face-policy", "center", "--scores-out", scores_file] + IKD_EXTRA_ARGS + list(backend_args)
        if IKD_CROSS_IDENTITY:
            cmd.append("--cross-identity")
        out["command"] = " ".join(cmd)
        t0 = time.perf_counter()
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as e:
            out["error"] = f"{type(e).__name__}: {e}"
            return out
        wall = time.perf_counter() - t0
        out["exit_code"] = p.returncode
        out["wall_s"] = wall
        out["stderr_tail"] = p.stderr[-2000:]
        if p.returncode != 0:
            out["error"] = f"exit code {p.returncode}"
            out["stdout_tail"] = p.stdout[-2000:]
            return out
        try:
            j = json.loads(p.stdout)
            out["report"] = j
        except json.JSONDecodeError:
            j = None
            out["stdout_tail"] = p.stdout[-2000:]
        ips = _find_key(j, {"images_per_s", "images_per_sec", "images_per_second", "img_per_s", "throughput_images_per_s"}) if j else None
        if ips is not None:
            out["images_per_s"] = ips
            out["images_per_s_source"] = "ikd --json"
        else:
            out["images_per_s"] = n_images / wall
            out["images_per_s_source"] = "wall clock of the whole ikd command (includes model load, no warm-up exclusion)"
        try:
            out["scores"], out["decisions"] = _read_ikd_scores(scores_file, base, pairs)
            out["ok"] = True
        except Exception as e:
            out["error"] = f"could not read --scores-out: {type(e).__name__}: {e}"
    return out


def ikd_operating_points(report, fused, labels, cross_identity):
    """ikd's FNMR at FMR 1e-3 / 1e-4 for its own matcher: from its JSON when it scored the
    cross-identity pairs itself, else from its fused scores on the pairs."""
    if cross_identity and report:
        m = next((x for x in report.get("matchers", []) if x["id"] == report.get("matcher")), None)
        if m:
            return {"impostors": "cross-identity", **{f"{p['target_fmr']:.0e}": {
                "threshold": p["threshold"], "fnmr": p["fnmr"], "underpowered": p["underpowered"]}
                for p in m["fused"]["at_fmr"] if p["target_fmr"] in OPERATING_FMRS}}
    return {"impostors": "pairs", **fnmr_at_fmr(fused[labels == 1], fused[labels == 0])}


# --------------------------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pairs_csv")
    ap.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, help="cosine threshold for decisions")
    ap.add_argument("--policy", choices=C.POLICIES, default="center")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--pipelines", default="ort-sface,opencv-zoo")
    ap.add_argument("--cross-identity", action="store_true",
                    help="read FMR thresholds off every pair of accepted images of different people")
    ap.add_argument("--ikd", help="path to the ikd binary")
    ap.add_argument("--ikd-timeout", type=float, default=3600)
    ap.add_argument("--ikd-args", default="", help="extra ikd flags, e.g. '--no-flip-augment --threshold 0.90'")
    ap.add_argument("--ikd-ort-lib", help="also run ikd with --backend onnxruntime and this libonnxruntime.so "
                    "(ikd built with --features onnxruntime); reported as ikd-ort")
    ap.add_argument("--json", dest="json_out", help="write all figures here")
    ap.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                    help="before each timed run wait up to SECONDS for other processes to leave the cores idle")
    ap.add_argument("--scores-out", help="write per-pair scores of every pipeline as CSV here")
    a = ap.parse_args(argv)
    IKD_EXTRA_ARGS[:] = a.ikd_args.split()
    IKD_CROSS_IDENTITY[:] = [True] if a.cross_identity else []

    pairs_csv = os.path.abspath(a.pairs_csv)
    base, pairs = load_pairs(pairs_csv)
    labels = np.array([s for _, _, s in pairs])
    images = sorted({os.path.join(base, p) for a_, b_, _ in pairs for p in (a_, b_)})
    print(f"[peers] {len(pairs)} pairs ({int(labels.sum())} same / {int((labels == 0).sum())} different), "
          f"{len(images)} distinct images, {a.workers} worker processes, policy={a.policy}", file=sys.stderr)

    import cv2
    import onnxruntime
    report = {
        "pairs_csv": pairs_csv, "pairs": len(pairs), "distinct_images": len(images),
        "threshold_cosine": a.threshold, "policy": a.policy, "workers": a.workers,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "processor": _cpu_model(), "python": platform.python_version()},
        "versions": {"numpy": np.__version__, "onnxruntime": onnxruntime.__version__, "opencv": cv2.__version__},
        "pipelines": {},
    }
    decisions, scores = {}, {}
    for name in [p.strip() for p in a.pipelines.split(",") if p.strip()]:
        if name == "ort":
            from pipeline_ort import OrtPipeline as F
        elif name == "ort-sface":
            from pipeline_ort import OrtSFacePipeline as F
        elif name == "opencv":
            from pipeline_opencv import OpenCVPipeline as F
        elif name == "opencv-zoo":
            from pipeline_opencv_zoo import OpenCVZooPipeline as F
        else:
            raise SystemExit(f"unknown pipeline {name}")
        if a.wait_idle > 0:
            C.wait_idle(timeout=a.wait_idle, log=lambda m: print(f"[peers] {m}", file=sys.stderr))
        print(f"[peers] running {name} ...", file=sys.stderr)
        results, info = C.run_pool(F, images, a.policy, a.workers)
        by_path = {r["path"]: r for r in results}
        cos, dist = score_pairs(by_path, base, pairs)
        m = metrics(cos, labels, a.threshold)
        m_l2 = metrics(dist, labels, DLIB_L2_RULE, higher_is_same=False)
        report["pipelines"][name] = {
            "throughput": info,
            "no_face_images": sorted(os.path.relpath(r["path"], base) for r in results if not r["ok"]),
            "pairs_with_no_face": int(np.sum(cos == -1.0)),
            "cosine": m,
            "euclidean": m_l2,
            "operating_points": operating_points(cos, labels, by_path, base, a.cross_identity),
        }
        decisions[name] = cos >= a.threshold
        scores[name] = cos
        print(f"[peers] {name}: {info['images_per_s']:.1f} images/s (cpu/wall in workers "
              f"{info['cpu_over_wall_in_workers']:.2f}, machine busy before {info['machine_busy_before']:.0%}), "
              f"best acc {m['best_accuracy']:.4f}", file=sys.stderr)

    ikd_runs = []
    if a.ikd:
        ikd_runs.append(("ikd", ["--backend", "tract"]))
        if a.ikd_ort_lib:
            ikd_runs.append(("ikd-ort", ["--backend", "onnxruntime", "--onnxruntime-lib", a.ikd_ort_lib]))
    else:
        report["ikd"] = {"ok": False, "error": "not run (no --ikd given)"}
    for key, backend_args in ikd_runs:
        if a.wait_idle > 0:
            C.wait_idle(timeout=a.wait_idle, log=lambda m: print(f"[peers] {m}", file=sys.stderr))
        print(f"[peers] running {key} ...", file=sys.stderr)
        r = run_ikd(a.ikd, pairs_csv, base, pairs, len(images), a.ikd_timeout, backend_args)
        if r.get("ok"):
            s = r.pop("scores")
            d = r.pop("decisions")
            scores[key] = s
            decisions[key] = np.array(d, bool) if d is not None and None not in d else s >= a.threshold
            r["decision_source"] = "ikd's own decision column" if d is not None and None not in d else "cosine >= --threshold"
            r["cosine"] = metrics(s, labels, a.threshold)
            r["operating_points"] = ikd_operating_points(r.get("report"), s, labels, a.cross_identity)
        else:
            r.pop("scores", None)
            r.pop("decisions", None)
        report[key] = r

    # agreement
    names = list(decisions)
    agree = {}
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            x, y = names[i], names[j]
            agree[f"{x}_vs_{y}"] = {
                "decisions_differ": int(np.sum(decisions[x] != decisions[y])),
                "max_abs_cosine_diff": float(np.max(np.abs(scores[x] - scores[y]))),
                "median_abs_cosine_diff": float(np.median(np.abs(scores[x] - scores[y]))),
            }
    report["agreement"] = agree
    ikd_ips = report["ikd"].get("images_per_s") if report["ikd"].get("ok") else None
    for name, p in report["pipelines"].items():
        p["ratio_vs_ikd"] = (p["throughput"]["images_per_s"] / ikd_ips) if ikd_ips else None
    if report.get("ikd-ort", {}).get("ok") and ikd_ips:
        report["ikd-ort"]["ratio_vs_ikd"] = report["ikd-ort"]["images_per_s"] / ikd_ips

    _print_table(report, a.threshold)
    if a.scores_out:
        with open(a.scores_out, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["a", "b", "same"] + [f"cos_{n}" for n in names])
            for k, (pa, pb, sm) in enumerate(pairs):
                w.writerow([pa, pb, sm] + [f"{scores[n][k]:.6f}" for n in names])
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(report, f, indent=1, default=_jsonable)
        print(f"[peers] wrote {a.json_out}", file=sys.stderr)
    return report


def _jsonable(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _print_table(rep, thr):
    print()
    print(f"pairs: {rep['pairs']}   distinct images: {rep['distinct_images']}   workers: {rep['workers']}   "
          f"policy: {rep['policy']}   threshold (cosine): {thr}")
    hdr = f"{'pipeline':<11} {'img/s':>8} {'vs ikd':>7} {'no-face':>7} {'acc@thr':>8} {'best acc':>8} {'best thr':>8} {'AUC':>7} {'EER':>7} {'TAR@1e-3':>8} {'thr@1e-3':>8} {'acc L2<0.6':>10}"
    print(hdr)
    print("-" * len(hdr))
    for name, p in rep["pipelines"].items():
        t, m, e = p["throughput"], p["cosine"], p["euclidean"]
        r = f"{p['ratio_vs_ikd']:.2f}x" if p["ratio_vs_ikd"] else "-"
        print(f"{name:<11} {t['images_per_s']:>8.1f} {r:>7} {t['no_face']:>7} {m['accuracy_at_threshold']:>8.4f} "
              f"{m['best_accuracy']:>8.4f} {m['best_threshold']:>8.4f} {m['auc']:>7.4f} {m['eer']:>7.4f} "
              f"{m['fmr_1e-3']['tar']:>8.4f} {m['fmr_1e-3']['threshold']:>8.4f} {e['accuracy_at_threshold']:>10.4f}")
    for name, p in rep["pipelines"].items():
        t = p["throughput"]
        print(f"  {name}: wall {t['wall_s']:.1f} s for {t['images']} images; per image median {t['per_image_ms_median']:.1f} ms "
              f"(p95 {t['per_image_ms_p95']:.1f}); CPU/wall in workers {t['cpu_over_wall_in_workers']:.2f} "
              f"(1.00 = cores not shared); CPU-bound estimate {t['images_per_s_cpu_bound']:.1f} images/s")
    ik = rep["ikd"]
    if ik.get("ok"):
        m = ik["cosine"]
        print(f"{'ikd':<11} {ik['images_per_s']:>8.1f} {'1.00x':>7} {'?':>7} {m['accuracy_at_threshold']:>8.4f} "
              f"{m['best_accuracy']:>8.4f} {m['best_threshold']:>8.4f} {m['auc']:>7.4f} {m['eer']:>7.4f} "
              f"{m['fmr_1e-3']['tar']:>8.4f} {m['fmr_1e-3']['threshold']:>8.4f} {'-':>10}")
        print(f"  (ikd images/s from: {ik['images_per_s_source']})")
    else:
        print(f"ikd: not available — {ik.get('error')}")
    io = rep.get("ikd-ort")
    if io and io.get("ok"):
        m = io["cosine"]
        print(f"{'ikd-ort':<11} {io['images_per_s']:>8.1f} {io.get('ratio_vs_ikd', 0):>6.2f}x {'?':>7} {m['accuracy_at_threshold']:>8.4f} "
              f"{m['best_accuracy']:>8.4f} {m['best_threshold']:>8.4f} {m['auc']:>7.4f} {m['eer']:>7.4f} "
              f"{m['fmr_1e-3']['tar']:>8.4f} {m['fmr_1e-3']['threshold']:>8.4f} {'-':>10}")
    elif io:
        print(f"ikd-ort: not available — {io.get('error')}")
    print()
    print("accuracy at the same operating point (FNMR on the genuine pairs; each pipeline's threshold "
          "read off its own impostor scores):")
    ops = [(n, p.get("operating_points")) for n, p in rep["pipelines"].items()]
    for key in ("ikd", "ikd-ort"):
        if rep.get(key, {}).get("ok"):
            ops.append((key, rep[key].get("operating_points")))
    for n, op in ops:
        if not op:
            continue
        cells = "  ".join(f"FNMR @ FMR {k} {v['fnmr'] * 100:6.2f} %{'*' if v.get('underpowered') else ''}"
                          for k, v in op.items() if k != "impostors")
        print(f"  {n:<11} {cells}   (impostors: {op['impostors']})")
    print()
    print("accuracy / FMR / FNMR at fixed cosine thresholds:")
    rows = [(n, p["cosine"]) for n, p in rep["pipelines"].items()]
    if ik.get("ok"):
        rows.append(("ikd", ik["cosine"]))
    if io and io.get("ok"):
        rows.append(("ikd-ort", io["cosine"]))
    ths = list(rows[0][1]["at_thresholds"]) if rows else []
    print(f"  {'thr':>6} " + " ".join(f"{n:>24}" for n, _ in rows))
    for t in ths:
        print(f"  {t:>6} " + " ".join(f"{m['at_thresholds'][t]['accuracy']:>8.4f} {m['at_thresholds'][t]['fmr']:>7.4f} {m['at_thresholds'][t]['fnmr']:>7.4f}" for _, m in rows))
    print()
    print("decision agreement at the threshold (pairs whose same/different decision differs):")
    for k, v in rep["agreement"].items():
        print(f"  {k:<18} {v['decisions_differ']:>6} differ   max |cos diff| {v['max_abs_cosine_diff']:.2e}   "
              f"median {v['median_abs_cosine_diff']:.2e}")
    print()


if __name__ == "__main__":
    main()
