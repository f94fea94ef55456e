#!/usr/bin/env bash
# VNN-COMP entry point: verify one instance and write the result file.
#   run_instance.sh v1 CATEGORY ONNX VNNLIB RESULTS_FILE TIMEOUT
# RESULTS_FILE gets one word, `unsat`, `sat` (followed by the counterexample,
# `((X_0 v) ... (Y_0 v))`), `unknown`, `timeout` or `error`; gamma-run writes
# it (--result). If gamma-run ends without writing it (killed, crashed, bad
# input) this script writes `timeout` or `error`. gamma-run stops itself at
# TIMEOUT seconds; `timeout` here is only a backstop a little later.
# The binary: $GAMMA_RUN, else build/tools/gamma-run of this checkout.
set -u
if [ "$#" -ne 6 ]; then
  echo "usage: $0 v1 CATEGORY ONNX VNNLIB RESULTS_FILE TIMEOUT" >&2
  exit 1
fi
if [ "$1" != "v1" ]; then
  echo "run_instance.sh: expected first argument (version string) 'v1', got '$1'" >&2
  exit 1
fi
category=$2 onnx=$3 vnnlib=$4 results=$5 timeout_s=$6
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${GAMMA_RUN:-$root/build/tools/gamma-run}

echo "gamma: category '$category', onnx '$onnx', vnnlib '$vnnlib', results '$results', timeout $timeout_s s"
rm -f "$results"
backstop=$(awk -v t="$timeout_s" 'BEGIN { if (t + 0 <= 0) t = 1; printf "%g", t + 10 }')
timeout --kill-after=5 "$backstop" "$bin" "$onnx" "$vnnlib" --timeout "$timeout_s" --result "$results"
status=$?
if [ ! -s "$results" ]; then
  case $status in
    124 | 137) echo "timeout" > "$results" ;;
    *) echo "error" > "$results" ;;
  esac
  echo "gamma: gamma-run exited with status $status without a result; wrote '$(cat "$results")'" >&2
fi
echo "gamma: result $(head -n 1 "$results")"
exit 0
