#!/usr/bin/env bash
# What --fast-decode and --precision bf16 / int8 cost in accuracy: each option (and with
# --fast-decode) against the exact fp32 path on the same photos, for full-size
# vit-base-patch16-224, resnet-50 and clip-vit-base-patch32 (zero-shot over $CLIP_LABELS, one
# label per line, default a bin and five other street scenes; the bin score is the first label's)
# (int8: each model calibrated once with `binscan calibrate` on $CALIB_PHOTOS, default the
# shared trash-bin photos, into DIR/calibration.json).
#
#   bench/fidelity/run.sh [PHOTOS...]   (default: ../shared/data/photos; BUILD_DIR=build;
#                                        MODELS="DIR ..." to use other checkpoints)
#
# Real weights cannot be downloaded on the build machines, so by default the models are
# random-weight checkpoints of the real shapes with ImageNet's labels (tests/reference/
# make_checkpoint.py, BatchNorm and classifier calibrated on photos so the outputs vary), written
# once to $BENCH_DIR/models (default build-bench/, as bench/engine/run.sh does). Per model and
# option it prints: top-1 agreement, top-5 set agreement, largest and median |delta p| over all
# classes and photos, largest |delta bin score| (class 412, "ashcan, trash can, ..."), and the
# verdicts (bin score >= 0.1) that flip.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${BUILD_DIR:-$root/build}"
work="${BENCH_DIR:-$root/build-bench}"
photos=("$@")
((${#photos[@]})) || photos=("$root/../shared/data/photos")

cmake --build "$build" -j "${JOBS:-2}" --target binscan >&2
if [[ -z "${MODELS:-}" ]]; then
  MODELS=""
  for m in vit-base-patch16-224 resnet-50 clip-vit-base-patch32; do
    d="$work/models/$m"
    if [[ ! -f "$d/model.safetensors" ]]; then
      mkdir -p "$work/models"
      if [[ "$m" == clip-* ]]; then  # as bench/engine/run.sh makes it: the Hub's layout, a tokenizer
        /usr/bin/python3 "$root/tests/reference/clip_reference.py" make --preset vit-b-32 --out "$d" >&2
      else
        /usr/bin/python3 "$root/tests/reference/make_checkpoint.py" --preset "$m" --out "$d" >&2
      fi
    fi
    MODELS+="$d "
  done
fi
# CLIP's labels: the first is the bin, whose score the verdicts are taken on.
clip_labels=()
if [[ -n "${CLIP_LABELS:-}" ]]; then
  mapfile -t clip_labels <"$CLIP_LABELS"
else
  clip_labels=("a trash bin" "a bicycle" "a parked car" "a cat" "an empty street" "a house")
fi
is_clip() { grep -q '"model_type": *"clip"' "$1/config.json"; }

out="$work/fidelity"
mkdir -p "$out"
# Which reduced precision this CPU runs ("fast" says so on stderr).
fast_note=$("$build/binscan" bench --model ${MODELS%% *} --precision fast --iterations 1 \
  --warmup 0 2>&1 >/dev/null | sed -n 's/^binscan: --precision fast: //p')
echo "--precision fast on this CPU: ${fast_note:-?}" >&2
calib_photos="${CALIB_PHOTOS:-$root/../shared/data/photos/trash-bin}"
for m in $MODELS; do
  name=$(basename "$m")
  opts=(exact fast-decode bf16 both int8 both-int8)
  [[ -f "$m/calibration.json" ]] ||
    "$build/binscan" calibrate --model "$m" --out "$m/calibration.json" "$calib_photos" >/dev/null
  for opt in "${opts[@]}"; do
    case $opt in
      exact) flags=() ;;
      fast-decode) flags=(--fast-decode) ;;
      bf16) flags=(--precision bf16) ;;
      both) flags=(--fast-decode --precision bf16) ;;
      int8) flags=(--precision int8 --calibration "$m/calibration.json") ;;
      both-int8) flags=(--fast-decode --precision int8 --calibration "$m/calibration.json") ;;
    esac
    if is_clip "$m"; then
      for l in "${clip_labels[@]}"; do flags+=(--label "$l"); done
    fi
    echo "$name: $opt ..." >&2
    "$build/binscan" classify --model "$m" --format jsonl --top-k 100000 --batch 8 \
      "${flags[@]}" "${photos[@]}" >"$out/$name.$opt.jsonl"
  done
done

/usr/bin/python3 - "$out" "${clip_labels[0]}" $MODELS <<'PY'
import json, os, statistics, subprocess, sys

out, clip_bin, models = sys.argv[1], sys.argv[2], sys.argv[3:]
IMAGENET_BIN = "ashcan, trash can, garbage can, wastebin, ash bin, ash-bin, ashbin, dustbin, trash barrel, trash bin"
cpu = next((l.split(":", 1)[1].strip() for l in subprocess.run(["lscpu"], capture_output=True,
            text=True).stdout.splitlines() if l.startswith("Model name")), "?")

def load(path):
    rows = {}
    for line in open(path):
        j = json.loads(line)
        rows[j["image"]] = {p["label"]: p["score"] for p in j["predictions"]}
    return rows

print(f"CPU: {cpu}; random-weight checkpoints of the real shapes (not the real weights)")
print()
print("| model | option | photos | top-1 agree | top-5 set agree | max abs dp | median abs dp "
      "| max abs d bin score | verdict flips @0.1 |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for m in models:
    name = os.path.basename(m.rstrip("/"))
    with open(os.path.join(m, "config.json")) as f:
        BIN = clip_bin if json.load(f).get("model_type") == "clip" else IMAGENET_BIN
    exact = load(f"{out}/{name}.exact.jsonl")
    for opt in ["fast-decode", "bf16", "both", "int8", "both-int8"]:
        if not os.path.exists(f"{out}/{name}.{opt}.jsonl"):
            continue
        other = load(f"{out}/{name}.{opt}.jsonl")
        top1 = top5 = flips = 0
        dps, dbin = [], 0.0
        for img, pe in exact.items():
            po = other[img]
            rank_e = sorted(pe, key=lambda k: -pe[k])
            rank_o = sorted(po, key=lambda k: -po[k])
            top1 += rank_e[0] == rank_o[0]
            top5 += set(rank_e[:5]) == set(rank_o[:5])
            dps.extend(abs(pe[k] - po.get(k, 0.0)) for k in pe)
            be, bo = pe.get(BIN, 0.0), po.get(BIN, 0.0)
            dbin = max(dbin, abs(be - bo))
            flips += (be >= 0.1) != (bo >= 0.1)
        n = len(exact)
        print(f"| {name} | {opt} | {n} | {top1}/{n} | {top5}/{n} | {max(dps):.2e} | "
              f"{statistics.median(dps):.2e} | {dbin:.2e} | {flips} |")
PY
