#!/usr/bin/env python3
"""Per-operator profile of one ONNX model in ONNX Runtime (the counterpart of
benches/examples/profile_tract.rs), one thread, all graph optimisations on.

    benches/peers/.venv/bin/python benches/peers/profile_ort.py MODEL.onnx W H [--runs 50]

Prints markdown: whole call (median), time per operator kind and the 15 most expensive nodes
(medians over runs, from ONNX Runtime's own profiler, warm-up excluded).
"""
import argparse
import collections
import json
import os
import statistics
import tempfile
import time

import numpy as np
import onnxruntime as ort


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("width", type=int)
    ap.add_argument("height", type=int)
    ap.add_argument("--runs", type=int, default=50)
    a = ap.parse_args()
    x = np.random.default_rng(0).random((1, 3, a.height, a.width), dtype=np.float32)
    o = ort.SessionOptions()
    o.intra_op_num_threads = 1
    o.inter_op_num_threads = 1
    o.log_severity_level = 3
    plain = ort.InferenceSession(a.model, o, providers=["CPUExecutionProvider"])
    name = plain.get_inputs()[0].name
    for _ in range(5):
        plain.run(None, {name: x})
    whole = []
    for _ in range(a.runs):
        t = time.perf_counter()
        plain.run(None, {name: x})
        whole.append((time.perf_counter() - t) * 1e3)
    with tempfile.TemporaryDirectory() as tmp:
        o.enable_profiling = True
        o.profile_file_prefix = os.path.join(tmp, "ort")
        s = ort.InferenceSession(a.model, o, providers=["CPUExecutionProvider"])
        for _ in range(5 + a.runs):
            s.run(None, {name: x})
        with open(s.end_profiling()) as f:
            events = json.load(f)
    per_node = collections.defaultdict(list)
    op_of = {}
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            node = e["name"][: -len("_kernel_time")]
            per_node[node].append(e["dur"] / 1e3)
            op_of[node] = e["args"].get("op_name", "?")
    rows = [(op_of[n], n, statistics.median(t[5:] or t)) for n, t in per_node.items()]
    total = sum(r[2] for r in rows)
    print(f"## {os.path.basename(a.model)} at {a.width}x{a.height} in onnxruntime {ort.__version__}\n")
    print(f"whole call, median of {a.runs}: **{statistics.median(whole):.2f} ms**; "
          f"sum of per-node medians {total:.2f} ms\n")
    by_op = collections.defaultdict(lambda: [0, 0.0])
    for op, _, ms in rows:
        by_op[op][0] += 1
        by_op[op][1] += ms
    print("| operator | nodes | ms | share |\n|---|---|---|---|")
    for op, (n, ms) in sorted(by_op.items(), key=lambda kv: -kv[1][1]):
        print(f"| {op} | {n} | {ms:.2f} | {100 * ms / max(total, 1e-9):.1f} % |")
    print("\n| top nodes | operator | ms |\n|---|---|---|")
    for op, n, ms in sorted(rows, key=lambda r: -r[2])[:15]:
        print(f"| {n} | {op} | {ms:.3f} |")


if __name__ == "__main__":
    main()
