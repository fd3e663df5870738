#!/usr/bin/env python3
"""Throughput on phone-size photos, ikd against the peers, in one run: each pipeline is timed
REPEATS times, interleaved (these machines are noisy), warm-up excluded, all cores; medians and
ratios are printed as markdown and written to --json.

    benches/peers/.venv/bin/python benches/peers/phone_bench.py PHOTOS_DIR [--repeats 5]
        [--ikd target/release/ikd] [--ort-lib libonnxruntime.so] [--workers 2]

PHOTOS_DIR comes from make_phone_photos.py (OUT/<person>/<photo>.jpg). The peers (Python +
onnxruntime YuNet + SFace; OpenCV Zoo's FaceDetectorYN + FaceRecognizerSF) read, decode, detect,
align and embed every photo in a Pool of single-threaded workers. ikd runs `ikd bench --images
PHOTOS_DIR --threads N --json` in its default configuration: each request reads and decodes a
photo and verifies it against the stored template of another photo of the same person (the
selfie side of a verification: the gallery template is precomputed, as the peers' second image
would be), i.e. decode, detect, landmark refinement, the cascade's embedders and the decision.
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common as C  # noqa: E402


def ikd_bench(ikd, photos, workers, requests, extra):
    cmd = [ikd, "bench", "--images", photos, "--threads", str(workers), "--requests", str(requests), "--json"] + extra
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stderr[-2000:]}")
    report = json.loads(p.stdout)
    run = next(r for r in report["runs"] if r["threads"] == workers)
    return run["requests_per_s"], report


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("photos")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--ikd", default=os.path.join(HERE, "..", "..", "target", "release", "ikd"))
    ap.add_argument("--ort-lib", help="libonnxruntime.so for ikd --backend onnxruntime (row skipped without)")
    ap.add_argument("--json")
    a = ap.parse_args()
    paths = sorted(glob.glob(os.path.join(a.photos, "*", "*.jpg")))
    if not paths:
        raise SystemExit(f"no photos under {a.photos}")
    from pipeline_ort import OrtSFacePipeline
    from pipeline_opencv_zoo import OpenCVZooPipeline
    rows = {
        "Python + onnxruntime, YuNet + SFace": lambda: C.run_pool(OrtSFacePipeline, paths, "center", a.workers)[1]["images_per_s"],
        "OpenCV Zoo (FaceDetectorYN + FaceRecognizerSF)": lambda: C.run_pool(OpenCVZooPipeline, paths, "center", a.workers)[1]["images_per_s"],
        "ikd, tract (default)": lambda: ikd_bench(a.ikd, a.photos, a.workers, 2 * len(paths), [])[0],
    }
    if a.ort_lib:
        rows["ikd, ONNX Runtime backend"] = lambda: ikd_bench(
            a.ikd, a.photos, a.workers, 2 * len(paths), ["--backend", "onnxruntime", "--onnxruntime-lib", a.ort_lib])[0]
    runs = {k: [] for k in rows}
    for r in range(a.repeats):
        for name, f in rows.items():
            v = f()
            runs[name].append(v)
            print(f"[phone] repeat {r + 1}/{a.repeats} {name}: {v:.1f}/s", file=sys.stderr)
    med = {k: statistics.median(v) for k, v in runs.items()}
    ort_py = med["Python + onnxruntime, YuNet + SFace"]
    zoo = med["OpenCV Zoo (FaceDetectorYN + FaceRecognizerSF)"]
    print(f"{len(paths)} photos, {a.workers} workers, median of {a.repeats} interleaved runs\n")
    print("| pipeline | images/s (median) | runs | vs Python + ORT | vs OpenCV Zoo |\n|---|---|---|---|---|")
    for k, v in med.items():
        print(f"| {k} | {v:.1f} | {', '.join(f'{x:.1f}' for x in runs[k])} | {v / ort_py:.2f}× | {v / zoo:.2f}× |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"photos": len(paths), "workers": a.workers, "repeats": a.repeats, "runs": runs, "medians": med}, f, indent=1)


if __name__ == "__main__":
    main()
