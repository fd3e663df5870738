#!/usr/bin/env python3
"""Throughput only, for a shared machine: wait for idle cores, time each pipeline over a fixed image
subset, repeat, and keep every run with its contention figures (worker CPU / wall).

    throughput.py PAIRS.csv [--images 1000] [--repeats 3] [--workers N] [--max-busy 0.10] [--json OUT]

The images are the first --images distinct images of the pairs (sorted paths).  Each run is a fresh
Pool(N) with per-worker warm-up excluded (common.run_pool).  The run reported as `best` is the one with
the highest CPU/wall ratio (the least disturbed by other processes).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402
from compare_peers import load_pairs  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pairs_csv")
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--pipelines", default="ort,opencv")
    ap.add_argument("--max-busy", type=float, default=0.10)
    ap.add_argument("--wait", type=float, default=300, help="max seconds to wait for idle before each run")
    ap.add_argument("--json")
    a = ap.parse_args()
    base, pairs = load_pairs(a.pairs_csv)
    images = sorted({os.path.join(base, p) for x, y, _ in pairs for p in (x, y)})[: a.images]
    out = {"pairs_csv": os.path.abspath(a.pairs_csv), "images": len(images), "workers": a.workers, "pipelines": {}}
    for name in a.pipelines.split(","):
        if name == "ort":
            from pipeline_ort import OrtPipeline as F
        else:
            from pipeline_opencv import OpenCVPipeline as F
        runs = []
        for r in range(a.repeats):
            busy = C.wait_idle(a.max_busy, a.wait)
            _, info = C.run_pool(F, images, "center", a.workers)
            info["busy_after_wait"] = busy
            runs.append(info)
            print(f"{name} run {r}: {info['images_per_s']:.1f} images/s, CPU/wall {info['cpu_over_wall_in_workers']:.2f}, "
                  f"CPU-bound {info['images_per_s_cpu_bound']:.1f}, busy before {busy:.0%}", file=sys.stderr, flush=True)
        best = max(runs, key=lambda i: i["cpu_over_wall_in_workers"])
        out["pipelines"][name] = {"best": best, "runs": runs}
    for name, p in out["pipelines"].items():
        b = p["best"]
        print(f"{name:7s} {b['images_per_s']:7.1f} images/s (wall)  CPU/wall {b['cpu_over_wall_in_workers']:.2f}  "
              f"CPU-bound {b['images_per_s_cpu_bound']:.1f}  median {b['per_image_ms_median']:.1f} ms")
    if a.json:
        json.dump(out, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
