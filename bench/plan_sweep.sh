#!/usr/bin/env bash
# Plans for every shared network, through the command-line tools: for each
# network in shared/vnncomp and each method, `gammac --emit bound-ir` and
# `gammac --emit plan`, then `gamma-run PLAN PROP --json` on the first property
# of the network's instance list, set against `gamma-run MODEL PROP --method M
# --json` (the direct path): the same verdict and every bound within 1e-9
# relative. A method the direct path refuses must be refused by gammac with
# the same message.
#   bench/plan_sweep.sh [--build DIR] [--methods ibp,crown,crown-ibp] [--only TEXT]
# Prints one line per (network, method) and a summary; exit 1 on any mismatch.
# Shared material: env GAMMA_SHARED_DIR, else ../shared next to the source tree.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$root/build
methods=ibp,crown,crown-ibp
only=""
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --methods) methods=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "plan_sweep.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
shared=${GAMMA_SHARED_DIR:-$root/../shared}
if [ ! -d "$shared/vnncomp" ]; then
  echo "plan_sweep.sh: skipped: $shared/vnncomp not found (set GAMMA_SHARED_DIR)" >&2
  exit 0
fi
gammac=$build/tools/gammac run=$build/tools/gamma-run
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The bounds of a gamma-run JSON report, one number per line, in order.
numbers() { grep -oE '"(lower|upper)": *[^,}]*' "$1" | sed 's/.*: *//'; }
verdict() { grep -oE '^  "verdict": *"[a-z]*"' "$1" | sed 's/.*: *//; s/"//g'; }

bad=0 total=0 refusedOk=0
IFS=, read -r -a mlist <<< "$methods"
for csv in "$shared"/vnncomp/*/*instances*.csv; do
  dir=$(dirname "$csv")
  bench=$(basename "$dir")
  # The first property of each network in the instance list.
  awk -F, '!seen[$1]++ { print $1 "," $2 }' "$csv" | tr -d '\r ' > "$tmp/pairs"
  while IFS=, read -r onnx vnnlib; do
    [ -z "$onnx" ] && continue
    [ -n "$only" ] && [[ $bench/$onnx != *"$only"* ]] && continue
    for m in "${mlist[@]}"; do
      total=$((total + 1))
      name="$bench/$onnx $m"
      plan=$tmp/net.gplan
      if ! "$gammac" "$dir/$onnx" --method "$m" --emit bound-ir > /dev/null 2> "$tmp/err"; then
        why=$(sed 's/^gammac: error: //' "$tmp/err" | head -n 1)
        "$run" "$dir/$onnx" "$dir/$vnnlib" --method "$m" --json --no-attack > /dev/null 2> "$tmp/derr" || true
        if grep -qF "$why" "$tmp/derr"; then
          refusedOk=$((refusedOk + 1))
          printf '%-60s refused, as the direct path: %s\n' "$name" "$why"
        else
          bad=$((bad + 1))
          printf '%-60s MISMATCH: gammac refuses (%s), the direct path does not\n' "$name" "$why"
        fi
        continue
      fi
      start=$(date +%s.%N)
      "$gammac" "$dir/$onnx" --method "$m" --emit plan -o "$plan" 2> "$tmp/err"
      mid=$(date +%s.%N)
      "$run" "$plan" "$dir/$vnnlib" --json --no-attack > "$tmp/p.json" 2> "$tmp/err" || true
      end=$(date +%s.%N)
      "$run" "$dir/$onnx" "$dir/$vnnlib" --method "$m" --json --no-attack > "$tmp/d.json" 2> "$tmp/err" || true
      numbers "$tmp/p.json" > "$tmp/p.txt"
      numbers "$tmp/d.json" > "$tmp/d.txt"
      vp=$(verdict "$tmp/p.json") vd=$(verdict "$tmp/d.json")
      worst=$(paste "$tmp/p.txt" "$tmp/d.txt" | awk '
        { a = $1 + 0; b = $2 + 0; d = a - b; if (d < 0) d = -d; m = b < 0 ? -b : b; r = d / (1 + m); if (r > w) w = r }
        END { printf "%.2e", w + 0 }')
      count=$(wc -l < "$tmp/p.txt")
      compile=$(awk -v a="$start" -v b="$mid" 'BEGIN { printf "%.2f", b - a }')
      runs=$(awk -v a="$mid" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
      if [ -z "$vp" ] || [ "$vp" != "$vd" ] || [ "$count" -eq 0 ] || [ "$count" -ne "$(wc -l < "$tmp/d.txt")" ] ||
         awk -v w="$worst" 'BEGIN { exit !(w > 1e-9) }'; then
        bad=$((bad + 1))
        printf '%-60s MISMATCH: plan %s, direct %s, %s bounds, worst %s\n' "$name" "${vp:-none}" "${vd:-none}" "$count" "$worst"
      else
        printf '%-60s %-8s %3d bounds, worst relative difference %s; gammac %ss, gamma-run %ss\n' "$name" "$vp" \
          "$count" "$worst" "$compile" "$runs"
      fi
    done
  done < "$tmp/pairs"
done
echo "plan_sweep.sh: $total (network, method) pairs: $((total - bad - refusedOk)) equal to the direct path, $refusedOk refused as the direct path refuses, $bad mismatches"
[ "$bad" -eq 0 ]
