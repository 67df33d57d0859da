#!/usr/bin/env bash
# The engine benchmark: binscan vs ONNX Runtime (onnxruntime-node, CPU) vs PyTorch on full-size
# vit-base-patch16-224 and resnet-50 with random weights (and, when asked, clip-vit-base-patch32:
# CLIP ViT-B/32's zero-shot classifier, image tower + similarities to two labels; see
# clip_zero_shot.py), batch 1 and 8, 2 threads, alternating
# the engines in one run; prints ms/image, ratios and peak RSS. Where the CPU runs bf16 (AVX-512
# BF16 or AMX), binscan --precision bf16 is timed too; where it runs int8 (AVX2 and up), binscan
# --precision int8, each model calibrated once on the shared trash-bin photos (CLIP: its image
# tower).
#
#   bench/engine/run.sh [--rounds N] [--batches 1 8] [--threads 2] [--models vit-base-patch16-224 resnet-50 clip-vit-base-patch32]
#       [--engines binscan binscan-passive binscan-bf16 onnxruntime pytorch]   (default: all but
#       binscan-passive, i.e. binscan with OMP_WAIT_POLICY=passive; bf16 only where the CPU runs it)
#
# Installs what it needs (scripts/install-deps --with-bench: time, python3-torch, nodejs, npm) and
# needs the npm registry the first time. Work files go to $BENCH_DIR (default build-bench/, git-ignored).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="${BENCH_DIR:-$root/build-bench}"
build="${BUILD_DIR:-$root/build}"
models=(vit-base-patch16-224 resnet-50)
args=()
while (($#)); do
  case "$1" in
    --models) shift; models=(); while (($#)) && [[ "$1" != --* ]]; do models+=("$1"); shift; done ;;
    *) args+=("$1"); shift ;;
  esac
done

"$root/scripts/install-deps" --with-bench
# ONNX Runtime for node. Its install script downloads extra providers and fails offline; the CPU
# library ships inside the package, so skip the script.
if [[ ! -d "$here/.node/node_modules/onnxruntime-node" ]]; then
  mkdir -p "$here/.node"
  [[ -f "$here/.node/package.json" ]] || echo '{"private": true}' >"$here/.node/package.json"
  (cd "$here/.node" && npm install --ignore-scripts --no-audit --no-fund onnxruntime-node >&2)
fi

# binscan (Release) and the engine's own bench tool.
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "${JOBS:-2}" --target binscan engine_bench >&2
if "$build/binscan" bench --help 2>/dev/null | grep -q -- "--iterations"; then
  binscan_cmd="$build/binscan bench"
else  # `binscan bench` not there yet: time the same engine through engine_bench
  binscan_cmd="$build/bench/engine/engine_bench"
fi

# Full-size random-weight checkpoints (written once) and their ONNX exports.
mkdir -p "$work/models"
dirs=()
for m in "${models[@]}"; do
  d="$work/models/$m"
  if [[ ! -f "$d/model.safetensors" ]]; then
    if [[ "$m" == clip-vit-base-patch32 ]]; then  # CLIPModel in the Hub's layout, with a tokenizer
      /usr/bin/python3 "$root/tests/reference/clip_reference.py" make --preset vit-b-32 --out "$d" >&2
    else
      /usr/bin/python3 "$root/tests/reference/make_checkpoint.py" --preset "$m" --out "$d" >&2
    fi
  fi
  if [[ ! -f "$d/model.onnx" ]]; then
    /usr/bin/python3 "$here/export_onnx.py" "$d" >&2
  fi
  dirs+=("$d")
done

engines=(binscan)
if $binscan_cmd --model "${dirs[0]}" --precision bf16 --iterations 1 --warmup 0 >/dev/null 2>&1; then
  engines+=(binscan-bf16)
else
  echo "no bf16 rows: $($binscan_cmd --model "${dirs[0]}" --precision bf16 2>&1 | tail -1)" >&2
fi
# int8: a calibration per model, made once, on photos like the ones classified.
calib_photos="${CALIB_PHOTOS:-$root/../shared/data/photos/trash-bin}"
for d in "${dirs[@]}"; do
  if [[ ! -f "$d/calibration.json" ]]; then
    "$build/binscan" calibrate --model "$d" --out "$d/calibration.json" "$calib_photos" >/dev/null ||
      echo "no int8 rows for $d (calibrate failed)" >&2
  fi
  if [[ -f "$d/calibration.json" ]] && [[ " ${engines[*]} " != *" binscan-int8 "* ]]; then
    engines+=(binscan-int8)
  fi
done
engines+=(onnxruntime pytorch)
echo "binscan: $binscan_cmd" >&2
/usr/bin/python3 "$here/compare.py" --models "${dirs[@]}" --binscan "$binscan_cmd" \
  --engines "${engines[@]}" --json "$work/results.json" "${args[@]}"
