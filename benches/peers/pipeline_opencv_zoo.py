#!/usr/bin/env python3
"""Peer pipeline 3: OpenCV Zoo's own face pipeline, YuNet + SFace as its demos run them.

decode (cv2.imdecode) -> the same resize-to-320 + zero letterbox as the other peers ->
cv2.FaceDetectorYN (score 0.6, NMS 0.3, top_k 5000, setInputSize per image) -> original
coordinates -> face policy -> cv2.FaceRecognizerSF.alignCrop (OpenCV's own 5-point alignment to
the 112x112 ArcFace template) -> FaceRecognizerSF.feature -> 128-d. Pairs are compared by the
cosine of the L2-normalised features, which is what FaceRecognizerSF.match(FR_COSINE) returns.

cv2.setNumThreads(1) in every worker process; all cores via Pool(N).

Usage: pipeline_opencv_zoo.py [--policy center] [--workers N] [--json OUT] IMAGE...
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
from pipeline_opencv import OpenCVPipeline  # noqa: E402


class OpenCVZooPipeline(OpenCVPipeline):
    name = "opencv-zoo"

    def __init__(self, yunet_path=C.YUNET_PATH, sface_path=C.SFACE_PATH, det_size=C.DET_SIZE):
        cv2.setNumThreads(1)
        self.det_size = det_size
        self.det = cv2.FaceDetectorYN.create(yunet_path, "", (det_size, det_size),
                                             score_threshold=C.SCORE_THRESHOLD,
                                             nms_threshold=C.NMS_IOU, top_k=C.TOP_K)
        self.rec = cv2.FaceRecognizerSF.create(sface_path, "")

    def process_bytes(self, data, policy="center"):
        img = C.decode_bgr(data)
        h, w = img.shape[:2]
        dets, scale, _ = self.detect(img)
        i = C.select_face(dets, w, h, policy)
        if i is None:
            return {"ok": False, "error": "no face" if len(dets) == 0 else "face policy rejected",
                    "n_faces": int(len(dets))}
        aligned = self.rec.alignCrop(img, dets[i].astype(np.float32).reshape(1, 15))
        feature = np.asarray(self.rec.feature(aligned), np.float32).reshape(-1)
        return {"ok": True, "n_faces": int(len(dets)), "det": dets[i].tolist(), "embedding": feature}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images", nargs="+")
    ap.add_argument("--policy", choices=C.POLICIES, default="center")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    results, info = C.run_pool(OpenCVZooPipeline, a.images, a.policy, a.workers)
    print(json.dumps(info, indent=1))
    if a.json:
        for r in results:
            if "embedding" in r:
                r["embedding"] = [float(x) for x in r["embedding"]]
        with open(a.json, "w") as f:
            json.dump({"info": info, "results": results}, f)


if __name__ == "__main__":
    main()
