#!/usr/bin/env bash
# Runs gamma-run on every VNN-COMP instance of the shared benchmarks and sets
# each verdict against the known one (shared/vnncomp/expected_verdicts.csv).
#   scripts/verdicts.sh [--benchmarks acasxu,mnist_fc,eran,oval21] [--method crown]
#                       [--jobs N] [--results FILE.csv] [--max-timeout S] [--build DIR] [--plans]
# Instances come from shared/vnncomp/BENCH/*instances*.csv (onnx,vnnlib,timeout),
# each run at its own timeout (or --max-timeout, if smaller, for quick runs).
# A contradiction is gamma `unsat` where the expected verdict is `sat`, or
# gamma `sat` where it is `unsat`. With --plans every network is first compiled
# once by gammac (--emit plan, the method above or crown) and every instance
# runs from its network's plan. Prints a markdown table per benchmark on
# stdout (for docs/STATUS.md), progress on stderr, and writes every instance to
# the results CSV (default build/verdicts.csv). Exit 1 on any contradiction.
# Shared material: env GAMMA_SHARED_DIR, else ../shared next to the source tree.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# --one: run a single instance and print one tab-separated line (used through xargs).
if [ "${1:-}" = "--one" ]; then
  shift
  bin=$1 bench=$2 dir=$3 onnx=$4 vnnlib=$5 timeout_s=$6 method=$7 out=$8 model=$9
  extra=()
  [ "$timeout_s" != "-" ] && extra+=(--timeout "$timeout_s")
  [ "$method" != "-" ] && extra+=(--method "$method")
  backstop=$(awk -v t="$timeout_s" 'BEGIN { printf "%g", (t + 0 > 0 ? t : 600) + 30 }')
  start=$(date +%s.%N)
  set +e
  # timeout runs the tool in a process group of its own: pass an interrupt on.
  timeout --kill-after=5 "$backstop" "$bin" "$model" "$dir/$vnnlib" --json "${extra[@]}" > "$out.json" 2> "$out.err" &
  child=$!
  trap 'kill -TERM $child 2>/dev/null; exit 143' TERM INT
  wait $child
  status=$?
  trap - TERM INT
  set -e
  wall=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
  # gamma-run prints one JSON object; top-level keys are at indent 2 when pretty-printed.
  field() {
    local v
    v=$(grep -o "^  \"$1\": *[^,]*" "$out.json" | head -n 1 || true)
    [ -z "$v" ] && v=$(grep -o "\"$1\": *[^,}]*" "$out.json" | head -n 1 || true)
    v=${v#*:}; v=${v# }; v=${v//\"/}
    printf '%s' "$v"
  }
  verdict=$(field verdict)
  used=$(field method)
  time_s=$(field time_s)
  message=""
  if [ $status -eq 124 ] || [ $status -eq 137 ]; then
    verdict=timeout message="killed by the backstop after ${backstop}s"
  elif [ -z "$verdict" ]; then
    verdict=error
    message=$(head -n 1 "$out.err" | tr '\t,\n' '   ')
  fi
  [ -z "$time_s" ] && time_s=$wall
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${out##*run}" "$bench" "$onnx" "$vnnlib" "$timeout_s" "$verdict" "$used" "$time_s" \
    "$wall" "$status${message:+ $message}"
  rm -f "$out.json" "$out.err"
  exit 0
fi

benchmarks=acasxu,mnist_fc,eran,oval21
method=-
jobs=1
build=$root/build
plans=""
results=""
max_timeout=""
while [ $# -gt 0 ]; do
  case $1 in
    --benchmarks) benchmarks=$2; shift 2 ;;
    --method) method=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --results) results=$2; shift 2 ;;
    --max-timeout) max_timeout=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --plans) plans=yes; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "verdicts.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
shared=${GAMMA_SHARED_DIR:-$root/../shared}
bin=$build/tools/gamma-run
results=${results:-$build/verdicts.csv}
expected=$shared/vnncomp/expected_verdicts.csv
if [ ! -f "$expected" ]; then
  echo "verdicts.sh: skipped: $expected not found (set GAMMA_SHARED_DIR)" >&2
  exit 0
fi
if [ ! -x "$bin" ]; then
  echo "verdicts.sh: $bin is not built (cmake --build $build)" >&2
  exit 2
fi
help=$("$bin" --help 2>&1 || true)
if [ "$method" != "-" ] && [[ $help != *--method* ]]; then
  echo "verdicts.sh: this gamma-run has no --method option" >&2
  exit 2
fi
has_timeout=yes
if [[ $help != *--timeout* ]]; then
  has_timeout=""
  echo "verdicts.sh: note: this gamma-run has no --timeout option; instances run without one" >&2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The task list: one line of arguments to --one per instance.
