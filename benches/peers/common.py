"""Shared pieces of the Python peer pipelines (pipeline_ort.py, pipeline_opencv.py).

Everything here follows models/MODELS.md: detector input size, YuNet decoding, the 5-point
template, the similarity-transform alignment and the dlib normalisation.
"""
from __future__ import annotations

import os
import numpy as np
import cv2

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
YUNET_PATH = os.path.join(REPO, "models", "face_detection_yunet_2026may.onnx")
DLIB_PATH = os.path.join(REPO, "models", "dlib_face_recognition_resnet_model_v1.onnx")
SFACE_PATH = os.path.join(REPO, "models", "face_recognition_sface_2021dec.onnx")

DET_SIZE = 320            # detector input is DET_SIZE x DET_SIZE (letterboxed, top-left anchored)
SCORE_THRESHOLD = 0.6
NMS_IOU = 0.3
TOP_K = 5000
STRIDES = (8, 16, 32)
RESIZE_INTERP = cv2.INTER_LINEAR   # used to resize the photo so its longest side = DET_SIZE
CHIP_SIZE = 150

# YuNet 5 landmarks (r-eye, l-eye, nose, r-mouth, l-mouth) -> dlib 150x150 chip (MODELS.md)
TEMPLATE = np.array([
    [45.665, 44.616],
    [101.416, 44.485],
    [73.359, 77.171],
    [49.511, 99.806],
    [99.002, 99.750],
], dtype=np.float64)

# YuNet landmarks -> SFace's 112x112 ArcFace template (MODELS.md), the one cv2.FaceRecognizerSF uses.
ARCFACE_TEMPLATE = np.array([
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
], dtype=np.float64)
SFACE_SIZE = 112

DLIB_MEAN_RGB = np.array([122.782, 117.001, 104.298], dtype=np.float32)
DLIB_SCALE = 256.0

POLICIES = ("largest", "center", "single")


# --------------------------------------------------------------------------------- image input
def read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def decode_bgr(data: bytes) -> np.ndarray:
    """cv2.imdecode to 3-channel BGR uint8 (grey -> replicated, RGBA -> alpha dropped)."""
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError("cannot decode image")
    return img


def letterbox(img_bgr: np.ndarray, size: int = DET_SIZE):
    """Resize so that the longest side == size, then zero-pad to size x size at the bottom/right.

    Returns (padded uint8 HxWx3, scale, (resized_w, resized_h)).  Original coords = det coords / scale.
    """
    h, w = img_bgr.shape[:2]
    scale = size / float(max(w, h))
    rw = max(1, min(size, int(round(w * scale))))
    rh = max(1, min(size, int(round(h * scale))))
    resized = cv2.resize(img_bgr, (rw, rh), interpolation=RESIZE_INTERP)
    out = np.zeros((size, size, 3), np.uint8)
    out[:rh, :rw] = resized
    return out, scale, (rw, rh)


