#!/usr/bin/env python3
"""Make a phone-photo peer set from the bundled Essex94 faces: real faces, phone-size JPEGs.

    benches/peers/.venv/bin/python benches/peers/make_phone_photos.py OUT_DIR [--per-person 5] [--seed 7]

Each chosen photo (19 people of datasets/fixtures/faces/essex94, the first --per-person photos of
each) becomes one JPEG the size of a phone camera's picture: 3, 8 or 12 Mpx (2048x1536,
3264x2448, 4000x3000, portrait or landscape), quality 90, the face enlarged with Lanczos onto a
two-colour gradient at a random place and size (a face 25-45 % of the shorter side, as in a
selfie held at arm's length). A quarter of them are stored rotated with an EXIF Orientation tag
(6, 8 or 3) that turns them upright again, as phones do. Deterministic for a given seed.

Writes OUT_DIR/<person>/<name>.jpg and OUT_DIR/pairs.csv (every pair of the set: a,b,same).
Nothing is committed (about 0.3 MB per photo): the set is made again on demand.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import os
import random

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
ESSEX = os.path.join(REPO, "datasets", "fixtures", "faces", "essex94")
SIZES = [(2048, 1536), (3264, 2448), (4000, 3000)]
ROTATION = {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270, 3: Image.Transpose.ROTATE_180}


def gradient(w, h, rng):
    a = np.array([rng.randrange(40, 220) for _ in range(3)], np.float32)
    b = np.array([rng.randrange(40, 220) for _ in range(3)], np.float32)
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    img = (a * (1 - t) + b * t).repeat(w, axis=1)
    return Image.fromarray(img.astype(np.uint8), "RGB")


def make(src, rng):
    w, h = rng.choice(SIZES)
    if rng.random() < 0.75:
        w, h = h, w  # mostly portrait, like selfies
    canvas = gradient(w, h, rng)
    face = Image.open(src).convert("RGB")
    target = int(min(w, h) * rng.uniform(0.25, 0.45) / 0.55)  # Essex94 faces fill ~55 % of the width
    scale = target / face.width
    face = face.resize((target, int(face.height * scale)), Image.Resampling.LANCZOS)
    x = rng.randrange(0, max(1, w - face.width))
    y = rng.randrange(0, max(1, h - face.height))
    canvas.paste(face, (x, y))
    orientation = rng.choice([1, 1, 1, 6, 8, 3]) if rng.random() < 0.5 else 1
    stored = canvas.transpose(ROTATION[orientation]) if orientation != 1 else canvas
    exif = Image.Exif()
    exif[0x0112] = orientation
    return stored, exif


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--per-person", type=int, default=5)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    rows = []
    for person in sorted(os.listdir(ESSEX)):
        photos = sorted(f for f in os.listdir(os.path.join(ESSEX, person)) if f.endswith(".jpg"))[: a.per_person]
        os.makedirs(os.path.join(a.out, person), exist_ok=True)
        for name in photos:
            img, exif = make(os.path.join(ESSEX, person, name), rng)
            rel = f"{person}/{name}"
            img.save(os.path.join(a.out, rel), "JPEG", quality=90, exif=exif.tobytes())
            rows.append(rel)
    with open(os.path.join(a.out, "pairs.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "same"])
        for x, y in itertools.combinations(rows, 2):
            w.writerow([x, y, int(x.split("/")[0] == y.split("/")[0])])
    print(f"{len(rows)} photos, {len(rows) * (len(rows) - 1) // 2} pairs in {a.out}")


if __name__ == "__main__":
    main()
