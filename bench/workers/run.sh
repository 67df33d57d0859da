#!/usr/bin/env bash
# Workers on a PostgreSQL survey (issue 14), in a throw-away cluster (scripts/pg-sandbox):
#  1. one `binscan work` at --threads 1 against two at --threads 1 each, on the trash-bin photos
#     with a random-weight ResNet-50-shaped checkpoint (goal on a 2-core machine: >= 1.8x);
#  2. the queue alone: 16 processes claiming and committing with a classifier that does no work
#     (bench/workers/queue_bench; goal >= 1,000 photos/s).
#
#   bench/workers/run.sh [ROUNDS]   (BUILD_DIR=build; PHOTOS=folder; COPIES=16; QUEUE_PHOTOS=20000)
#
# The photos are taken COPIES times over, each copy with a few bytes after the JPEG's end (which
# decoders ignore) so its content hash differs and it is classified again: 25 photos would take
# about a second, too short next to loading the model. Each round queues them afresh (a new
# database) and times from the workers' start to the last one's end, model loading included
# (each worker loads its model once). `--threads 1` keeps a worker on one core: its decoding and
# its model take turns (PipelineOptions::one_core).
set -euo pipefail
cd "$(dirname "$0")/../.."
build_dir=${BUILD_DIR:-build}
rounds=${1:-3}
source_photos=${PHOTOS:-../shared/data/photos/trash-bin}
copies=${COPIES:-16}
work=${BENCH_WORK:-${TMPDIR:-/tmp}/binscan-bench-workers}
mkdir -p "$work"
chmod 755 "$work"
photos="$work/photos"
# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_copies "$source_photos" "$photos" "$copies"
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j 2 --target binscan queue_bench >/dev/null
binscan="$build_dir/binscan"
model="$work/resnet-50"
if [[ ! -f "$model/model.safetensors" ]]; then
  echo "making the random-weight resnet-50 checkpoint in $model (once) ..." >&2
  /usr/bin/python3 tests/reference/make_checkpoint.py --preset resnet-50 --out "$model" >/dev/null
fi
cluster="$work/pg"
trap 'scripts/pg-sandbox destroy "$cluster" >/dev/null 2>&1 || true' EXIT
scripts/pg-sandbox start "$cluster" >/dev/null
admin="postgresql://binscan@/postgres?host=$cluster"
fresh() {  # a new empty survey; its URI (called in $(...): the name must be unique by itself)
  local name="b$(date +%s%N)"
  psql -X -q -v ON_ERROR_STOP=1 -d "$admin" -c "CREATE DATABASE $name TEMPLATE binscan_template" >/dev/null
  echo "postgresql://binscan@/$name?host=$cluster"
}
run_workers() {  # WORKERS: seconds for the queued photos
  local uri; uri=$(fresh)
  "$binscan" scan "$photos" --model "$model" --db "$uri" --enqueue-only -q >/dev/null
  local t0; t0=$(date +%s%N)
  for ((w = 0; w < $1; w++)); do
    "$binscan" work --model "$model" --db "$uri" --threads 1 --batch 4 -q >/dev/null &
  done
  wait
  awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN {print (b - a) / 1e9}'
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
one=(); two=()
for ((r = 0; r < rounds; r++)); do
  one+=("$(run_workers 1)")
  two+=("$(run_workers 2)")
done
n_photos=$(find "$photos" -type f | wc -l)
t1=$(printf '%s\n' "${one[@]}" | median)
t2=$(printf '%s\n' "${two[@]}" | median)
printf '%s photos, ResNet-50 shape, medians of %s rounds\n' "$n_photos" "$rounds"
awk -v n="$n_photos" -v t1="$t1" -v t2="$t2" 'BEGIN {
  printf "  1 worker  x 1 thread: %6.1f s  %5.2f photos/s\n", t1, n / t1
  printf "  2 workers x 1 thread: %6.1f s  %5.2f photos/s  (%.2fx)\n", t2, n / t2, t1 / t2 }'
echo "queue alone, no-op classifier:"
"$build_dir/bench/workers/queue_bench" "$(fresh)" "${QUEUE_PHOTOS:-20000}" 16 16
