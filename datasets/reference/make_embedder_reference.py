#!/usr/bin/env python3
"""Build datasets/reference/embedders.json: onnxruntime embeddings of every embedder in
models/manifest.toml on aligned chips of the six reference images, for the Rust (tract) tests.

Run with the peer venv (benches/peers/setup.sh makes it):

    benches/peers/.venv/bin/python datasets/reference/make_embedder_reference.py

For each image of reference.json it takes the chosen face's landmarks (already recorded there by
make_reference.py), aligns a chip for each embedder with that embedder's template and input size
(Umeyama least-squares similarity, cv2.warpAffine bilinear, border 0, from the original image),
saves it as a lossless PNG under chips/<model>/<name>.png, reads the PNG back and embeds it with
onnxruntime (1 thread, ORT_ENABLE_ALL) in the embedder's colour order and normalisation. The
embedding of the *published* file is recorded too when the manifest's file is a prepared copy
(`prepared_from`), so a test can hold the prepared model to the original.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import tomllib

import cv2
import numpy as np
import onnxruntime as ort
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "benches", "peers"))
import common as C  # noqa: E402


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def session(path):
    o = ort.SessionOptions()
    o.intra_op_num_threads = 1
    o.inter_op_num_threads = 1
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])


def blob(chip_rgb, spec):
    x = chip_rgb.astype(np.float32)
    if spec["colour_order"] == "bgr":
        x = x[:, :, ::-1]
    x = (x - np.array(spec["mean"], np.float32)) / np.array(spec["std"], np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def run(sess, x):
    return sess.run(None, {sess.get_inputs()[0].name: x})[0].reshape(-1).astype(np.float64)


def main():
    cv2.setNumThreads(1)
    with open(os.path.join(REPO, "models", "manifest.toml"), "rb") as f:
        manifest = tomllib.load(f)
    embedders = [m for m in manifest["model"] if m["role"] == "embedder"]
    with open(os.path.join(HERE, "reference.json")) as f:
        reference = json.load(f)
    models_dir = os.path.join(REPO, "models")
    out = {
        "format": "ikd-embedder-reference/1",
        "command": "benches/peers/.venv/bin/python datasets/reference/make_embedder_reference.py",
        "versions": {"python": platform.python_version(), "numpy": np.__version__,
                     "onnxruntime": ort.__version__, "opencv": cv2.__version__},
        "models": {},
        "images": [],
    }
    sessions = {}
    for m in embedders:
        path = os.path.join(models_dir, m["file"])
        entry = {"file": m["file"], "sha256": sha256(path)}
        sessions[m["id"]] = [session(path)]
        src = m.get("prepared_from")
        if src:
            orig = os.path.join(models_dir, src["file"])
            entry["original"] = {"file": src["file"], "sha256": sha256(orig)}
            sessions[m["id"]].append(session(orig))
        out["models"][m["id"]] = entry
    for im in reference["images"]:
        img = C.decode_bgr(C.read_bytes(os.path.join(REPO, im["path"])))
        d = im["detections"][im["chosen"]]
        lm = np.array(d["landmarks"], np.float64).reshape(5, 2)
        row = {"name": im["name"], "path": im["path"], "landmarks": d["landmarks"], "embedders": {}}
        for m in embedders:
            w, h = m["input_width"], m["input_height"]
            M = C.umeyama(lm, np.array(m["template"], np.float64))
            chip_bgr = cv2.warpAffine(img, M, (w, h), flags=cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            chip = cv2.cvtColor(chip_bgr, cv2.COLOR_BGR2RGB)
            png = os.path.join(HERE, "chips", m["id"], f"{im['name']}.png")
            os.makedirs(os.path.dirname(png), exist_ok=True)
            Image.fromarray(chip, "RGB").save(png, format="PNG", optimize=False)
            back = np.asarray(Image.open(png).convert("RGB"))
            assert np.array_equal(back, chip)
            x = blob(back, m)
            outs = [run(s, x) for s in sessions[m["id"]]]
            e = {"chip": os.path.relpath(png, REPO), "chip_sha256": sha256(png),
                 "embedding": [float(v) for v in outs[0]]}
            if len(outs) > 1:
                e["embedding_original"] = [float(v) for v in outs[1]]
                c = float(outs[0] @ outs[1] / np.linalg.norm(outs[0]) / np.linalg.norm(outs[1]))
                e["cosine_prepared_vs_original"] = c
            row["embedders"][m["id"]] = e
            print(f"{im['name']:20s} {m['id']:16s} |e| {np.linalg.norm(outs[0]):.3f}", file=sys.stderr)
        out["images"].append(row)
    with open(os.path.join(HERE, "embedders.json"), "w") as f:
        json.dump(out, f, indent=1)
    print("wrote datasets/reference/embedders.json", file=sys.stderr)


if __name__ == "__main__":
    main()