# --------------------------------------------------------------------------------- YuNet decoding
def decode_yunet(outputs: dict, width: int, height: int, score_threshold: float = SCORE_THRESHOLD):
    """Decode the 12 raw YuNet outputs (dict name -> array) into an (M, 15) float64 array:
    x, y, w, h, 10 landmark coords, score — in detector-input pixels, before NMS."""
    rows = []
    for s in STRIDES:
        cols_n, rows_n = width // s, height // s
        cls = outputs[f"cls_{s}"].reshape(-1).astype(np.float64)
        obj = outputs[f"obj_{s}"].reshape(-1).astype(np.float64)
        bbox = outputs[f"bbox_{s}"].reshape(-1, 4).astype(np.float64)
        kps = outputs[f"kps_{s}"].reshape(-1, 10).astype(np.float64)
        n = cols_n * rows_n
        assert cls.shape[0] == n, (s, cls.shape, n)
        score = np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1))
        keep = np.nonzero(score >= score_threshold)[0]
        if keep.size == 0:
            continue
        col = (keep % cols_n).astype(np.float64)
        row = (keep // cols_n).astype(np.float64)
        cx = (col + bbox[keep, 0]) * s
        cy = (row + bbox[keep, 1]) * s
        bw = np.exp(bbox[keep, 2]) * s
        bh = np.exp(bbox[keep, 3]) * s
        out = np.empty((keep.size, 15), np.float64)
        out[:, 0] = cx - bw / 2
        out[:, 1] = cy - bh / 2
        out[:, 2] = bw
        out[:, 3] = bh
        for k in range(5):
            out[:, 4 + 2 * k] = (col + kps[keep, 2 * k]) * s
            out[:, 5 + 2 * k] = (row + kps[keep, 2 * k + 1]) * s
        out[:, 14] = score[keep]
        rows.append(out)
    if not rows:
        return np.zeros((0, 15), np.float64)
    return np.concatenate(rows, 0)


def nms(dets: np.ndarray, iou_threshold: float = NMS_IOU, top_k: int = TOP_K) -> np.ndarray:
    """Greedy NMS by descending score (stable for ties), IoU of x,y,w,h boxes, no +1 pixel."""
    if dets.shape[0] == 0:
        return dets
    order = np.argsort(-dets[:, 14], kind="stable")[:top_k]
    x1, y1 = dets[:, 0], dets[:, 1]
    x2, y2 = x1 + dets[:, 2], y1 + dets[:, 3]
    area = dets[:, 2] * dets[:, 3]
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        iw = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        ih = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = iw * ih
        iou = inter / (area[i] + area[rest] - inter + 1e-12)
        order = rest[iou <= iou_threshold]
    return dets[keep]


def to_original(dets: np.ndarray, scale: float) -> np.ndarray:
    """Map boxes and landmarks from detector-input pixels back to original-image pixels."""
    out = dets.copy()
    out[:, :14] /= scale
    return out


# --------------------------------------------------------------------------------- face selection
def select_face(dets: np.ndarray, img_w: int, img_h: int, policy: str,
                score_threshold: float = SCORE_THRESHOLD):
    """Return the index of the chosen detection or None (no face / ambiguous for 'single')."""
    ok = np.nonzero(dets[:, 14] >= score_threshold)[0] if dets.shape[0] else np.zeros(0, int)
    if ok.size == 0:
        return None
    if policy == "largest":
        return int(ok[np.argmax(dets[ok, 2] * dets[ok, 3])])
    if policy == "center":
        cx = dets[ok, 0] + dets[ok, 2] / 2
        cy = dets[ok, 1] + dets[ok, 3] / 2
        d2 = (cx - img_w / 2.0) ** 2 + (cy - img_h / 2.0) ** 2
        return int(ok[np.argmin(d2)])
    if policy == "single":
        return int(ok[0]) if ok.size == 1 else None
    raise ValueError(f"unknown face policy {policy!r}")


# --------------------------------------------------------------------------------- alignment
def umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, translation; no reflection)
    mapping src (N,2) onto dst (N,2).  Umeyama 1991.  Returns a 2x3 float64 matrix."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    n = src.shape[0]
    mu_s, mu_d = src.mean(0), dst.mean(0)
    sc, dc = src - mu_s, dst - mu_d
    var_s = (sc ** 2).sum() / n
    cov = dc.T @ sc / n
    U, S, Vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        d[1] = -1.0
    R = U @ np.diag(d) @ Vt
    c = (S * d).sum() / var_s
    t = mu_d - c * R @ mu_s
    M = np.zeros((2, 3), np.float64)
    M[:, :2] = c * R
    M[:, 2] = t
    return M


def landmarks_of(det: np.ndarray) -> np.ndarray:
    return det[4:14].reshape(5, 2)


