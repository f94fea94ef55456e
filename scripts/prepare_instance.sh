#!/usr/bin/env bash
# VNN-COMP preparation step: nothing to prepare (gamma keeps no state between
# instances); checks that the binary and the instance files are there.
#   prepare_instance.sh v1 CATEGORY ONNX VNNLIB
# Exit 1 tells the harness to skip the instance.
# The binary: $GAMMA_RUN, else build/tools/gamma-run of this checkout.
set -u
if [ "$#" -ne 4 ]; then
  echo "usage: $0 v1 CATEGORY ONNX VNNLIB" >&2
  exit 1
fi
if [ "$1" != "v1" ]; then
  echo "prepare_instance.sh: expected first argument (version string) 'v1', got '$1'" >&2
  exit 1
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${GAMMA_RUN:-$root/build/tools/gamma-run}
if [ ! -x "$bin" ]; then
  echo "prepare_instance.sh: $bin is not built (scripts/setup.sh && cmake --build build)" >&2
  exit 1
fi
for f in "$3" "$4"; do
  if [ ! -r "$f" ]; then
    echo "prepare_instance.sh: cannot read $f" >&2
    exit 1
  fi
done
echo "gamma: prepared category '$2' ($3, $4)"
exit 0
