#!/usr/bin/env bash
# The scan pipeline on this machine: photos scanned with a random-weight ResNet-50-shaped
# checkpoint, next to the model alone (binscan bench) and decode + preprocess alone (binscan scan
# --decode-only), each using every core. The goal of issue 5:
#   whole scan >= 0.9 / (t_pre + t_model) photos/s
# where t_pre and t_model are the wall times per photo of the two parts alone.
#
#   bench/scan/run.sh [ROUNDS] [PHOTOS]
#     BUILD_DIR=build  THREADS=all cores  BATCH=8
#     PHOTOS: a folder, default the shared trash-bin photos
#     COPIES=1: scan each photo COPIES times (each copy with bytes appended after the image's end,
#       which decoders ignore, so its content hash differs and it is classified again): a scan
#       of 25 photos lasts about half a second, and filling the pipeline at the start and
#       running its last batch alone at the end are then a tenth of it; copies measure the
#       steady state that a long scan runs at.
#     OPTIONS="--fast-decode --precision fast": scan options (--precision also given to bench)
#     CONFIGS: several configurations timed side by side, separated by '|', each an optional
#       VAR=VALUE environment then scan options, e.g.
#       CONFIGS='BINSCAN_ENGINE_REPLICAS=1 | | --fast-decode --precision fast'
#       (an empty one is the exact scan with binscan's defaults); overrides OPTIONS. The speed of
#       each is reported against the first.
#
# The measurements alternate, ROUNDS times (default 3), configuration after configuration, and
# the median of each is reported, so a burst of other load on a shared machine hits them alike.
# Times exclude model loading (the scan reports its own pipeline time; bench times forward passes
# only).
set -euo pipefail
cd "$(dirname "$0")/../.."
build_dir=${BUILD_DIR:-build}
rounds=${1:-3}
batch=${BATCH:-8}
threads=${THREADS:-$(nproc)}
source_photos=${2:-../shared/data/photos/trash-bin}
copies=${COPIES:-1}
work=${BENCH_WORK:-${TMPDIR:-/tmp}/binscan-bench-scan}
mkdir -p "$work"

# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_binscan "$build_dir"
bench_resnet50 "$work"

photos=$source_photos
if ((copies > 1)); then
  photos="$work/copies"
  bench_copies "$source_photos" "$photos" "$copies"
fi
n_photos=$(find "$photos" -type f | wc -l)

IFS='|' read -r -a configs <<<"${CONFIGS:-${OPTIONS:-}}"
((${#configs[@]} > 0)) || configs=("")

# Splits configuration $1 into the arrays env_vars, options and bench_options.
parse_config() {
  local words
  read -r -a words <<<"$1"
  env_vars=() options=() bench_options=()
  local i
  for ((i = 0; i < ${#words[@]}; i++)); do
    if [[ ${#options[@]} == 0 && "${words[i]}" == [A-Z]*=* ]]; then
      env_vars+=("${words[i]}")
    else
      options+=("${words[i]}")
    fi
    if [[ "${words[i]}" == --precision ]]; then bench_options+=(--precision "${words[i + 1]}"); fi
  done
}

json_field() { /usr/bin/python3 -c "import json,sys; j=json.load(sys.stdin); $1"; }

declare -A t_model t_pre t_scan
for ((r = 1; r <= rounds; r++)); do
  for ((k = 0; k < ${#configs[@]}; k++)); do
    echo "round $r/$rounds, configuration $((k + 1))/${#configs[@]} ..." >&2
    parse_config "${configs[k]}"
    ips=$(env "${env_vars[@]}" "$binscan" bench --model "$model" --batch "$batch" \
      --threads "$threads" --iterations 5 "${bench_options[@]}" --format json 2>/dev/null |
      json_field 'print(j["images_per_second"])')
    t_model[$k]+="$(/usr/bin/python3 -c "print(1/$ips)") "
    s=$(env "${env_vars[@]}" "$binscan" scan "$photos" --model "$model" --decode-only --quiet \
      --batch "$batch" --threads "$threads" "${options[@]}" --format json 2>/dev/null |
      json_field 'print(j["seconds"]/j["photos"])')
    t_pre[$k]+="$s "
    rm -f "$work/scan.db" "$work/scan.db-wal" "$work/scan.db-shm"
    s=$(env "${env_vars[@]}" "$binscan" scan "$photos" --model "$model" --db "$work/scan.db" \
      --quiet --batch "$batch" --threads "$threads" "${options[@]}" --format json 2>/dev/null |
      json_field 'assert j["complete"], j; print(j["seconds"]/j["photos"])')
    t_scan[$k]+="$s "
  done
done

args=()
for ((k = 0; k < ${#configs[@]}; k++)); do
  args+=("${configs[k]}" "${t_model[$k]}" "${t_pre[$k]}" "${t_scan[$k]}")
done
/usr/bin/python3 - "$n_photos" "$batch" "$threads" "$source_photos" "$copies" "$rounds" "${args[@]}" <<'PY'
import statistics, subprocess, sys
n, batch, threads, source, copies, rounds = sys.argv[1:7]
rest = sys.argv[7:]
cpu = next((l.split(":", 1)[1].strip() for l in subprocess.run(
    ["lscpu"], capture_output=True, text=True).stdout.splitlines()
    if l.startswith("Model name")), "unknown CPU")
print(f"{source}: {n} photos ({copies} cop{'y' if copies == '1' else 'ies'}), batch {batch}, "
      f"threads {threads}, random-weight resnet-50, medians of {rounds} rounds; {cpu}")
print()
print("| configuration | t_pre ms/photo | t_model ms/photo | goal photos/s | whole scan photos/s | scan / goal | vs first |")
print("|---|---:|---:|---:|---:|---:|---:|")
first = None
for i in range(0, len(rest), 4):
    name = rest[i].strip() or "exact (defaults)"
    tm, tp, ts = (statistics.median(float(x) for x in a.split()) for a in rest[i + 1:i + 4])
    goal = 0.9 / (tp + tm)
    first = first or 1 / ts
    print(f"| `{name}` | {tp*1000:.1f} | {tm*1000:.1f} | {goal:.1f} | {1/ts:.1f} | "
          f"{(1/ts)/goal:.2f} | {(1/ts)/first:.2f}x |")
PY
