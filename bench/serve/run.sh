#!/usr/bin/env bash
# binscan serve under load: 1, 8 and 32 concurrent clients (bench/serve/load.py, Python requests
# with keep-alive) posting the trash-bin photos to a random-weight ResNet-50-shaped model, next
# to the two references of issue 11:
#   - the whole-scan rate of `binscan scan` on the same photos (goal at 32 clients: >= 0.9x);
#   - decode + prepare + model at batch 1 (t_pre from scan --decode-only --batch 1, t_model from
#     binscan bench --batch 1; goal for p50 at 1 client: <= 1.1x their sum).
#
#   bench/serve/run.sh [REQUESTS_PER_LEVEL] [PHOTOS]   (BUILD_DIR=build; THREADS=all cores; BATCH=8)
set -euo pipefail
cd "$(dirname "$0")/../.."
build_dir=${BUILD_DIR:-build}
requests=${1:-64}
photos=${2:-../shared/data/photos/trash-bin}
batch=${BATCH:-8}
threads=${THREADS:-$(nproc)}
work=${BENCH_WORK:-${TMPDIR:-/tmp}/binscan-bench-serve}
mkdir -p "$work"

# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_binscan "$build_dir"
bench_resnet50 "$work"
mapfile -t files < <(find "$photos" -type f -name '*.jp*g' | sort)
json_field() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

echo "references ..." >&2
rm -f "$work/scan.db"*
scan_s=$("$binscan" scan "$photos" --model "$model" --db "$work/scan.db" --quiet --batch "$batch" \
  --threads "$threads" --format json | json_field '["seconds"]')
pre_s=$("$binscan" scan "$photos" --model "$model" --decode-only --quiet --batch 1 --threads 1 \
  --format json | /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["seconds"]/j["photos"])')
model_ips=$("$binscan" bench --model "$model" --batch 1 --threads "$threads" --iterations 30 --warmup 5 \
  --format json | json_field '["images_per_second"]')

log="$work/serve.log"
"$binscan" serve -m "$model" --port 0 --batch "$batch" --threads "$threads" --quiet 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 600); do grep -q "listening on" "$log" && break; sleep 0.1; done
url="$(grep -o 'http://[^ ]*' "$log" | head -1)/models/resnet-50"

results=()
for clients in 1 8 32; do
  echo "$clients clients ..." >&2
  /usr/bin/python3 bench/serve/load.py "$url" 4 8 "${files[@]}" >/dev/null  # warm-up
  results+=("$(/usr/bin/python3 bench/serve/load.py "$url" "$clients" "$requests" "${files[@]}")")
done
kill -TERM $pid
wait $pid

/usr/bin/python3 - "${#files[@]}" "$scan_s" "$pre_s" "$model_ips" "$photos" "${results[@]}" <<'PY'
import json, sys
n, scan_s, pre_s, model_ips, photos = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
runs = [json.loads(x) for x in sys.argv[6:]]
scan_rate = n / scan_s
single = 1000 * (pre_s + 1 / model_ips)
print(f"{photos}: {n} photos, random-weight resnet-50")
print(f"whole scan (binscan scan): {scan_rate:.2f} photos/s; decode+prepare+model at batch 1: {single:.0f} ms")
print()
print("| clients | requests | images/s | vs scan | p50 ms | p99 ms | statuses |")
print("|--:|--:|--:|--:|--:|--:|---|")
for r in runs:
    print(f"| {r['clients']} | {r['requests']} | {r['images_per_second']:.2f} | {r['images_per_second']/scan_rate:.2f}x "
          f"| {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | {r['status']} |")
one = runs[0]
print()
print(f"goal 1: 32 clients >= 0.9x scan: {runs[-1]['images_per_second']/scan_rate:.2f}x")
print(f"goal 2: p50 at 1 client <= 1.1x decode+prepare+model at batch 1: {one['p50_ms']/single:.2f}x")
PY
