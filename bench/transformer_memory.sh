#!/usr/bin/env bash
# Time and peak memory (RSS) of loading and bounding real-shaped transformers:
# a generated Qwen3-0.6B (Q8_0 and Q6_K, 16 tokens, IBP at eps 1e-3 on every
# embedding) and a generated whisper-tiny encoder (IBP at eps 1e-3 on a mel
# input of F frames). Weights are seeded random ones written by gamma-synth,
# so no download is needed; the target is peak RSS below the f32 size of the
# weights (the model is never dequantized whole). Uses /usr/bin/time -v.
#   bench/transformer_memory.sh [--build DIR] [--dir DIR] [--frames "200 3000"] [--keep]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build
work=""
frames="200"
keep=0
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --dir) work=$2; shift 2 ;;
    --frames) frames=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "transformer_memory.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -x /usr/bin/time ] || { echo "transformer_memory.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
if [ -z "$work" ]; then
  work=$(mktemp -d)
  [ $keep -eq 1 ] || trap 'rm -rf "$work"' EXIT
fi
synth=$build/tools/gamma-synth
run=$build/tools/gamma-run

# One measured run: prints "label | wall s | peak RSS MiB | stage lines".
measure() {
  local label=$1; shift
  /usr/bin/time -v "$@" > "$work/out.txt" 2> "$work/err.txt" || test $? -le 1
  local wall rss
  wall=$(grep 'Elapsed (wall clock)' "$work/err.txt" | awk '{print $NF}')
  rss=$(grep 'Maximum resident set size' "$work/err.txt" | awk '{printf "%.0f", $NF / 1024}')
  echo "| $label | $wall | $rss |"
  { grep -E '^gamma-run: +[0-9.]+ s' "$work/err.txt"; grep -E '^self-check|^verdict' "$work/out.txt"; } | sed 's/^/    /' || true
}

tokens=$(seq -s, 1 16)
echo "| run | wall (m:ss) | peak RSS MiB |"
echo "|---|---|---|"
for type in q8_0 q6_k; do
  model=$work/qwen3-0.6b-$type.gguf
  [ -f "$model" ] || "$synth" qwen3 --config 0.6b --type "$type" -o "$model" -q > /dev/null
  measure "Qwen3-0.6B $type ($(du -m "$model" | cut -f1) MiB file; f32 weights 2274 MiB), 16 tokens, IBP" \
    "$run" "$model" --tokens "$tokens" --epsilon 1e-3 --check-points 8
done
whisper=$work/whisper-tiny
[ -d "$whisper" ] || "$synth" whisper --config tiny -o "$whisper" -q > /dev/null
for f in $frames; do
  # A zero mel spectrogram [1, 80, F] in .npy (the bound, not the point, is measured).
  header="{'descr': '<f4', 'fortran_order': False, 'shape': (1, 80, $f), }"
  { printf '\x93NUMPY\x01\x00\x76\x00'; printf '%-117s\n' "$header"; head -c $((80 * f * 4)) /dev/zero; } > "$work/mel.npy"
  measure "whisper-tiny encoder (f32 weights $(du -m "$whisper/model.safetensors" | cut -f1) MiB), $f frames, IBP" \
    "$run" "$whisper" --input "$work/mel.npy" --epsilon 1e-3
done
