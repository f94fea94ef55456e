#!/usr/bin/env bash
# The runtime must not link libLLVM (issue 4): loading it and running its
# static initialisers costs more than the 20 ms a plan may take from process
# start to verdict (docs/PERFORMANCE.md, "Process start"). Fails when BINARY
# needs a library named like LLVM, directly or through another library (ldd),
# or directly (readelf -d) where ldd is missing; skipped (77) without either.
# Usage: no_llvm.sh BINARY
set -u
binary=$1
if [ ! -x "$binary" ]; then
  echo "FAILED: $binary is not an executable"
  exit 1
fi
if command -v ldd > /dev/null; then
  libs=$(ldd "$binary") || { echo "FAILED: ldd $binary"; exit 1; }
elif command -v readelf > /dev/null; then
  libs=$(readelf -d "$binary" | grep NEEDED) || { echo "FAILED: readelf -d $binary"; exit 1; }
else
  echo "skipped: neither ldd nor readelf is installed"
  exit 77
fi
if llvm=$(grep -i llvm <<< "$libs"); then
  echo "FAILED: $binary links LLVM:"
  echo "$llvm"
  exit 1
fi
echo "ok: $binary links no LLVM library"
