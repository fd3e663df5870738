#!/usr/bin/env python3
"""Make a pairs CSV from the project's bundled ORL faces (datasets/fixtures/faces/orl/sN/K.pgm).

ORL photos are grey 92x112: too small for the detector.  Each is upscaled x3 (bilinear) and padded
by 30 % of its size on every side (black), then written as PNG to OUT_DIR/sN/K.png; OUT_DIR/pairs.csv
lists every same pair and every different pair (`a,b,same`, paths relative to OUT_DIR).
With all 400 images that is 1,800 same / 78,000 different pairs.

Usage: make_orl_pairs.py OUT_DIR [--orl DIR] [--upscale 3] [--pad 0.3] [--max-different N]
"""
import argparse
import itertools
import os
import random
import sys

import cv2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--orl", default=os.path.join(C.REPO, "datasets", "fixtures", "faces", "orl"))
    ap.add_argument("--upscale", type=int, default=3)
    ap.add_argument("--pad", type=float, default=0.3)
    ap.add_argument("--max-different", type=int, default=0, help="random sample of different pairs (0 = all)")
    a = ap.parse_args()
    imgs = {}
    for d in sorted(os.listdir(a.orl)):
        p = os.path.join(a.orl, d)
        if not os.path.isdir(p):
            continue
        for f in sorted(os.listdir(p)):
            if not f.lower().endswith((".pgm", ".png", ".jpg")):
                continue
            g = cv2.imread(os.path.join(p, f), cv2.IMREAD_GRAYSCALE)
            g = cv2.resize(g, (g.shape[1] * a.upscale, g.shape[0] * a.upscale), interpolation=cv2.INTER_LINEAR)
            px, py = int(round(g.shape[1] * a.pad)), int(round(g.shape[0] * a.pad))
            g = cv2.copyMakeBorder(g, py, py, px, px, cv2.BORDER_CONSTANT, value=0)
            rel = f"{d}/{os.path.splitext(f)[0]}.png"
            os.makedirs(os.path.join(a.out_dir, d), exist_ok=True)
            cv2.imwrite(os.path.join(a.out_dir, rel), g)
            imgs.setdefault(d, []).append(rel)
    same = [(x, y, 1) for v in imgs.values() for x, y in itertools.combinations(v, 2)]
    diff = [(x, y, 0) for p, q in itertools.combinations(sorted(imgs), 2) for x in imgs[p] for y in imgs[q]]
    if a.max_different and len(diff) > a.max_different:
        diff = random.Random(0).sample(diff, a.max_different)
    with open(os.path.join(a.out_dir, "pairs.csv"), "w") as f:
        f.write("a,b,same\n")
        for x, y, s in same + diff:
            f.write(f"{x},{y},{s}\n")
    print(f"{sum(len(v) for v in imgs.values())} images, {len(same)} same / {len(diff)} different pairs -> "
          f"{os.path.join(a.out_dir, 'pairs.csv')}", file=sys.stderr)


if __name__ == "__main__":
    main()
