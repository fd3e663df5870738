#!/usr/bin/env bash
# Per-operator profiles of every model the engine runs, in tract and in ONNX Runtime, one
# thread each, written to docs/profiles/<model>.<runtime>.md (summarised in docs/profiles.md).
#
#   cargo build --release -p ikd-benches --example profile_tract
#   benches/peers/setup.sh            # the venv with onnxruntime
#   benches/scripts/profile_models.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=docs/profiles
mkdir -p "$OUT"
PY=benches/peers/.venv/bin/python
while read -r name file w h; do
  target/release/examples/profile_tract "models/$file" "$w" "$h" > "$OUT/$name.tract.md"
  "$PY" benches/peers/profile_ort.py "models/$file" "$w" "$h" > "$OUT/$name.onnxruntime.md"
  echo "$name: tract $(grep -o '\*\*[0-9.]* ms' "$OUT/$name.tract.md"), onnxruntime $(grep -o '\*\*[0-9.]* ms' "$OUT/$name.onnxruntime.md")"
done <<'MODELS'
yunet-320x320 face_detection_yunet_2026may.onnx 320 320
yunet-320x256 face_detection_yunet_2026may.onnx 320 256
yunet-256x320 face_detection_yunet_2026may.onnx 256 320
omz-0095 face-reidentification-retail-0095.prepared.onnx 128 128
sface-2021dec face_recognition_sface_2021dec.prepared.onnx 112 112
dlib-resnet-v1 dlib_face_recognition_resnet_model_v1.prepared.onnx 150 150
MODELS
