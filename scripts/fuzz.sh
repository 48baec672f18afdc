#!/usr/bin/env bash
# Builds the libFuzzer targets with clang into build-fuzz/ (only the targets and what they link)
# and runs each for FUZZ_SECONDS (default 20) from a fresh copy of its checked-in seed corpus
# (<module>/fuzz/corpus/<target>/, with <module>/fuzz/<target>.dict when there is one). Fails on
# the first crash, leak, timeout or broken invariant and prints the input that caused it.
#
#   scripts/fuzz.sh                                   # 20 s each (scripts/test.sh: 10 s)
#   FUZZ_SECONDS=600 scripts/fuzz.sh                  # the long run
#   FUZZ_TARGETS="tokenizer_fuzzer" FUZZ_JOBS=2 scripts/fuzz.sh
#
# FUZZ_JOBS: targets fuzzed at once (default 1). FUZZ_BUILD=0 skips the build. Each run keeps its
# log, grown corpus and crash inputs in build-fuzz/runs/<target>/; the last line of a passing
# run's summary is libFuzzer's own (#runs, cov:, ft:, corp:).
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
FUZZ_JOBS=${FUZZ_JOBS:-1}
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}

# target -> the module directory that holds it (its binary is $BUILD_DIR/<module>/<target>).
declare -A MODULE=(
  [safetensors_header_fuzzer]=common
  [tokenizer_fuzzer]=common/tokenizer
  [jinja_fuzz]=common/jinja
  [openai_request_fuzzer]=coordinator/http
  [http_request_fuzzer]=coordinator/http
)
# Extra libFuzzer flags per target. The HTTP server's threads keep allocations alive from one
# input to the next, so libFuzzer's per-input leak check (a full LeakSanitizer scan whenever
# mallocs and frees differ) would run on almost every input and slow it down 4x; LeakSanitizer
# still checks for leaks when the process exits, after the server has stopped.
declare -A EXTRA=(
  [http_request_fuzzer]="-detect_leaks=0"
)
ALL="safetensors_header_fuzzer tokenizer_fuzzer jinja_fuzz
     openai_request_fuzzer http_request_fuzzer"
read -r -a targets <<<"$(echo ${FUZZ_TARGETS:-$ALL})"
for t in "${targets[@]}"; do
  [[ -n "${MODULE[$t]:-}" ]] || { echo "fuzz.sh: unknown target $t (known: $ALL)" >&2; exit 2; }
done

if [[ "${FUZZ_BUILD:-1}" != 0 ]]; then
  BUILD_DIR=$BUILD_DIR BUILD_TARGET="${targets[*]}" scripts/build.sh -DR1_CUDA=OFF -DR1_FUZZ=ON \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS_DEBUG="-g -O1"  # asserts on, and fast enough to fuzz
fi

# Runs one target; prints one summary line; returns non-zero on a finding.
run_one() {
  local t=$1 mod=${MODULE[$1]}
  local bin=$BUILD_DIR/$mod/$t run=$BUILD_DIR/runs/$t
  local seeds=$mod/fuzz/corpus/$t dict=$mod/fuzz/$t.dict
  rm -rf "$run" && mkdir -p "$run/corpus" "$run/crashes"
  [[ -d "$seeds" ]] && cp -r "$seeds/." "$run/corpus/"
  local args=(-max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -timeout=60 -max_len=8192
              -print_final_stats=1 -artifact_prefix="$run/crashes/")
  [[ -f "$dict" ]] && args+=(-dict="$dict")
  # shellcheck disable=SC2206
  [[ -n "${EXTRA[$t]:-}" ]] && args+=(${EXTRA[$t]})
  local seeds_n; seeds_n=$(find "$run/corpus" -type f | wc -l)
  if "$bin" "${args[@]}" "$run/corpus" >"$run/fuzz.log" 2>&1; then
    local done_line execs
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$run/fuzz.log" | tail -1 || true)
    execs=$(grep -E '^stat::number_of_executed_units' "$run/fuzz.log" | awk '{print $2}' || true)
    printf 'fuzz: %-26s ok  %ss  execs=%s seeds=%s corpus=%s  %s\n' "$t" "$FUZZ_SECONDS" \
      "${execs:-?}" "$seeds_n" "$(find "$run/corpus" -type f | wc -l)" \
      "$(echo "$done_line" | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[^ ]+' || true)"
    return 0
  fi
  echo "fuzz: $t FAILED; last lines of $run/fuzz.log:" >&2
  tail -60 "$run/fuzz.log" >&2
  local found
  found=$(find "$run/crashes" -type f | head -5)
  echo "fuzz: $t: input(s) that failed: ${found:-none written (see the log)}" >&2
  echo "fuzz: reproduce with: $bin ${found%%$'\n'*}" >&2
  return 1
}

failed=0
running=0
for t in "${targets[@]}"; do
  if (( FUZZ_JOBS > 1 )); then
    run_one "$t" &
    running=$((running + 1))
    if (( running >= FUZZ_JOBS )); then
      wait -n || failed=1
      running=$((running - 1))
    fi
  else
    run_one "$t" || failed=1
  fi
done
while (( running > 0 )); do
  wait -n || failed=1
  running=$((running - 1))
done
if (( failed )); then
  echo "fuzz.sh: FAILED" >&2
  exit 1
fi
echo "fuzz.sh: ${#targets[@]} target(s), ${FUZZ_SECONDS} s each, no crash"
