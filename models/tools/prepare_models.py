#!/usr/bin/env python3
"""Prepare the published embedder files for inference: exact graph rewrites, checked.

    benches/peers/.venv/bin/python models/tools/prepare_models.py [--check-only]

For each model below it reads the published ONNX file (verified by SHA-256), applies rewrites
that do not change what the network computes, writes `<name>.prepared.onnx` next to it, and
checks the result: onnx.checker, then onnxruntime on the reference chips of
datasets/reference/embedders.json (real faces, each model's own alignment), where the prepared
model's output must reach cosine >= 0.99999 with the published model's. It prints the new
SHA-256 for models/manifest.toml. The rewrites, in order:

  1. weights out of the graph inputs (SFace's old exporter lists all 174 initializers as inputs
     too, which keeps onnxruntime from treating them as constants and logs a warning each);
  2. Dropout removed (inference is the identity);
  3. BatchNormalization folded into the preceding Conv (the depthwise ones included: the scale
     is per output channel either way), and into a following or preceding Gemm where the
     tensor in between is only reshaped;
  4. a per-channel affine after a Conv (dlib's Mul + Add, 0095's bias Add) folded into the
     Conv's weights and bias;
  5. a zero Pad before a Conv folded into the Conv's own pads;
  6. initializers no node reads any more dropped.

Everything is float32 arithmetic done in float64 and rounded once; the network's input
normalisation (SFace's Sub/Mul, 0095's Mul/Add) stays as it is, because the first Conv pads
with zeros after it and folding it would change the border.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.dirname(HERE)
REPO = os.path.dirname(MODELS)

PUBLISHED = [  # (manifest id, file, sha256 of the published file)
    ("sface-2021dec", "face_recognition_sface_2021dec.onnx",
     "0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79"),
    ("omz-0095", "face-reidentification-retail-0095.onnx",
     "56aac12f1a1da11c7e0b514ee1ef11ca45d189db6dbc65c31ae3ef7d3d0d56ff"),
    ("dlib-resnet-v1", "dlib_face_recognition_resnet_model_v1.onnx",
     "db47eb2f67840ac79c92d941d4a51c49ac89b2c0563c4953bf05544c7f6e6588"),
]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


class Graph:
    """A small mutable view of an ONNX graph: nodes, initializers as numpy arrays."""

    def __init__(self, model):
        self.model = model
        self.g = model.graph
        self.inits = {i.name: numpy_helper.to_array(i).astype(np.float64) if i.data_type == onnx.TensorProto.FLOAT
                      else numpy_helper.to_array(i) for i in self.g.initializer}
        self.dtypes = {i.name: i.data_type for i in self.g.initializer}
        self.nodes = list(self.g.node)
        self.log = []

    def consumers(self, name):
        return [n for n in self.nodes if name in n.input]

    def producer(self, name):
        for n in self.nodes:
            if name in n.output:
                return n
        return None

    def is_output(self, name):
        return any(o.name == name for o in self.g.output)

    def const(self, name):
        return self.inits.get(name)

    def new_init(self, base, array):
        name = base
        k = 0
        while name in self.inits:
            k += 1
            name = f"{base}_{k}"
        self.inits[name] = array
        self.dtypes[name] = onnx.TensorProto.FLOAT
        return name

    def rename_input(self, old, new):
        """Every consumer of `old` reads `new` instead (and a graph output keeps its name)."""
        for n in self.nodes:
            for i, x in enumerate(n.input):
                if x == old:
                    n.input[i] = new

    def drop(self, node):
        self.nodes.remove(node)

    def single_consumer(self, name):
        c = self.consumers(name)
        return c[0] if len(c) == 1 and not self.is_output(name) else None

    def finish(self):
        used = {x for n in self.nodes for x in n.input}
        del self.g.node[:]
        self.g.node.extend(self.nodes)
        del self.g.initializer[:]
        for name, arr in self.inits.items():
            if name not in used:
                continue
            if self.dtypes.get(name) == onnx.TensorProto.FLOAT:
                arr = arr.astype(np.float32)
            self.g.initializer.append(numpy_helper.from_array(arr, name))
        inits = {i.name for i in self.g.initializer}
        keep = [i for i in self.g.input if i.name not in inits and i.name in used | {o.name for o in self.g.output}]
        del self.g.input[:]
        self.g.input.extend(keep)
        return self.model


def attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def set_attr(node, name, value):
    for a in list(node.attribute):
        if a.name == name:
            node.attribute.remove(a)
    node.attribute.append(helper.make_attribute(name, value))


def conv_weight_bias(G, conv):
    w = G.const(conv.input[1])
    b = G.const(conv.input[2]) if len(conv.input) > 2 and conv.input[2] else np.zeros(w.shape[0])
    return w, b


def replace_conv_params(G, conv, w, b):
    x = conv.input[0]
    wname = G.new_init(conv.output[0] + "_W", w)
    bname = G.new_init(conv.output[0] + "_B", b)
    del conv.input[:]
    conv.input.extend([x, wname, bname])


def per_channel(arr, channels):
    """A constant that broadcasts per channel over NCHW ([C], [C,1,1], [1,C,1,1] or scalar)."""
    if arr is None:
        return None
    a = np.asarray(arr, np.float64)
    if a.size == 1:
        return np.full(channels, float(a.reshape(-1)[0]))
    flat = a.reshape(-1)
    if flat.size != channels:
        return None
    ok = a.shape in [(channels,), (channels, 1, 1), (1, channels, 1, 1)]
    return flat if ok else None


def fold_bn_into_conv(G):
    n = 0
    for bn in [x for x in G.nodes if x.op_type == "BatchNormalization"]:
        conv = G.producer(bn.input[0])
        if conv is None or conv.op_type != "Conv" or G.single_consumer(conv.output[0]) is not bn:
            continue
        gamma, beta, mean, var = (G.const(bn.input[i]) for i in range(1, 5))
        if any(v is None for v in (gamma, beta, mean, var)) or G.const(conv.input[1]) is None:
            continue
        eps = attr(bn, "epsilon", 1e-5)
        s = gamma / np.sqrt(var + eps)
        w, b = conv_weight_bias(G, conv)
        replace_conv_params(G, conv, w * s[:, None, None, None], (b - mean) * s + beta)
        if G.is_output(bn.output[0]):
            conv.output[0] = bn.output[0]
        else:
            G.rename_input(bn.output[0], conv.output[0])
        G.drop(bn)
        n += 1
    G.log.append(f"BatchNormalization folded into Conv: {n}")


def fold_affine_into_conv(G):
    """Conv -> Mul(per-channel) [-> Add(per-channel)] and Conv -> Add(per-channel)."""
    n = 0
    changed = True
    while changed:
        changed = False
        for conv in [x for x in G.nodes if x.op_type == "Conv"]:
            nxt = G.single_consumer(conv.output[0])
            if nxt is None or nxt.op_type not in ("Mul", "Add") or G.const(conv.input[1]) is None:
                continue
            other = [i for i in nxt.input if i != conv.output[0]]
            if len(other) != 1:
                continue
            w, b = conv_weight_bias(G, conv)
            c = per_channel(G.const(other[0]), w.shape[0])
            if c is None:
                continue
            if nxt.op_type == "Mul":
                w, b = w * c[:, None, None, None], b * c
            else:
                b = b + c
            replace_conv_params(G, conv, w, b)
            out = nxt.output[0]
            if G.is_output(out):
                conv.output[0] = out
            else:
                G.rename_input(out, conv.output[0])
            G.drop(nxt)
            n += 1
            changed = True
            break
    G.log.append(f"per-channel Mul/Add folded into Conv: {n}")


def fold_pad_into_conv(G):
    n = 0
    for pad in [x for x in G.nodes if x.op_type == "Pad"]:
        conv = G.single_consumer(pad.output[0])
        if conv is None or conv.op_type != "Conv":
            continue
        mode = attr(pad, "mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        pads = G.const(pad.input[1]) if len(pad.input) > 1 else attr(pad, "pads")
        value = G.const(pad.input[2]) if len(pad.input) > 2 and pad.input[2] else 0.0
        if mode != "constant" or pads is None or float(np.asarray(value).reshape(-1)[0] if np.size(value) else 0) != 0:
            continue
        pads = [int(p) for p in np.asarray(pads).reshape(-1)]
        if len(pads) != 8 or any(pads[i] != 0 for i in (0, 1, 4, 5)) or min(pads) < 0:
            continue
        cp = list(attr(conv, "pads", [0, 0, 0, 0]))
        if attr(conv, "auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            continue
        new = [cp[0] + pads[2], cp[1] + pads[3], cp[2] + pads[6], cp[3] + pads[7]]
        set_attr(conv, "pads", new)
        conv.input[0] = pad.input[0]
        G.drop(pad)
        n += 1
    G.log.append(f"zero Pad folded into Conv: {n}")


def remove_dropout(G):
    n = 0
    for d in [x for x in G.nodes if x.op_type == "Dropout"]:
        G.rename_input(d.output[0], d.input[0])
        G.drop(d)
        n += 1
    G.log.append(f"Dropout removed: {n}")


def fold_bn_around_gemm(G):
    """BN after a Gemm (transB=1), and BN before Flatten -> Gemm (per input channel)."""
    n = 0
    for bn in [x for x in G.nodes if x.op_type == "BatchNormalization"]:
        gamma, beta, mean, var = (G.const(bn.input[i]) for i in range(1, 5))
        if any(v is None for v in (gamma, beta, mean, var)):
            continue
        eps = attr(bn, "epsilon", 1e-5)
        s = gamma / np.sqrt(var + eps)
        t = beta - mean * s  # BN(x) = s * x + t per channel
        prev = G.producer(bn.input[0])
        if prev is not None and prev.op_type == "Gemm" and G.single_consumer(prev.output[0]) is bn \
                and attr(prev, "transB", 0) == 1 and attr(prev, "alpha", 1.0) == 1.0 and attr(prev, "beta", 1.0) == 1.0:
            w, b = G.const(prev.input[1]), G.const(prev.input[2])
            if w is not None and b is not None:
                x = prev.input[0]
                del prev.input[:]
                prev.input.extend([x, G.new_init(prev.output[0] + "_W", w * s[:, None]),
                                   G.new_init(prev.output[0] + "_B", b * s + t)])
                if G.is_output(bn.output[0]):
                    prev.output[0] = bn.output[0]
                else:
                    G.rename_input(bn.output[0], prev.output[0])
                G.drop(bn)
                n += 1
                continue
        flat = G.single_consumer(bn.output[0])
        gemm = G.single_consumer(flat.output[0]) if flat is not None and flat.op_type == "Flatten" else None
        if gemm is not None and gemm.op_type == "Gemm" and attr(gemm, "transB", 0) == 1 \
                and attr(gemm, "alpha", 1.0) == 1.0 and attr(gemm, "beta", 1.0) == 1.0:
            w, b = G.const(gemm.input[1]), G.const(gemm.input[2])
            if w is None or b is None or w.shape[1] % s.size != 0:
                continue
            hw = w.shape[1] // s.size
            se, te = np.repeat(s, hw), np.repeat(t, hw)  # NCHW flatten: index = c*H*W + h*W + w
            x = gemm.input[0]
            del gemm.input[:]
            gemm.input.extend([x, G.new_init(gemm.output[0] + "_W", w * se[None, :]),
                               G.new_init(gemm.output[0] + "_B", b + w @ te)])
            flat.input[0] = bn.input[0]
            G.drop(bn)
            n += 1
    G.log.append(f"BatchNormalization folded into Gemm: {n}")


def rewrite_prelu(G):
    """PRelu as ops tract runs fast (the profile in docs/profiles.md).

    tract lowers PRelu to a broadcast comparison, a select and a multiply, which took 40-48 %
    of 0095's and SFace's time. A scalar slope is exactly LeakyRelu (one fused kernel); a
    per-channel slope becomes Relu(x) + slope * Min(x, 0), which tract fuses into two
    element-wise chains. Both are the same function, bit for bit up to float rounding.
    """
    from onnx import helper
    leaky = split = 0
    zero = None
    for node in [x for x in G.nodes if x.op_type == "PRelu"]:
        x, s = node.input
        y = node.output[0]
        slope = G.const(s)
        if slope is None:
            continue
        at = G.nodes.index(node)
        base = node.name or y
        if slope.size == 1:
            new = [helper.make_node("LeakyRelu", [x], [y], alpha=float(np.float32(slope.reshape(-1)[0])),
                                    name=base)]
            leaky += 1
        else:
            if zero is None:
                zero = G.new_init("prelu_zero", np.array(0.0))
            new = [helper.make_node("Relu", [x], [y + "_pos"], name=base + "_pos"),
                   helper.make_node("Min", [x, zero], [y + "_neg"], name=base + "_neg"),
                   helper.make_node("Mul", [y + "_neg", s], [y + "_negs"], name=base + "_negs"),
                   helper.make_node("Add", [y + "_pos", y + "_negs"], [y], name=base + "_sum")]
            split += 1
        G.nodes[at:at + 1] = new
    G.log.append(f"PRelu rewritten: {leaky} as LeakyRelu (scalar slope), {split} as Relu + slope * Min(x, 0)")


def prepare(src_path):
    model = onnx.load(src_path)
    G = Graph(model)
    before = len(G.nodes)
    n_inputs = len(model.graph.input)
    remove_dropout(G)
    fold_bn_into_conv(G)
    fold_bn_around_gemm(G)
    fold_affine_into_conv(G)
    fold_pad_into_conv(G)
    rewrite_prelu(G)
    out = G.finish()
    G.log.insert(0, f"graph inputs {n_inputs} -> {len(out.graph.input)}")
    G.log.append(f"nodes {before} -> {len(out.graph.node)}")
    onnx.checker.check_model(out)
    return out, G.log


def check(prepared_path, published_path, model_id):
    import onnxruntime as ort
    with open(os.path.join(REPO, "datasets", "reference", "embedders.json")) as f:
        ref = json.load(f)
    import tomllib
    with open(os.path.join(MODELS, "manifest.toml"), "rb") as f:
        spec = next(m for m in tomllib.load(f)["model"] if m["id"] == model_id)
    from PIL import Image
    o = ort.SessionOptions()
    o.intra_op_num_threads = 1
    o.log_severity_level = 3
    sessions = [ort.InferenceSession(p, o, providers=["CPUExecutionProvider"]) for p in (published_path, prepared_path)]
    worst = 1.0
    for im in ref["images"]:
        chip = np.asarray(Image.open(os.path.join(REPO, im["embedders"][model_id]["chip"])).convert("RGB"), np.float32)
        if spec["colour_order"] == "bgr":
            chip = chip[:, :, ::-1]
        x = (chip - np.array(spec["mean"], np.float32)) / np.array(spec["std"], np.float32)
        x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
        a, b = (s.run(None, {s.get_inputs()[0].name: x})[0].reshape(-1).astype(np.float64) for s in sessions)
        c = float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
        worst = min(worst, c)
    return worst


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check-only", action="store_true", help="only check the prepared files on disk")
    ap.add_argument("--only", help="comma-separated manifest ids")
    a = ap.parse_args()
    only = set(a.only.split(",")) if a.only else None
    for model_id, name, expected in PUBLISHED:
        if only and model_id not in only:
            continue
        src = os.path.join(MODELS, name)
        actual = sha256(src)
        if actual != expected:
            sys.exit(f"{name}: SHA-256 {actual}, expected the published {expected}")
        dst = os.path.join(MODELS, name.replace(".onnx", ".prepared.onnx"))
        if not a.check_only:
            out, log = prepare(src)
            onnx.save(out, dst)
            print(f"{name}:")
            for line in log:
                print(f"  {line}")
        worst = check(dst, src, model_id)
        print(f"  {os.path.basename(dst)} sha256 {sha256(dst)}; min cosine to the published model on "
              f"{model_id}'s reference chips {worst:.8f}")
        if worst < 0.99999:
            sys.exit(f"{dst}: cosine {worst} < 0.99999")


if __name__ == "__main__":
    main()
