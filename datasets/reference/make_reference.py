#!/usr/bin/env python3
"""Build datasets/reference/: onnxruntime reference outputs for the Rust (tract) tests.

Run with the peer venv (benches/peers/setup.sh makes it):

    benches/peers/.venv/bin/python datasets/reference/make_reference.py

For each image below it runs benches/peers/pipeline_ort.py's pipeline (face policy `center`) and
writes into datasets/reference/:
  reference.json           all figures (schema in README.md)
  det_inputs/<name>.png    the exact 320x320 letterboxed BGR->RGB detector input (lossless)
  chips/<name>.png         the aligned 150x150 RGB chip (lossless)
  inputs/<name>.png        source pixels for images that are made here (the upscaled ORL face)
  yunet_raw_<name>_320.bin raw YuNet outputs for one image (little-endian f32, layout in reference.json)
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import sys

import numpy as np
import cv2
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "benches", "peers"))
import common as C  # noqa: E402
from pipeline_ort import OrtPipeline, YUNET_OUTPUTS  # noqa: E402
from pipeline_opencv import OpenCVPipeline  # noqa: E402

FACES = "datasets/fixtures/faces"
IMAGES = [  # (name, path relative to the repo root)
    ("obama", f"{FACES}/portraits/obama.jpg"),
    ("biden", f"{FACES}/portraits/biden.jpg"),
    ("obama_and_biden", f"{FACES}/portraits/obama_and_biden.jpg"),
    ("essex94_9336923_1", f"{FACES}/essex94/9336923/9336923.1.jpg"),
    ("essex94_anpage_1", f"{FACES}/essex94/anpage/anpage.1.jpg"),
    ("orl_s1_1_x3", None),  # made below from orl/s1/1.pgm
]
ORL_SRC = f"{FACES}/orl/s1/1.pgm"
ORL_UPSCALE, ORL_PAD = 3, 0.3
RAW_FOR = "obama"
POLICY = "center"


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def rel(p):
    return os.path.relpath(p, REPO)


def save_png_rgb(path, rgb):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.ascontiguousarray(rgb), "RGB").save(path, format="PNG", optimize=False)
    back = np.asarray(Image.open(path).convert("RGB"))
    assert np.array_equal(back, rgb), f"PNG round trip failed for {path}"


def make_orl():
    g = cv2.imread(os.path.join(REPO, ORL_SRC), cv2.IMREAD_GRAYSCALE)
    g = cv2.resize(g, (g.shape[1] * ORL_UPSCALE, g.shape[0] * ORL_UPSCALE), interpolation=cv2.INTER_LINEAR)
    px, py = int(round(g.shape[1] * ORL_PAD)), int(round(g.shape[0] * ORL_PAD))
    g = cv2.copyMakeBorder(g, py, py, px, px, cv2.BORDER_CONSTANT, value=0)
    out = os.path.join(HERE, "inputs", "orl_s1_1_x3.png")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    cv2.imwrite(out, g)  # 8-bit grey PNG
    return out


def det_json(d):
    return {"box": [round(float(v), 6) for v in d[0:4]], "score": round(float(d[14]), 7),
            "landmarks": [round(float(v), 6) for v in d[4:14]]}


def main():
    cv2.setNumThreads(1)
    ort_p = OrtPipeline()
    cv_p = OpenCVPipeline()
    images = []
    raw_info = None
    for name, path in IMAGES:
        src = os.path.join(REPO, path) if path else make_orl()
        data = C.read_bytes(src)
        img = C.decode_bgr(data)
        h, w = img.shape[:2]
        padded, scale, (rw, rh) = C.letterbox(img, C.DET_SIZE)
        raw = ort_p.detect_raw(padded)
        dets_in = C.nms(C.decode_yunet(raw, C.DET_SIZE, C.DET_SIZE))
        dets = C.to_original(dets_in, scale)
        i = C.select_face(dets, w, h, POLICY)
        assert i is not None, f"no face in {src}"
        chip, M = C.align_chip(img, dets[i])
        emb = ort_p.embed_chip(chip)
        emb_l2 = C.l2n(emb)

        det_png = os.path.join(HERE, "det_inputs", f"{name}.png")
        save_png_rgb(det_png, cv2.cvtColor(padded, cv2.COLOR_BGR2RGB))
        chip_png = os.path.join(HERE, "chips", f"{name}.png")
        save_png_rgb(chip_png, chip)
        # re-load the saved chip and embed again: this is exactly what the Rust test does
        chip_back = np.asarray(Image.open(chip_png).convert("RGB"))
        emb_back = ort_p.embed_chip(chip_back)
        assert np.array_equal(emb_back, emb)

        # cross-checks with the OpenCV pipeline (same pixels)
        cv_dets, _, _ = cv_p.detect(img)
        cv_emb = cv_p.embed_chip(chip)
        cross = {
            "opencv_detections": int(len(cv_dets)),
            "opencv_max_abs_diff_px": float(np.abs(cv_dets[:, :14] - dets[:, :14]).max()) if cv_dets.shape == dets.shape else None,
            "opencv_embedding_cosine": C.cosine(cv_emb, emb),
        }
        if name == RAW_FOR:
            raw_path = os.path.join(HERE, f"yunet_raw_{name}_{C.DET_SIZE}.bin")
            layout, off = [], 0
            with open(raw_path, "wb") as f:
                for k in YUNET_OUTPUTS:
                    a = np.ascontiguousarray(raw[k].astype("<f4"))
                    f.write(a.tobytes())
                    layout.append({"name": k, "shape": list(a.shape), "offset_floats": off})
                    off += a.size
            raw_info = {"image": name, "file": rel(raw_path), "dtype": "float32 little-endian",
                        "input": rel(det_png), "outputs": layout, "total_floats": off,
                        "sha256": sha256(raw_path)}

        entry = {
            "name": name,
            "path": rel(src),
            "source": path or f"{ORL_SRC} upscaled x{ORL_UPSCALE} (cv2.INTER_LINEAR) and padded {ORL_PAD:g} of its size per side with black",
            "sha256": sha256(src),
            "image_size": [w, h],
            "det_input_size": [C.DET_SIZE, C.DET_SIZE],
            "resized_size": [rw, rh],
            "scale": scale,
            "det_input": rel(det_png),
            "detections": [det_json(d) for d in dets],
            "detections_det_input": [det_json(d) for d in dets_in],
            "policy": POLICY,
            "chosen": i,
            "align_matrix": [[float(v) for v in row] for row in M],
            "chip": rel(chip_png),
            "chip_sha256": sha256(chip_png),
            "embedding": [float(v) for v in emb],
            "embedding_norm": float(np.linalg.norm(emb.astype(np.float64))),
            "embedding_l2": [float(v) for v in emb_l2],
            "cross_check": cross,
        }
        images.append(entry)
        print(f"{name:20s} {w}x{h} scale {scale:.4f} faces {len(dets)} chosen {i} score {dets[i][14]:.4f} "
              f"|emb| {entry['embedding_norm']:.4f} cv2-det-diff {cross['opencv_max_abs_diff_px']} "
              f"cv2-emb-cos {cross['opencv_embedding_cosine']:.7f}", file=sys.stderr)

    # pairwise cosines between the reference chips (for an end-to-end sanity test)
    names = [e["name"] for e in images]
    E = np.array([e["embedding_l2"] for e in images])
    cos = E @ E.T
    import onnxruntime
    ref = {
        "format": "ikd-reference/1",
        "command": "benches/peers/.venv/bin/python datasets/reference/make_reference.py",
        "versions": {"python": platform.python_version(), "numpy": np.__version__,
                     "onnxruntime": onnxruntime.__version__, "opencv": cv2.__version__,
                     "pillow": Image.__version__ if hasattr(Image, "__version__") else None},
        "models": {rel(C.YUNET_PATH): sha256(C.YUNET_PATH), rel(C.DLIB_PATH): sha256(C.DLIB_PATH)},
        "params": {
            "decode": "cv2.imdecode(IMREAD_COLOR): 3-channel BGR; grey replicated; alpha dropped",
            "det_size": C.DET_SIZE,
            "letterbox": "resize so the longest side = det_size (cv2.resize INTER_LINEAR, sizes rounded), "
                         "zero-pad bottom/right to det_size x det_size; original = det_input / scale",
            "yunet_input": "float32 [1,3,H,W] BGR 0..255, dims pinned to 320x320",
            "score_threshold": C.SCORE_THRESHOLD, "nms_iou": C.NMS_IOU, "top_k": C.TOP_K,
            "detection_order": "descending score (after greedy NMS)",
            "box": "x, y (top-left), w, h in original-image pixels",
            "landmarks": "x0,y0..x4,y4: right eye, left eye, nose, right mouth, left mouth (as seen in the image)",
            "face_policy": "center: among score >= 0.6, the box whose centre is nearest the image centre",
            "template": C.TEMPLATE.tolist(),
            "alignment": "Umeyama least-squares similarity (no reflection) landmarks -> template; "
                         "matrix maps original-image (x,y,1) to chip (x,y); cv2.warpAffine INTER_LINEAR, BORDER_CONSTANT 0",
            "chip": "150x150 RGB uint8 PNG",
            "dlib_input": "float32 [1,3,150,150] RGB (pixel - [122.782, 117.001, 104.298]) / 256",
            "embedding": "raw 128-d output of the dlib model on the saved chip PNG, onnxruntime 1 thread ORT_ENABLE_ALL",
        },
        "images": images,
        "pair_cosines": {"names": names, "matrix": [[round(float(v), 7) for v in r] for r in cos]},
        "yunet_raw": raw_info,
    }
    with open(os.path.join(HERE, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
    print("wrote", rel(os.path.join(HERE, "reference.json")), file=sys.stderr)


if __name__ == "__main__":
    main()