: > "$tmp/tasks"
n=0
IFS=, read -r -a list <<< "$benchmarks"
for bench in "${list[@]}"; do
  dir=$shared/vnncomp/$bench
  csvs=("$dir"/*instances*.csv)
  if [ ! -f "${csvs[0]}" ]; then
    echo "verdicts.sh: no instances csv in $dir" >&2
    exit 2
  fi
  for csv in "${csvs[@]}"; do
    while IFS=, read -r onnx vnnlib timeout_s || [ -n "$onnx" ]; do
      onnx=${onnx//[$'\r ']/}; vnnlib=${vnnlib//[$'\r ']/}; timeout_s=${timeout_s//[$'\r ']/}
      [ -z "$onnx" ] && continue
      if [ -n "$max_timeout" ]; then
        timeout_s=$(awk -v t="$timeout_s" -v m="$max_timeout" 'BEGIN { printf "%g", (t + 0 < m + 0 ? t : m) }')
      fi
      n=$((n + 1))
      targ=-
      [ -n "$has_timeout" ] && targ=$timeout_s
      model=$dir/$onnx
      if [ -n "$plans" ]; then
        model=$tmp/plans/$bench/$onnx.gplan
        if [ ! -f "$model" ]; then
          mkdir -p "$(dirname "$model")"
          pm=$method; [ "$pm" = "-" ] && pm=crown
          echo "verdicts.sh: compiling $bench/$onnx ($pm)" >&2
          "$build/tools/gammac" "$dir/$onnx" --method "$pm" --emit plan -o "$model" >&2
        fi
      fi
      printf '%s\0%s\0%s\0%s\0%s\0%s\0%s\0%s\0%s\0' "$bin" "$bench" "$dir" "$onnx" "$vnnlib" "$targ" "$method" \
        "$tmp/run$n" "$model" >> "$tmp/tasks"
    done < "$csv"
  done
done
echo "verdicts.sh: $n instances of $benchmarks, $jobs at a time" >&2

# Each worker prints its line; progress goes to stderr. An interrupt stops the
# workers too (each passes it on to its gamma-run).
: > "$tmp/unordered.tsv"
xargs -0 -n 9 -P "$jobs" "$0" --one < "$tmp/tasks" >> "$tmp/unordered.tsv" &
xargs_pid=$!
trap 'pkill -TERM -P $xargs_pid 2>/dev/null; kill $xargs_pid 2>/dev/null; exit 130' INT TERM
tail -n +1 -f --pid=$xargs_pid "$tmp/unordered.tsv" 2>/dev/null |
  awk -F'\t' -v n="$n" '{ printf "  [%d/%d] %s %s %s: %s (%ss)\n", NR, n, $2, $3, $4, $6, $8; fflush() }' >&2 &
wait $xargs_pid
wait
trap - INT TERM
sort -t$'\t' -k1,1n "$tmp/unordered.tsv" | cut -f2- > "$tmp/runs.tsv"

# Join with the expected verdicts, write the CSV, print the tables.
status=0
awk -F'\t' -v expected="$expected" -v results="$results" -v benchmarks="$benchmarks" '
  BEGIN {
    while ((getline line < expected) > 0) {
      split(line, c, ",")
      if (c[1] == "benchmark") continue
      want[c[1] "\t" c[2] "\t" c[3]] = c[4]
    }
    print "benchmark,onnx,vnnlib,timeout_s,verdict,expected,contradiction,method,time_s,wall_s,exit" > results
    nb = split(benchmarks, order, ",")
  }
  {
    key = $1 "\t" $2 "\t" $3
    ex = (key in want) ? want[key] : "missing"
    v = $5
    bad = (v == "unsat" && ex == "sat") || (v == "sat" && ex == "unsat")
    b = $1
    ++total[b]; ++count[b, v]; time[b] += $7
    if (bad) { ++contra[b]; bads[++nbad] = sprintf("%s %s %s: gamma %s, expected %s", $1, $2, $3, v, ex) }
    if (ex == "sat") { ++expSat[b]; if (v == "sat") ++gotSat[b] }
    if (ex == "unsat") { ++expUnsat[b]; if (v == "unsat") ++gotUnsat[b] }
    if (ex == "missing") ++missing[b]
    if (v == "error") errs[++nerr] = sprintf("%s %s %s: %s", $1, $2, $3, $9)
    m = $9; gsub(/,/, ";", m)
    printf "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", $1, $2, $3, $4, v, ex, bad ? "yes" : "", $6, $7, $8, m > results
  }
  END {
    print "| benchmark | instances | sat | unsat | unknown | timeout | error | contradictions | sat found / expected | unsat proved / expected | total time (s) |"
    print "|---|---|---|---|---|---|---|---|---|---|---|"
    for (i = 1; i <= nb; ++i) {
      b = order[i]
      if (!(b in total)) continue
      printf "| %s | %d | %d | %d | %d | %d | %d | %d | %d / %d | %d / %d | %.1f |\n", b, total[b], count[b, "sat"],
             count[b, "unsat"], count[b, "unknown"], count[b, "timeout"], count[b, "error"], contra[b] + 0,
             gotSat[b] + 0, expSat[b] + 0, gotUnsat[b] + 0, expUnsat[b] + 0, time[b]
      T += total[b]; S += count[b, "sat"]; U += count[b, "unsat"]; K += count[b, "unknown"]; O += count[b, "timeout"]
      E += count[b, "error"]; C += contra[b]; GS += gotSat[b]; ES += expSat[b]; GU += gotUnsat[b]; EU += expUnsat[b]
      TT += time[b]
    }
    if (nb > 1)
      printf "| **all** | %d | %d | %d | %d | %d | %d | %d | %d / %d | %d / %d | %.1f |\n", T, S, U, K, O, E, C, GS, ES, GU,
             EU, TT
    for (b in missing) printf "\n%d %s instances are not in expected_verdicts.csv\n", missing[b], b
    if (nbad) { print "\n**Contradictions:**\n"; for (i = 1; i <= nbad; ++i) print "- " bads[i] }
    if (nerr) { print "\nErrors:\n"; for (i = 1; i <= nerr && i <= 20; ++i) print "- " errs[i] }
    exit C > 0 ? 1 : 0
  }' "$tmp/runs.tsv" || status=$?
echo "verdicts.sh: every instance in $results" >&2
exit $status