def align_chip(img_bgr: np.ndarray, det: np.ndarray):
    """Return (chip RGB uint8 150x150x3, 2x3 matrix original->chip)."""
    M = umeyama(landmarks_of(det), TEMPLATE)
    chip_bgr = cv2.warpAffine(img_bgr, M, (CHIP_SIZE, CHIP_SIZE), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    return cv2.cvtColor(chip_bgr, cv2.COLOR_BGR2RGB), M


def align_sface(img_bgr: np.ndarray, det: np.ndarray):
    """Return the RGB uint8 112x112 SFace chip (ArcFace template) and its 2x3 matrix."""
    M = umeyama(landmarks_of(det), ARCFACE_TEMPLATE)
    chip_bgr = cv2.warpAffine(img_bgr, M, (SFACE_SIZE, SFACE_SIZE), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    return cv2.cvtColor(chip_bgr, cv2.COLOR_BGR2RGB), M


def sface_blob(chip_rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 112x112x3 -> float32 [1,3,112,112], raw 0..255 (the graph normalises)."""
    return np.ascontiguousarray(chip_rgb.astype(np.float32).transpose(2, 0, 1)[None])


def dlib_blob(chip_rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 150x150x3 -> float32 [1,3,150,150], (pixel - mean) / 256."""
    x = (chip_rgb.astype(np.float32) - DLIB_MEAN_RGB) / np.float32(DLIB_SCALE)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


# --------------------------------------------------------------------------------- scoring
def l2n(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float64)
    return v / max(np.linalg.norm(v), 1e-12)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(l2n(a), l2n(b)))


def euclid(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))


# --------------------------------------------------------------------------------- process pool runner
import multiprocessing as _mp
import time as _time

_WORKER = None
_WORKER_POLICY = "center"


def _init_worker(factory, policy, warm_path, barrier):
    global _WORKER, _WORKER_POLICY
    cv2.setNumThreads(1)
    _WORKER = factory()
    _WORKER_POLICY = policy
    if warm_path is not None:
        data = read_bytes(warm_path)
        for _ in range(3):
            _WORKER.process_bytes(data, policy)
    barrier.wait()


def _ping(_):
    return os.getpid()


def _work(path):
    t = _time.perf_counter()
    c = _time.process_time()
    try:
        res = _WORKER.process_bytes(read_bytes(path), _WORKER_POLICY)
    except Exception as e:  # undecodable file etc.
        res = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    res["ms"] = (_time.perf_counter() - t) * 1e3
    res["cpu_ms"] = (_time.process_time() - c) * 1e3
    res["path"] = path
    return res


def cpu_busy_fraction(seconds=1.0):
    """Fraction of all cores busy over `seconds` (from /proc/stat), or None."""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v), idle
    try:
        t0, i0 = snap()
        _time.sleep(seconds)
        t1, i1 = snap()
        return 1.0 - (i1 - i0) / max(t1 - t0, 1)
    except OSError:
        return None


def wait_idle(max_busy=0.15, timeout=600.0, log=None):
    """Wait until the machine is (nearly) idle, at most `timeout` seconds.  Returns last busy fraction."""
    t_end = _time.time() + timeout
    while True:
        b = cpu_busy_fraction(2.0)
        if b is None or b <= max_busy or _time.time() > t_end:
            return b
        if log:
            log(f"machine {b:.0%} busy with other work; waiting for it to go idle")


def run_pool(factory, paths, policy="center", workers=None, chunksize=4):
    """Run factory().process_bytes over all paths in a Pool(workers) of single-threaded workers.

    Model loading and a 3-image warm-up in every worker happen before the clock starts; the timed
    part is read file + decode + detect + align + embed for every path.  Returns (results, info)."""
    workers = workers or os.cpu_count() or 1
    busy_before = cpu_busy_fraction(1.0)
    load_before = os.getloadavg()
    ctx = _mp.get_context("fork")
    barrier = ctx.Barrier(workers)
    warm = paths[0] if paths else None
    with ctx.Pool(workers, initializer=_init_worker, initargs=(factory, policy, warm, barrier)) as pool:
        pool.map(_ping, range(workers), chunksize=1)   # returns only once every worker is warm
        t0 = _time.perf_counter()
        results = pool.map(_work, paths, chunksize=chunksize)
        wall = _time.perf_counter() - t0
    ms = sorted(r["ms"] for r in results)
    cpu_total = sum(r["cpu_ms"] for r in results) / 1e3
    info = {
        "images": len(paths),
        "workers": workers,
        "wall_s": wall,
        "images_per_s": len(paths) / wall if wall > 0 else None,
        "per_image_ms_median": ms[len(ms) // 2] if ms else None,
        "per_image_ms_p95": ms[min(len(ms) - 1, int(0.95 * len(ms)))] if ms else None,
        "no_face": sum(1 for r in results if not r["ok"]),
        # contention check: worker CPU time / worker wall time ~ 1.0 when the cores were ours alone
        "cpu_over_wall_in_workers": cpu_total / (sum(ms) / 1e3) if ms else None,
        # images/s if each worker had kept a core to itself (from CPU time, not wall)
        "images_per_s_cpu_bound": workers * len(paths) / cpu_total if cpu_total > 0 else None,
        "machine_busy_before": busy_before,
        "loadavg_before": load_before,
    }
    return results, info
