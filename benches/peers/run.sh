#!/usr/bin/env bash
# One command: set up the venv, then compare the peer pipelines (and ikd, if given) on a pairs CSV.
#
#   benches/peers/run.sh [PAIRS.csv] [compare_peers.py options...]
#
# PAIRS.csv defaults to LFW view 1 (shared/data/faces/lfw_view1/pairs_view1.csv) when present,
# else (or when PAIRS.csv is the word `orl`) to a pair list made from the bundled ORL faces
# (upscaled x3 and padded, in a temp dir; 1,800 same / 78,000 different pairs).
# ikd is included when IKD=path/to/ikd is set or target/release/ikd exists, once with its default
# tract backend and once with --backend onnxruntime (build: cargo build --release -p ikd-pipelines
# --features onnxruntime).  Results: benches/peers/out/.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
"$HERE/setup.sh"
PY="$HERE/.venv/bin/python"

PAIRS=""
if [ $# -gt 0 ] && [[ "$1" != --* ]]; then PAIRS="$1"; shift; fi
if [ "$PAIRS" = "orl" ]; then PAIRS=""; NO_LFW=1; fi
if [ -z "$PAIRS" ] && [ -z "${NO_LFW:-}" ]; then
  for cand in "${LFW_VIEW1:-}" "$REPO/../shared/data/faces/lfw_view1/pairs_view1.csv" /work/shared/data/faces/lfw_view1/pairs_view1.csv; do
    if [ -n "$cand" ] && [ -f "$cand" ]; then PAIRS="$cand"; break; fi
  done
fi
if [ -z "$PAIRS" ]; then
  TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
  "$PY" "$HERE/make_orl_pairs.py" "$TMP/orl"
  PAIRS="$TMP/orl/pairs.csv"
  NAME=orl
fi
OUT="${OUT:-$HERE/out}"; mkdir -p "$OUT"
NAME="${NAME:-$(basename "$(dirname "$PAIRS")")}"
ARGS=(--json "$OUT/$NAME.json" --scores-out "$OUT/$NAME.scores.csv")
if [ -z "${IKD:-}" ] && [ -x "$REPO/target/release/ikd" ]; then IKD="$REPO/target/release/ikd"; fi
if [ -n "${IKD:-}" ]; then ARGS+=(--ikd "$IKD"); fi
# ikd's ONNX Runtime backend runs on the very library the Python pipeline uses (the venv's wheel);
# it needs an ikd built with `--features onnxruntime`, else that row reports the error.
ORT_LIB="$(ls "$HERE"/.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* 2>/dev/null | head -n 1 || true)"
if [ -n "${IKD:-}" ] && [ -n "$ORT_LIB" ]; then ARGS+=(--ikd-ort-lib "$ORT_LIB"); fi
echo "[run] pairs: $PAIRS" >&2
# (OpenCV 5 prints a harmless "[ WARN:0@...]" line per worker; filtered out)
"$PY" "$HERE/compare_peers.py" "$PAIRS" "${ARGS[@]}" "$@" 2> >(grep --line-buffered -v 'WARN:' >&2)
