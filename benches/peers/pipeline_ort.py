#!/usr/bin/env python3
"""Peer pipeline 1: onnxruntime, "as InsightFace users would run it".

decode (cv2.imdecode) -> resize longest side to 320 + zero letterbox (top-left) -> YuNet via
onnxruntime (BGR 0..255 NCHW, input dims pinned to 320x320) -> decode 12 outputs (MODELS.md),
score >= 0.6, NMS IoU 0.3 -> original coords -> face policy -> Umeyama similarity to the
embedder's template -> cv2.warpAffine bilinear, border 0 -> the embedder via onnxruntime:
dlib ResNet (150x150, 128-d; `OrtPipeline`) or SFace (112x112 ArcFace template, RGB raw, 128-d;
`OrtSFacePipeline`, `--embedder sface`).

One single-threaded onnxruntime session pair per worker process; all cores via Pool(N).

Usage: pipeline_ort.py [--policy center] [--workers N] [--json OUT] IMAGE...
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402

YUNET_OUTPUTS = [f"{k}_{s}" for k in ("cls", "obj", "bbox", "kps") for s in C.STRIDES]


def _session_options(pin_hw=None):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if pin_hw is not None:
        so.add_free_dimension_override_by_name("height", pin_hw[0])
        so.add_free_dimension_override_by_name("width", pin_hw[1])
    return so


class OrtPipeline:
    name = "ort"

    def __init__(self, yunet_path=C.YUNET_PATH, dlib_path=C.DLIB_PATH, det_size=C.DET_SIZE):
        self.det_size = det_size
        prov = ["CPUExecutionProvider"]
        self.det = ort.InferenceSession(yunet_path, _session_options((det_size, det_size)), providers=prov)
        self.emb = ort.InferenceSession(dlib_path, _session_options(), providers=prov)
        self.emb_in = self.emb.get_inputs()[0].name
        self.emb_out = self.emb.get_outputs()[0].name

    # -- detection
    def detect_raw(self, padded_bgr):
        blob = np.ascontiguousarray(padded_bgr.transpose(2, 0, 1)[None].astype(np.float32))
        outs = self.det.run(YUNET_OUTPUTS, {"input": blob})
        return dict(zip(YUNET_OUTPUTS, outs))

    def detect(self, img_bgr):
        """Return (dets (M,15) in original coords sorted by score, scale, (rw, rh))."""
        padded, scale, rsz = C.letterbox(img_bgr, self.det_size)
        raw = self.detect_raw(padded)
        dets = C.nms(C.decode_yunet(raw, self.det_size, self.det_size))
        return C.to_original(dets, scale), scale, rsz

    # -- embedding
    def embed_chip(self, chip_rgb):
        return self.emb.run([self.emb_out], {self.emb_in: C.dlib_blob(chip_rgb)})[0][0].astype(np.float32)

    def align(self, img_bgr, det):
        return C.align_chip(img_bgr, det)

    # -- whole pipeline on encoded bytes
    def process_bytes(self, data, policy="center"):
        img = C.decode_bgr(data)
        h, w = img.shape[:2]
        dets, scale, _ = self.detect(img)
        i = C.select_face(dets, w, h, policy)
        if i is None:
            return {"ok": False, "error": "no face" if len(dets) == 0 else "face policy rejected",
                    "n_faces": int(len(dets))}
        chip, M = self.align(img, dets[i])
        return {"ok": True, "n_faces": int(len(dets)), "det": dets[i].tolist(),
                "embedding": self.embed_chip(chip)}


class OrtSFacePipeline(OrtPipeline):
    """YuNet + SFace, both through onnxruntime (the weights-as-inputs file as published)."""
    name = "ort-sface"

    def __init__(self, yunet_path=C.YUNET_PATH, sface_path=C.SFACE_PATH, det_size=C.DET_SIZE):
        super().__init__(yunet_path, sface_path, det_size)

    def align(self, img_bgr, det):
        return C.align_sface(img_bgr, det)

    def embed_chip(self, chip_rgb):
        return self.emb.run([self.emb_out], {self.emb_in: C.sface_blob(chip_rgb)})[0][0].astype(np.float32)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images", nargs="+")
    ap.add_argument("--policy", choices=C.POLICIES, default="center")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--json", help="write per-image results (detection, 128-d embedding) here")
    ap.add_argument("--embedder", choices=("dlib", "sface"), default="dlib")
    a = ap.parse_args(argv)
    factory = OrtSFacePipeline if a.embedder == "sface" else OrtPipeline
    results, info = C.run_pool(factory, a.images, a.policy, a.workers)
    print(json.dumps(info, indent=1))
    if a.json:
        for r in results:
            if "embedding" in r:
                r["embedding"] = [float(x) for x in r["embedding"]]
        with open(a.json, "w") as f:
            json.dump({"info": info, "results": results}, f)


if __name__ == "__main__":
    main()
