#!/usr/bin/env bash
# A small golden-test runner in the manner of LLVM's lit: runs every
# "// RUN:" line of a test file through bash, with substitutions
#   %s  the test file        %t  a scratch path for this test
#   %gammac %gamma-run       the tools under test
#   %FileCheck %not          LLVM's FileCheck and not
#   %shared                  the shared reference material
# "// REQUIRES: shared" skips the test (exit 77) when %shared is absent.
# Usage: lit.sh TEST BIN_DIR LLVM_BIN_DIR SHARED_DIR
set -u
test_file=$1 bin=$2 llvm_bin=$3 shared=$4
if grep -q '^// REQUIRES: shared' "$test_file" && [ ! -d "$shared/vnncomp" ]; then
  echo "skipped: $test_file needs the shared material at $shared"
  exit 77
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
status=0
while IFS= read -r line; do
  cmd=${line#*RUN: }
  cmd=${cmd//%gammac/$bin/gammac}
  cmd=${cmd//%gamma-run/$bin/gamma-run}
  cmd=${cmd//%FileCheck/$llvm_bin/FileCheck}
  cmd=${cmd//%not/$llvm_bin/not}
  cmd=${cmd//%shared/$shared}
  cmd=${cmd//%s/$test_file}
  cmd=${cmd//%t/$scratch/t}
  echo "RUN: $cmd"
  if ! bash -o pipefail -c "$cmd"; then
    echo "FAILED: $cmd"
    status=1
  fi
done < <(grep '^// RUN: ' "$test_file")
exit $status
