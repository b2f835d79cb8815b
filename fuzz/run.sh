#!/usr/bin/env bash
# Fuzzes every target for SECONDS each (default 60), one after another, on the stable toolchain.
#
#   fuzz/run.sh [SECONDS]
#
# With cargo-fuzz installed it runs `cargo fuzz run <target> -s none`. Without it (CI: installing
# cargo-fuzz from source costs many CPU-minutes) it builds the targets itself with the flags
# cargo-fuzz passes to rustc and runs the libFuzzer binaries directly; FUZZ_DIRECT=1 forces this.
# New inputs go to target/corpus/<target>/ (kept between runs), crashes to artifacts/<target>/.
# The checked-in corpus/ and regressions/ are only read, unless FUZZ_MERGE=1, which afterwards
# merges what added coverage into corpus/<target>/ (libFuzzer's -merge=1 keeps it small).
# FUZZ_RUNS=N stops each target after N inputs and FUZZ_SEED=S fixes libFuzzer's seed: with both
# (and an empty fuzz/target/corpus) a run is the same sequence of inputs every time, which is
# what CI uses, so its result can be reproduced exactly.
# FUZZ_TARGETS="decode node" picks targets. Exits non-zero if any target crashed, leaked,
# timed out or ran out of memory, after printing executions and coverage per target.
set -euo pipefail
cd "$(dirname "$0")"

secs="${1:-60}"
read -r -a targets <<<"${FUZZ_TARGETS:-decode open frame node}"
export CARGO_TARGET_DIR="$PWD/target"
triple="$(rustc -vV | sed -n 's/^host: //p')"

# What `cargo fuzz build -s none --debug-assertions` passes (cargo-fuzz 0.12/0.13, src/project.rs).
# Debug assertions turn on overflow checks, so arithmetic that would wrap in release fails here.
sancov_flags=(
  -Cpasses=sancov-module
  -Cllvm-args=-sanitizer-coverage-level=4
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
  -Cllvm-args=-sanitizer-coverage-pc-table
  -Cllvm-args=-sanitizer-coverage-trace-compares
  -Cllvm-args=-simplifycfg-branch-fold-threshold=0
  --cfg fuzzing
  -Clink-dead-code
  -Cllvm-args=-sanitizer-coverage-stack-depth
  -Cdebug-assertions
  -Ccodegen-units=1
)

# Inputs past these lengths only slow the fuzzer down: datagrams are at most 512 bytes here and
# the node target's scripts a few kilobytes.
max_len() {
  case "$1" in
    decode | open) echo 2048 ;;
    *) echo 8192 ;;
  esac
}

if [[ -z "${FUZZ_DIRECT:-}" ]] && cargo fuzz --version >/dev/null 2>&1; then
  mode="cargo-fuzz"
  echo "== building with $(cargo fuzz --version)"
  cargo fuzz build -s none --debug-assertions --target-dir "$CARGO_TARGET_DIR" "${targets[@]/#/--bin=}" 2>/dev/null \
    || cargo fuzz build -s none --debug-assertions --target-dir "$CARGO_TARGET_DIR"
else
  mode="direct"
  echo "== building with the sancov flags on $(rustc --version)"
  RUSTFLAGS="${sancov_flags[*]} ${RUSTFLAGS:-}" cargo build --release \
    --config profile.release.debug=true --target "$triple" "${targets[@]/#/--bin=}"
fi

mkdir -p target/logs
failed=()
summary=()
for t in "${targets[@]}"; do
  mkdir -p "target/corpus/$t" "artifacts/$t" "corpus/$t" "regressions/$t"
  args=(
    "-max_total_time=$secs" "-max_len=$(max_len "$t")" -timeout=10 -rss_limit_mb=2048
    ${FUZZ_RUNS:+"-runs=$FUZZ_RUNS"} ${FUZZ_SEED:+"-seed=$FUZZ_SEED"}
    -print_final_stats=1 "-artifact_prefix=artifacts/$t/"
    "target/corpus/$t" "corpus/$t" "regressions/$t"
  )
  log="target/logs/$t.log"
  echo "== fuzzing $t for ${secs}s ($mode), log in fuzz/$log"
  status=0
  if [[ "$mode" == "cargo-fuzz" ]]; then
    cargo fuzz run "$t" -s none --debug-assertions --target-dir "$CARGO_TARGET_DIR" -- "${args[@]}" >"$log" 2>&1 || status=$?
  else
    "target/$triple/release/$t" "${args[@]}" >"$log" 2>&1 || status=$?
  fi
  # The last status line carries the final coverage; final stats carry the execution count.
  last="$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1 || true)"
  cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")"
  ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")"
  corp="$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$last")"
  execs="$(sed -n 's/^stat::number_of_executed_units: //p' "$log" | tail -n 1)"
  rss="$(sed -n "s/^stat::peak_rss_mb: *//p" "$log" | tail -n 1)"
  line="$(printf '%-7s %-8s execs=%-10s cov=%-6s ft=%-6s corpus=%-12s peak_rss_mb=%s' \
    "$t" "$([[ $status == 0 ]] && echo ok || echo "FAIL($status)")" \
    "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "${rss:-?}")"
  echo "$line"
  summary+=("$line")
  if [[ $status != 0 ]]; then
    failed+=("$t")
    grep -E 'panicked|ERROR|SUMMARY|Test unit written|Base64' "$log" | head -n 20 || true
    echo "-- last lines of fuzz/$log:"
    tail -n 30 "$log"
  elif [[ -n "${FUZZ_MERGE:-}" ]]; then
    echo "== merging new coverage of $t into corpus/$t"
    if [[ "$mode" == "cargo-fuzz" ]]; then
      cargo fuzz run "$t" -s none --debug-assertions --target-dir "$CARGO_TARGET_DIR" -- \
        -merge=1 "-max_len=$(max_len "$t")" "corpus/$t" "target/corpus/$t" >>"$log" 2>&1
    else
      "target/$triple/release/$t" -merge=1 "-max_len=$(max_len "$t")" \
        "corpus/$t" "target/corpus/$t" >>"$log" 2>&1
    fi
  fi
done

echo
echo "== fuzz summary (${secs}s a target)"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "FAILED: ${failed[*]} (reproducers in fuzz/artifacts/<target>/; keep each fixed one in fuzz/regressions/<target>/)"
  exit 1
fi
