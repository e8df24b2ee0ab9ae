#!/usr/bin/env bash
# The counts the micro-benchmarks print are claims, so check them: exactly 2 network messages per
# IO for reads and for writes, and with always_invalidate 2 (write) or 3 (read) and exactly 2 key
# operations, and 0 allocations per IO (ibtrs_io_bench), 0 allocations per codec
# operation and per multipath choice. Timings are not checked (speed goals never go in tests).
BIN=$1
status=0
check() {  # check PROGRAM PATTERN...: every pattern must be in the output, no error, no allocation
    local program=$1; shift
    [ -x "$BIN/$program" ] || { echo "SKIPPED: $program is not built"; exit 77; }
    local out; out=$("$BIN/$program" --benchmark_min_time=0.01 2>&1)
    for pattern in "$@"; do
        grep -qE -- "$pattern" <<< "$out" || { echo "FAIL: $program: no '$pattern' in:"; echo "$out"; status=1; }
    done
    if grep -qE "ERROR|allocs_per_(io|op)=[^0]" <<< "$out"; then echo "FAIL: $program:"; echo "$out"; status=1; fi
}
check ibtrs_io_bench "write, always_invalidate off: 2.00 network messages per IO.*0.00 key operations" \
    "read, always_invalidate off: 2.00 network messages per IO.*0.00 key operations" \
    "write, always_invalidate on: 2.00 network messages per IO.*2.00 key operations" \
    "read, always_invalidate on: 3.00 network messages per IO.*2.00 key operations" "allocs_per_io=0"
check codec_bench "BM_rnbd_io_encode.*allocs_per_op=0" "BM_rtrs_read_request_decode.*allocs_per_op=0"
check mp_policy_bench "BM_mp_min_inflight/128.*allocs_per_op=0" "BM_mp_round_robin/2.*allocs_per_op=0"
[ $status = 0 ] && echo "1 passed, 0 failed"
exit $status
