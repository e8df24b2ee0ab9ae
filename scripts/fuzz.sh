#!/usr/bin/env bash
# Long fuzzing runs (CI runs each target briefly: `ctest --preset asan` includes label fuzz;
# `ctest --preset fuzz` runs only those).
#   scripts/fuzz.sh [--runs N | --seconds S] [--jobs J] [TARGET...]   default: every target, 10M runs
#     (--jobs J: J processes, each with that limit; their logs in build-asan/findings/TARGET/fuzz-N.log)
#   scripts/fuzz.sh --seeds                                          rewrite fuzz/seeds from the encoders
# Builds the fuzz preset first (the asan build's fuzz targets: clang, ASan+UBSan, libFuzzer). New inputs go to
# build-asan/fuzz-corpus/TARGET; a finding stops the run and is saved as build-asan/findings/TARGET/crash-*.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=10000000 seconds=0 jobs=1 seeds=0 targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --seconds) seconds="$2"; runs=0; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --seeds) seeds=1; shift ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
if [ "$seeds" = 1 ]; then
  build-asan/bin/fuzz_make_seeds fuzz/seeds
  echo "fuzz.sh: seeds written to fuzz/seeds"
  exit 0
fi
if [ ${#targets[@]} -eq 0 ]; then
  for binary in build-asan/bin/fuzz_*; do
    name=$(basename "$binary"); name=${name#fuzz_}
    [ "$name" = make_seeds ] || targets+=("$name")
  done
fi

limit=(-runs="$runs")
[ "$runs" = 0 ] && limit=(-max_total_time="$seconds")
# Inputs up to 64 KiB (an INFO_RSP's chunk table), but the NBD connection's cost grows with the
# length (every byte goes through a socket pair and the session's buffers) and 4 KiB hold dozens of
# requests; every scenario the project ships is under 4 KiB too.
max_len() { case $1 in nbd_session|scenario_yaml) echo 4096 ;; *) echo 65536 ;; esac; }
root=$PWD
asan_options=detect_leaks=1:quarantine_size_mb=32:allocator_release_to_os_interval_ms=-1:malloc_context_size=8
for target in "${targets[@]}"; do
  corpus=$root/build-asan/fuzz-corpus/$target findings=$root/build-asan/findings/$target
  mkdir -p "$corpus" "$findings"
  echo "fuzz.sh: $target (${limit[*]}, $jobs jobs)"
  # One job runs in the foreground; several run as libFuzzer jobs, each with the same limit,
  # writing fuzz-N.log into the findings directory (libFuzzer puts them in the working directory).
  parallel=()
  [ "$jobs" -gt 1 ] && parallel=(-jobs="$jobs" -workers="$jobs")
  # A smaller quarantine, no returning of freed memory to the kernel and shorter allocation stacks:
  # the allocator took most of the time of the allocation-heavy targets (the YAML reader). Replay a
  # finding with full stacks: build-asan/bin/fuzz_TARGET build-asan/findings/TARGET/crash-*.
  (cd "$findings" && ASAN_OPTIONS=$asan_options "$root"/build-asan/bin/fuzz_"$target" "${limit[@]}" \
    -max_len="$(max_len "$target")" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$findings/" \
    "${parallel[@]}" "$corpus" "$root"/fuzz/seeds/"$target")
done
