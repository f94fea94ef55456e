#!/usr/bin/env bash
# The long soundness fuzz run (the test suite runs a bounded one): gamma-fuzz
# over every method and op, rotating seeds and generator settings, for a
# wall-clock budget. Each run's log keeps its seed; every failure in it is
# printed shrunk, as IR, with the command that replays it. Exits 1 if any run
# found a violation.
#   scripts/fuzz.sh [BUILD_DIR] [MINUTES] [FIRST_SEED]
#   scripts/fuzz.sh build 10              # ten minutes, seeds from the clock
#   scripts/fuzz.sh build-asan 30 1000    # under the sanitizers, seeds 1000...
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build}
minutes=${2:-10}
seed=${3:-$(date +%s)}
slice=60 # seconds per run

# In a sanitizer build a crash report then carries its stack.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

cmake --build "$build_dir" --target gamma-fuzz >/dev/null
fuzz="$build_dir/test/fuzz/gamma-fuzz"
logs="$build_dir/fuzz-logs"
mkdir -p "$logs"

# One rotation of settings: everything at once; the CROWN methods alone (so
# their shared points go to the attack); deeper graphs; larger tensors (the
# blocked and BLAS paths); a few ops at a time, so a rarely drawn op gets whole
# graphs of its own.
patterns=(relu sigmoid tanh exp log erf sqrt neg abs add sub mul div pow matmul conv batch_norm max_pool
          average_pool softmax layer_norm reduce_mean reduce_sum reshape transpose concat slice gather residual
          silu gelu rms_norm qwen3_block whisper_block)
settings=("--method all" "--method crown,crown-ibp" "--method all --max-steps 9"
          "--method all --max-input-elements 400 --max-elements 3000" "ops")

end=$(($(date +%s) + minutes * 60))
failed=0
run=0
while [ "$(date +%s)" -lt "$end" ]; do
  left=$((end - $(date +%s)))
  limit=$((left < slice ? left : slice))
  setting=${settings[$((run % ${#settings[@]}))]}
  if [ "$setting" = ops ]; then
    RANDOM=$seed # the pick is a function of the seed, so the log line replays it
    pick=${patterns[RANDOM % ${#patterns[@]}]},${patterns[RANDOM % ${#patterns[@]}]},${patterns[RANDOM % ${#patterns[@]}]}
    setting="--method all --max-steps 6 --ops $pick"
  fi
  log="$logs/seed-$seed.log"
  echo "fuzz: seed $seed, $limit s, $setting -> $log"
  # shellcheck disable=SC2086 # $setting is a list of arguments
  rc=0
  "$fuzz" --seed "$seed" --iterations 1000000000 --time-limit "$limit" --progress 0 $setting >"$log" 2>&1 || rc=$?
  if [ "$rc" -eq 0 ]; then
    grep -E '^[0-9]+ cases' "$log" | head -1 | sed 's/^/  /' || true
  else
    failed=1
    echo "  FAILED (exit $rc): see $log"
    grep -E '^(FAIL|fuzzer error|gamma-fuzz: signal)' "$log" | sed 's/^/  /' | head -20 || true
  fi
  seed=$((seed + 1))
  run=$((run + 1))
done
exit $failed
