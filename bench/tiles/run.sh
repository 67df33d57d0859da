#!/usr/bin/env bash
# What --tiles costs: the trash-bin photos scanned with a random-weight ResNet-50-shaped
# checkpoint with no tiles, 2x2 and 3x3, next to the model alone (binscan bench, images/s at the
# scan's batch). A photo with T tiles is T + 1 model inputs, so the most a tiled scan can do is
# 1 / ((T + 1) t_model) photos/s; the goal of issue 12 is that it keeps the cores as busy as that:
#   tiled scan >= 0.9 / ((T + 1) t_model) photos/s
#
#   bench/tiles/run.sh [ROUNDS] [PHOTOS]   (BUILD_DIR=build by default; THREADS=all cores;
#                                           BATCH=8; GRIDS="none 2x2 3x3"; PHOTOS: a folder,
#                                           default the shared trash-bin photos)
#
# The measurements alternate, ROUNDS times (default 3), and the median of each is reported, so a
# burst of other load on a shared machine hits them alike. Times exclude model loading.
set -euo pipefail
cd "$(dirname "$0")/../.."
build_dir=${BUILD_DIR:-build}
rounds=${1:-3}
batch=${BATCH:-8}
threads=${THREADS:-$(nproc)}
photos=${2:-../shared/data/photos/trash-bin}
read -r -a grids <<<"${GRIDS:-none 2x2 3x3}"
work=${BENCH_WORK:-${TMPDIR:-/tmp}/binscan-bench-tiles}
mkdir -p "$work"

# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_binscan "$build_dir"
bench_resnet50 "$work"
n_photos=$(find "$photos" -type f | wc -l)

declare -a t_model
declare -A t_scan
for ((r = 1; r <= rounds; r++)); do
  echo "round $r/$rounds ..." >&2
  ips=$("$binscan" bench --model "$model" --batch "$batch" --threads "$threads" --iterations 5 \
    --format json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["images_per_second"])')
  t_model+=("$(/usr/bin/python3 -c "print(1/$ips)")")
  for grid in "${grids[@]}"; do
    rm -f "$work/scan.db" "$work/scan.db-wal" "$work/scan.db-shm"
    s=$("$binscan" scan "$photos" --model "$model" --db "$work/scan.db" --quiet --batch "$batch" \
      --threads "$threads" --tiles "$grid" --format json |
      /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); assert j["complete"], j; print(j["seconds"]/j["photos"])')
    t_scan[$grid]+="$s "
  done
done

args=()
for grid in "${grids[@]}"; do args+=("$grid=${t_scan[$grid]}"); done
/usr/bin/python3 - "$n_photos" "$batch" "$threads" "${t_model[*]}" "$photos" "${args[@]}" <<'PY'
import statistics, sys
n, batch, threads = int(sys.argv[1]), sys.argv[2], sys.argv[3]
tm = statistics.median(float(x) for x in sys.argv[4].split())
print(f"{sys.argv[5]}: {n} photos, batch {batch}, threads {threads}, random-weight resnet-50 (medians)")
print(f"model alone (binscan bench): {tm*1000:.1f} ms/image")
print()
print("| --tiles | model inputs per photo | whole scan ms/photo | photos/s | goal photos/s | scan / goal |")
print("|---------|-----------------------:|--------------------:|---------:|--------------:|------------:|")
for arg in sys.argv[6:]:
    grid, times = arg.split("=", 1)
    ts = statistics.median(float(x) for x in times.split())
    if grid == "none":
        inputs = 1
    else:
        c, r = (int(v) for v in grid.split("x"))
        inputs = c * r + 1
    goal = 0.9 / (inputs * tm)
    print(f"| {grid:7} | {inputs:22} | {ts*1000:19.1f} | {1/ts:8.2f} | {goal:13.2f} | {(1/ts)/goal:11.2f} |")
PY
