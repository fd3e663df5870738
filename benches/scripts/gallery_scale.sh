#!/usr/bin/env bash
# The national-scale gallery measurement of docs/batch.md: a synthetic province of N entries
# next to the demo gallery, 100,000 requests against it, peak RSS / bytes read / lookup time.
#
#   benches/scripts/gallery_scale.sh WORKDIR N [ENCODING]     e.g. /tmp/scale 1000000 f16
#
# Needs the demo gallery (`cargo run --release -p ikd-pipelines --bin ikd -- demo` writes
# demo-out/gallery-db) and about 1.1 KB (f16) of disk per entry, twice while compacting.
set -euo pipefail
work=$1
n=$2
enc=${3:-f16}
ikd=${IKD:-target/release/ikd}
demo=${DEMO_GALLERY:-demo-out/gallery-db}
g="$work/g-$n-$enc"
mkdir -p "$work"
rm -rf "$g" "$work/out-$n-$enc"
cp -r "$demo" "$g"
"$ikd" gallery synthesize --like "$demo" --out "$g" --province 31 --entries "$n" --encoding "$enc" \
  --requests 100000 --requests-out "$work/req-$n-$enc.csv" > "$work/synthesize-$n-$enc.json"
"$ikd" gallery compact "$g" > "$work/compact-$n-$enc.json"
# Cold page cache when allowed (root), so bytes come from the disk.
sync && (echo 3 > /proc/sys/vm/drop_caches) 2>/dev/null || true
/usr/bin/time -v "$ikd" run --requests "$work/req-$n-$enc.csv" --gallery "$g" --out "$work/out-$n-$enc" \
  --no-progress-bar --print-summary > "$work/run-$n-$enc.json" 2> "$work/run-$n-$enc.err"
python3 - "$work/run-$n-$enc.json" "$work/run-$n-$enc.err" "$g" <<'PY'
import json, os, re, sys
s = json.load(open(sys.argv[1])); t = s["this_invocation"]; g = t["gallery"]
err = open(sys.argv[2]).read()
inputs = int(re.search(r"File system inputs: (\d+)", err).group(1))
size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(sys.argv[3]) for f in fs)
print(json.dumps({
    "entries": g["entries"], "requests": s["rows"], "reasons": s["reasons"],
    "peak_rss_mib": round(t["peak_rss_bytes"] / 2**20, 1),
    "gallery_bytes_on_disk": size,
    "gallery_bytes_read": g["bytes_read"],
    "disk_bytes_read_cold": inputs * 512,
    "bytes_read_per_request": round(g["bytes_read"] / s["rows"]),
    "lookup_seconds": round(g["lookup_seconds"], 2),
    "lookup_us_per_request": round(g["lookup_seconds"] / s["rows"] * 1e6, 1),
    "row_groups": g["row_groups"], "rows_decoded": g["rows_decoded"],
    "page_index_cache_hits": g["page_index_cache_hits"], "page_index_cache_misses": g["page_index_cache_misses"],
    "footer_mib_in_memory": round(g["footer_bytes_in_memory"] / 2**20, 2),
    "run_seconds": round(t["wall_seconds"], 1),
}, indent=1))
PY
