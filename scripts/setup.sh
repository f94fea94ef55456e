#!/usr/bin/env bash
# Installs what gamma needs from Debian 12's packages (only what is missing)
# and configures a Ninja build. Safe to run again and again.
#   scripts/setup.sh [BUILD_DIR] [extra cmake arguments]
#   scripts/setup.sh build-asan -DGAMMA_SANITIZE=ON      # sanitizer build
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build}
shift || true

packages=(
  build-essential cmake ninja-build pkg-config git
  llvm-19-dev llvm-19-tools            # LLVM (ORC JIT) and FileCheck/not for golden tests
  libfmt-dev libcli11-dev doctest-dev libbenchmark-dev libsimde-dev
  libonnx-dev libprotobuf-dev protobuf-compiler libonnx-testdata
  nlohmann-json3-dev libxxhash-dev libopenblas-dev   # BLAS for the dense products of CROWN
  zlib1g-dev libzstd-dev libedit-dev libcurl4-openssl-dev   # what LLVMConfig.cmake asks for
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -f "$build_dir/build.ninja" ] || [ $# -gt 0 ]; then
  cmake -S . -B "$build_dir" -G Ninja "$@" >/dev/null
fi
echo "setup: ready; build directory $build_dir"
