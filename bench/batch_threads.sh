#!/usr/bin/env bash
# A batch of properties on one and on two threads: gamma-run decides the
# properties it is given in parallel (runtime/thread_pool.h), so the batch's
# wall time should fall by nearly the thread count.
#   bench/batch_threads.sh [--build DIR] [--threads "1 2"] [--search S] [-- extra gamma-run flags]
# The batch: every mnist_fc property (30) on mnist-net_256x4 with an S-second
# counterexample search each (default 0.3), so each property is real work
# (bounds, then a bounded search where they do not decide it); --search 0
# with `-- --no-attack --samples 10` leaves mostly the bounds. Uses hyperfine. Shared
# material: env GAMMA_SHARED_DIR, else ../shared next to the source tree.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build
threads="1 2"
search=0.3
extra=()
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --search) search=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "batch_threads.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
shared=${GAMMA_SHARED_DIR:-$root/../shared}
dir=$shared/vnncomp/mnist_fc
if [ ! -d "$dir" ]; then
  echo "batch_threads.sh: skipped: $dir not found (set GAMMA_SHARED_DIR)" >&2
  exit 0
fi
command -v hyperfine >/dev/null || { echo "batch_threads.sh: needs hyperfine (apt-get install hyperfine)" >&2; exit 2; }
props=$(ls "$dir"/vnnlib/*.vnnlib | tr '\n' ' ')
cmd="$build/tools/gamma-run $dir/onnx/mnist-net_256x4.onnx $props --search-time $search ${extra[*]:-}"
args=()
for t in $threads; do
  args+=(-n "GAMMA_THREADS=$t" "env GAMMA_THREADS=$t OPENBLAS_NUM_THREADS=1 $cmd > /dev/null; test \$? -le 1")
done
hyperfine --warmup 1 --runs 5 "${args[@]}"
