# Shared by the bench scripts that time the binscan program on a random-weight ResNet-50:
#   source bench/lib.sh; bench_binscan BUILD_DIR; bench_resnet50 WORK; bench_copies FROM TO N
# (run from the repository root).

# Configures and builds the binscan program (Release) into $1; sets $binscan.
bench_binscan() {
  cmake -S . -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$1" -j "${JOBS:-2}" --target binscan >/dev/null
  binscan="$1/binscan"
}

# A random-weight checkpoint with ResNet-50's shapes in $1/resnet-50 (made once); sets $model.
bench_resnet50() {
  model="$1/resnet-50"
  if [[ ! -f "$model/model.safetensors" ]]; then
    echo "making the random-weight resnet-50 checkpoint in $model (once) ..." >&2
    /usr/bin/python3 tests/reference/make_checkpoint.py --preset resnet-50 --out "$model" >/dev/null
  fi
}

# Fills folder $2 (emptied first) with $3 copies of each photo in $1, each copy with a few bytes
# after the image's end (which decoders ignore), so its content hash differs and binscan
# classifies it again.
bench_copies() {
  local c f b
  rm -rf "$2"
  mkdir -p "$2"
  for ((c = 0; c < $3; c++)); do
    for f in "$1"/*; do
      [[ -f $f ]] || continue
      b=$(basename "$f")
      { cat "$f"; printf 'binscan-bench-copy-%d' "$c"; } >"$2/${b%.*}-$c.${b##*.}"
    done
  done
}
