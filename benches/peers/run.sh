#!/usr/bin/env bash
# One command: set up the venv, then compare the peer pipelines (and ikd, if given) on a pairs CSV.
#
#   benches/peers/run.sh [PAIRS.csv] [compare_peers.py options...]
#
# PAIRS.csv defaults to LFW view 1 (shared/data/faces/lfw_view1/pairs_view1.csv) when present,
# else to a pair list made from the bundled ORL faces (upscaled x3 and padded, in a temp dir).
# Set IKD=path/to/ikd to include ikd (e.g. IKD=target/release/ikd).  Results: benches/peers/out/.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
"$HERE/setup.sh"
PY="$HERE/.venv/bin/python"

PAIRS=""
if [ $# -gt 0 ] && [[ "$1" != --* ]]; then PAIRS="$1"; shift; fi
if [ -z "$PAIRS" ]; then
  for cand in "${LFW_VIEW1:-}" "$REPO/../shared/data/faces/lfw_view1/pairs_view1.csv" /work/shared/data/faces/lfw_view1/pairs_view1.csv; do
    if [ -n "$cand" ] && [ -f "$cand" ]; then PAIRS="$cand"; break; fi
  done
fi
if [ -z "$PAIRS" ]; then
  TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
  "$PY" "$HERE/make_orl_pairs.py" "$TMP/orl"
  PAIRS="$TMP/orl/pairs.csv"
fi
OUT="${OUT:-$HERE/out}"; mkdir -p "$OUT"
NAME="$(basename "$(dirname "$PAIRS")")"
ARGS=(--json "$OUT/$NAME.json" --scores-out "$OUT/$NAME.scores.csv")
if [ -n "${IKD:-}" ]; then ARGS+=(--ikd "$IKD"); fi
echo "[run] pairs: $PAIRS" >&2
exec "$PY" "$HERE/compare_peers.py" "$PAIRS" "${ARGS[@]}" "$@" 2> >(grep -v 'WARN:' >&2)
