#!/usr/bin/env bash
# A/B of tract's load- and run-time settings on every model the engine runs: each setting is
# run REPS times interleaved with the others (these machines are noisy), and the median of the
# whole-call medians is printed, with its ratio to the default.
#
#   cargo build --release -p ikd-benches --example profile_tract
#   benches/scripts/tract_knobs.sh [REPS]          (default 5)
set -euo pipefail
cd "$(dirname "$0")/../.."
P=target/release/examples/profile_tract
REPS="${1:-5}"
MODELS=("models/face_detection_yunet_2026may.onnx 320 320"
        "models/face-reidentification-retail-0095.prepared.onnx 128 128"
        "models/face_recognition_sface_2021dec.prepared.onnx 112 112"
        "models/dlib_face_recognition_resnet_model_v1.prepared.onnx 150 150")
# "env" alone is tract's default; each other entry is one knob (see tract_linalg::knobs) or a
# transform applied before optimisation.
CONFIGS=("default|" "TRACT_ENABLE_BLOCKED_CONV=1|" "TRACT_DISABLE_DIRECT_SPATIAL=1|"
         "TRACT_LAZY_IM2COL_MIN_KERNEL=1|" "TRACT_AVX512_FMA_UNITS=1|" "TRACT_AMX_BF16=1|"
         "TRACT_CPU_ISA=-avx512f|" "default|--transform conv_nhwc")
declare -A T
for ((r = 0; r < REPS; r++)); do
  for m in "${MODELS[@]}"; do
    for c in "${CONFIGS[@]}"; do
      knob="${c%%|*}"; extra="${c#*|}"
      envs=(); [ "$knob" != default ] && envs=("$knob")
      # shellcheck disable=SC2086
      ms=$(env "${envs[@]}" $P $m --runs 20 $extra 2>/dev/null | grep -o 'median of [0-9]*: \*\*[0-9.]*' | grep -o '[0-9.]*$' || echo nan)
      T["$m|$c"]+="$ms "
    done
  done
done
printf '| setting | %s |\n|---|---|---|---|---|\n' "YuNet 320² | 0095 | SFace | dlib"
for c in "${CONFIGS[@]}"; do
  row="| ${c%%|*} ${c#*|} |"
  for m in "${MODELS[@]}"; do
    med=$(echo ${T["$m|$c"]} | tr ' ' '\n' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    base=$(echo ${T["$m|${CONFIGS[0]}"]} | tr ' ' '\n' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    row+=" $med ms ($(awk -v a="$med" -v b="$base" 'BEGIN {printf "%.2f", a / b}')×) |"
  done
  echo "$row"
done
