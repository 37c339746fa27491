#!/usr/bin/env bash
# Fuzzing (not part of CI): builds the cargo-fuzz targets in fuzz/ with the nightly toolchain and runs
# each for a set time from seeds (examples, vendor fixtures, fuzz/seeds/), then prints executions and crashes per target.
#
#   scripts/fuzz.sh            # 120 s per target
#   scripts/fuzz.sh 600 hcl_loader redfish_json
#
# Crashes are written to fuzz/artifacts/<target>/; the growing corpus to fuzz/corpus/<target>/ (both
# ignored by git). Re-run one crash with: cd fuzz && cargo +nightly fuzz run <target> <file>
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET="${1:-120}"
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(hcl_loader redfish_json switch_output config_drive)

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz

cd fuzz
printf '%-14s %12s %10s %8s %s\n' target executions exec/s crashes corpus
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  # Seeds: what the repository already holds (examples, vendor fixtures), and fuzz/seeds/.
  case "$t" in
    hcl_loader) for f in ../examples/*/main.tf ../examples/resources/*/resource.tf; do
                  cp -n "$f" "corpus/$t/$(echo "$f" | tr / _)"; done ;;
    redfish_json) cp -n ../planner/tests/fixtures/redfish/*.json "corpus/$t/" ;;
  esac
  cp -n seeds/"$t"/* "corpus/$t/" 2>/dev/null || true
  log="artifacts/$t/run.log"
  # -fork keeps going after a crash, so one run reports them all; each crash lands in artifacts.
  cargo +nightly fuzz run "$t" "corpus/$t" -- \
    -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=10 -max_len=65536 \
    -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"$log" 2>&1 || true
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  crashes=$(find "artifacts/$t" -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' | wc -l)
  corpus=$(find "corpus/$t" -type f | wc -l)
  printf '%-14s %12s %10s %8s %s\n' "$t" "${execs:-?}" "${rate:-?}" "$crashes" "$corpus"
done
