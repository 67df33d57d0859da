#!/usr/bin/env bash
# Decode + preprocess benchmark: binscan vs Pillow doing the identical work (open, EXIF
# transpose, RGB, resize, crop, rescale, normalise) for both hub preprocessor configs, on the
# 4032x3024 bike photos and the trash-bin photos in ../shared/data/photos. Checks that every
# output is identical, then prints a table of median ms per image.
#
#   bench/preprocess/run.sh            (REPEAT=5 by default; BUILD_DIR=build)
set -euo pipefail
cd "$(dirname "$0")/../.."
build_dir=${BUILD_DIR:-build}
repeat=${REPEAT:-5}
photos=${PHOTOS_DIR:-../shared/data/photos}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j 2 --target preprocess_bench >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/binscan" "$work/pillow"
configs=(--config models/configs/google--vit-base-patch16-224 --config models/configs/microsoft--resnet-50)

# The 4032x3024 bike photos (the small 960x720 ones are a different workload) and the trash bins.
mapfile -t bike < <(/usr/bin/python3 -c '
import sys, glob
from PIL import Image
for f in sorted(glob.glob(sys.argv[1] + "/bike/*")):
    if max(Image.open(f).size) == 4032: print(f)' "$photos")
mapfile -t bins < <(ls "$photos"/trash-bin/*.jpg)

: > "$work/results.jsonl"
for group in bike bins; do
  declare -n list=$group
  label=$([[ $group == bike ]] && echo "bike 4032x3024 (${#list[@]})" || echo "trash-bin 1500x2000 (${#list[@]})")
  echo "== $label: Pillow" >&2
  /usr/bin/python3 bench/preprocess/pil_bench.py "${configs[@]}" --repeat "$repeat" --out "$work/pillow" "${list[@]}" |
    /usr/bin/python3 -c 'import sys, json
for l in sys.stdin:
    r = json.loads(l); r["group"] = sys.argv[1]; print(json.dumps(r))' "$label" >> "$work/results.jsonl"
  echo "== $label: binscan" >&2
  "$build_dir/bench/preprocess/preprocess_bench" "${configs[@]}" --repeat "$repeat" --threads 2 \
      --out "$work/binscan" "${list[@]}" |
    /usr/bin/python3 -c 'import sys, json
for l in sys.stdin:
    r = json.loads(l); r["group"] = sys.argv[1]; print(json.dumps(r))' "$label" >> "$work/results.jsonl"
done
/usr/bin/python3 bench/preprocess/compare.py "$work/binscan" "$work/pillow" "$work/results.jsonl"
