#!/usr/bin/env python3
"""Peer pipeline 2: OpenCV only.

decode (cv2.imdecode) -> same resize-to-320 + zero letterbox as pipeline_ort -> cv2.FaceDetectorYN
(score 0.6, NMS 0.3, top_k 5000, setInputSize per image) -> original coords -> face policy ->
same Umeyama similarity + cv2.warpAffine -> dlib ResNet via cv2.dnn.readNetFromONNX -> 128-d.

cv2.setNumThreads(1) in every worker process; all cores via Pool(N).

Usage: pipeline_opencv.py [--policy center] [--workers N] [--json OUT] IMAGE...
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import cv2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402


class OpenCVPipeline:
    name = "opencv"

    def __init__(self, yunet_path=C.YUNET_PATH, dlib_path=C.DLIB_PATH, det_size=C.DET_SIZE):
        cv2.setNumThreads(1)
        self.det_size = det_size
        self.det = cv2.FaceDetectorYN.create(yunet_path, "", (det_size, det_size),
                                             score_threshold=C.SCORE_THRESHOLD,
                                             nms_threshold=C.NMS_IOU, top_k=C.TOP_K)
        self.emb = cv2.dnn.readNetFromONNX(dlib_path)

    def detect(self, img_bgr):
        padded, scale, rsz = C.letterbox(img_bgr, self.det_size)
        self.det.setInputSize((padded.shape[1], padded.shape[0]))
        _, faces = self.det.detect(padded)
        if faces is None:
            dets = np.zeros((0, 15), np.float64)
        else:
            dets = np.asarray(faces, np.float64).reshape(-1, 15)
            dets = dets[np.argsort(-dets[:, 14], kind="stable")]
        return C.to_original(dets, scale), scale, rsz

    def embed_chip(self, chip_rgb):
        self.emb.setInput(C.dlib_blob(chip_rgb))
        return np.asarray(self.emb.forward(), np.float32).reshape(-1)

    def process_bytes(self, data, policy="center"):
        img = C.decode_bgr(data)
        h, w = img.shape[:2]
        dets, scale, _ = self.detect(img)
        i = C.select_face(dets, w, h, policy)
        if i is None:
            return {"ok": False, "error": "no face" if len(dets) == 0 else "face policy rejected",
                    "n_faces": int(len(dets))}
        chip, M = C.align_chip(img, dets[i])
        return {"ok": True, "n_faces": int(len(dets)), "det": dets[i].tolist(),
                "embedding": self.embed_chip(chip)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images", nargs="+")
    ap.add_argument("--policy", choices=C.POLICIES, default="center")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    results, info = C.run_pool(OpenCVPipeline, a.images, a.policy, a.workers)
    print(json.dumps(info, indent=1))
    if a.json:
        for r in results:
            if "embedding" in r:
                r["embedding"] = [float(x) for x in r["embedding"]]
        with open(a.json, "w") as f:
            json.dump({"info": info, "results": results}, f)


if __name__ == "__main__":
    main()
