#!/usr/bin/env bash
# gamma's bound-method times against auto_LiRPA's on the same cases.
#   bench/compare_reference.sh [--build DIR] [--out FILE.json] [--filter REGEX] [--cpu]
#                              [--from FILE.json] [-- extra benchmark flags]
# Runs build/bench/bounds-bench (Google Benchmark, JSON output, median of 3
# repetitions; wall time, or with --cpu the CPU time of the calling thread, for
# a busy machine; --from reads an earlier --out instead of running), reads
# auto_LiRPA's per-case median (time_s_median) from shared/reference/index.csv,
# and prints markdown tables on stdout: a summary per benchmark, method and
# spec, then every case. Shared material: env GAMMA_SHARED_DIR, else ../shared
# next to the source tree. Needs only bash and awk.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build
out=""
filter=""
clock=real_time
from=""
extra=()
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --filter) filter=$2; shift 2 ;;
    --cpu) clock=cpu_time; shift ;;
    --from) from=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare_reference.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
shared=${GAMMA_SHARED_DIR:-$root/../shared}
index=$shared/reference/index.csv
bin=$build/bench/bounds-bench
if [ ! -f "$index" ]; then
  echo "compare_reference.sh: skipped: $index not found (set GAMMA_SHARED_DIR)" >&2
  exit 0
fi
if [ -z "$from" ] && [ ! -x "$bin" ]; then
  echo "compare_reference.sh: $bin not built (cmake --build $build --target bounds-bench)" >&2
  exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
json=${from:-${out:-$tmp/bounds-bench.json}}
args=(--benchmark_repetitions=3 --benchmark_report_aggregates_only=true --benchmark_min_time=0.05
      --benchmark_out="$json" --benchmark_out_format=json)
[ -n "$filter" ] && args+=(--benchmark_filter="$filter")
[ -z "$from" ] && GAMMA_SHARED_DIR=$shared "$bin" "${args[@]}" "${extra[@]}" >&2

# Google Benchmark writes one key per line; collect name -> median time in ms.
awk -v clock="\"$clock\":" '
  /^ *\{ *$/ { name = ""; agg = ""; t = ""; unit = ""; err = "" }
  /"name":/ { v = $0; sub(/^[^:]*: *"/, "", v); sub(/",? *$/, "", v); name = v }
  /"aggregate_name":/ { v = $0; sub(/^[^:]*: *"/, "", v); sub(/",? *$/, "", v); agg = v }
  index($0, clock) { v = $0; sub(/^[^:]*: */, "", v); sub(/,? *$/, "", v); t = v }
  /"time_unit":/ { v = $0; sub(/^[^:]*: *"/, "", v); sub(/",? *$/, "", v); unit = v }
  /"error_occurred": *true/ { err = 1 }
  /^ *\},? *$/ {
    if (name == "") next
    sub(/_median$/, "", name)
    if (err) { print name "\terror"; name = ""; next }
    if (agg != "median" && agg != "") { name = ""; next }
    f = unit == "ns" ? 1e-6 : unit == "us" ? 1e-3 : unit == "s" ? 1e3 : 1
    printf "%s\t%.6g\n", name, t * f
    name = ""
  }' "$json" > "$tmp/gamma.tsv"

awk -F'\t' -v index_csv="$index" -v clock="$clock" '
  function median(list,   n, a, i, j, x) {
    n = split(list, a, " ")
    for (i = 2; i <= n; ++i) { x = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > x; --j) a[j + 1] = a[j]; a[j + 1] = x }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  function times(x) { return x >= 10 ? sprintf("%.0f×", x) : x >= 1 ? sprintf("%.1f×", x) : sprintf("%.2g×", x) }
  function methodName(p) { return p == "ibp" ? "IBP" : p == "pure" ? "CROWN" : p == "pure_ibp" ? "CROWN ∩ IBP" : p }
  BEGIN {
    FS = ","
    while ((getline line < index_csv) > 0) {
      split(line, c, ",")
      if (c[1] == "file") continue
      ref[c[1] "/" c[7] "/" (c[8] == "1" ? "C" : "noC")] = c[12] * 1000
    }
    FS = "\t"
  }
  {
    name = $1; ms = $2
    n = split(name, part, "/")
    spec = part[n]; profile = part[n - 1]; file = part[1]
    for (i = 2; i <= n - 2; ++i) file = file "/" part[i]
    network = file; sub(/__.*$/, "", network)
    bench = part[1]
    if (bench == "eran") bench = network ~ /SIGMOID/ ? "eran (sigmoid)" : "eran (relu)"
    r = (name in ref) ? ref[name] : ""
    row = sprintf("| %s | %s | %s | ", network, methodName(profile), spec == "C" ? "C" : "none")
    if (ms == "error") row = row "error | "
    else row = row sprintf("%.3f | ", ms)
    row = row (r == "" ? "— | — |" : sprintf("%.2f | %s |", r, ms == "error" ? "—" : times(r / ms)))
    rows[++nrows] = row
    key = bench "\t" methodName(profile) "\t" (spec == "C" ? "C" : "none")
    if (!(key in count)) order[++nkeys] = key
    if (ms != "error" && r != "") { g[key] = g[key] " " ms; a[key] = a[key] " " r; ++count[key] }
    else if (!(key in count)) count[key] = 0
  }
  END {
    print "## Bound computation: gamma vs auto_LiRPA (median ms per computeBounds call, " (clock ~ /cpu/ ? "gamma: CPU time of the calling thread" : "wall time") ")"
    print ""
    print "| benchmark | method | spec | networks | gamma ms (median) | auto_LiRPA ms (median) | speedup |"
    print "|---|---|---|---|---|---|---|"
    for (k = 1; k <= nkeys; ++k) {
      key = order[k]; split(key, f, "\t")
      if (count[key] == 0) { printf "| %s | %s | %s | 0 | — | — | — |\n", f[1], f[2], f[3]; continue }
      gm = median(substr(g[key], 2)); am = median(substr(a[key], 2))
      printf "| %s | %s | %s | %d | %.3f | %.2f | %s |\n", f[1], f[2], f[3], count[key], gm, am, times(am / gm)
    }
    print ""
    print "### Every case (one reference file per network)"
    print ""
    print "| network | method | spec | gamma ms | auto_LiRPA ms | speedup |"
    print "|---|---|---|---|---|---|"
    for (i = 1; i <= nrows; ++i) print rows[i]
  }' "$tmp/gamma.tsv"
