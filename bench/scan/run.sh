#!/usr/bin/env bash
# The scan pipeline on this machine: the trash-bin photos scanned with a random-weight
# ResNet-50-shaped checkpoint, next to the model alone (binscan bench) and decode + preprocess
# alone (binscan scan --decode-only), each using every core. The goal of issue 5:
#   whole scan >= 0.9 / (t_pre + t_model) photos/s
# where t_pre and t_model are the wall times per photo of the two parts alone.
#
#   bench/scan/run.sh [ROUNDS] [PHOTOS]   (BUILD_DIR=build by default; THREADS=all cores; BATCH=8;
#                                          PHOTOS: a folder, default the shared trash-bin photos;
#                                          OPTIONS="--fast-decode --precision fast": scan options,
#                                          --precision also given to bench)
#
# The three measurements alternate, ROUNDS times (default 3), and the median of each is reported,
# so a burst of other load on a shared machine hits them alike. Times exclude model loading
# (the scan reports its own pipeline time; bench times forward passes only).
set -euo pipefail
cd "$(dirname "$0")/../.."
build_dir=${BUILD_DIR:-build}
rounds=${1:-3}
batch=${BATCH:-8}
threads=${THREADS:-$(nproc)}
photos=${2:-../shared/data/photos/trash-bin}
work=${BENCH_WORK:-${TMPDIR:-/tmp}/binscan-bench-scan}
mkdir -p "$work"

# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_binscan "$build_dir"
bench_resnet50 "$work"
n_photos=$(find "$photos" -type f | wc -l)
read -r -a options <<<"${OPTIONS:-}"
bench_options=()
for ((i = 0; i < ${#options[@]}; i++)); do
  if [[ "${options[i]}" == --precision ]]; then bench_options+=(--precision "${options[i + 1]}"); fi
done

declare -a t_model t_pre t_scan
for ((r = 1; r <= rounds; r++)); do
  echo "round $r/$rounds ..." >&2
  ips=$("$binscan" bench --model "$model" --batch "$batch" --threads "$threads" --iterations 5 \
    "${bench_options[@]}" --format json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["images_per_second"])')
  t_model+=("$(/usr/bin/python3 -c "print(1/$ips)")")
  s=$("$binscan" scan "$photos" --model "$model" --decode-only --quiet --batch "$batch" \
    --threads "$threads" "${options[@]}" --format json | /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["seconds"]/j["photos"])')
  t_pre+=("$s")
  rm -f "$work/scan.db" "$work/scan.db-wal" "$work/scan.db-shm"
  s=$("$binscan" scan "$photos" --model "$model" --db "$work/scan.db" --quiet --batch "$batch" \
    --threads "$threads" "${options[@]}" --format json | /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); assert j["complete"], j; print(j["seconds"]/j["photos"])')
  t_scan+=("$s")
done

/usr/bin/python3 - "$n_photos" "$batch" "$threads" "${t_model[*]}" "${t_pre[*]}" "${t_scan[*]}" "$photos" "${OPTIONS:-}" <<'PY'
import statistics, sys
n, batch, threads = int(sys.argv[1]), sys.argv[2], sys.argv[3]
tm, tp, ts = (statistics.median(float(x) for x in a.split()) for a in sys.argv[4:7])
goal = 0.9 / (tp + tm)
opts = sys.argv[8] or "exact fp32"
print(f"{sys.argv[7]}: {n} photos, batch {batch}, threads {threads}, random-weight resnet-50, {opts} (medians)")
print()
print("| part                                   | ms/photo | photos/s |")
print("|----------------------------------------|---------:|---------:|")
print(f"| decode + preprocess alone (t_pre)      | {tp*1000:8.1f} | {1/tp:8.2f} |")
print(f"| model alone, binscan bench (t_model)   | {tm*1000:8.1f} | {1/tm:8.2f} |")
print(f"| goal: 0.9 / (t_pre + t_model)          | {1000/goal:8.1f} | {goal:8.2f} |")
print(f"| whole scan (binscan scan)              | {ts*1000:8.1f} | {1/ts:8.2f} |")
print()
print(f"whole scan / goal = {(1/ts)/goal:.2f}  ({'met' if 1/ts >= goal else 'NOT met'})")
PY
