#!/usr/bin/env bash
# The benchmark programs refuse bad command lines with a clear message and exit code 2, and never
# crash; an unreachable target is a runtime failure (exit 1) with a message, not a hang.
BIN=$1
status=0
expect() {  # expect CODE WORDS -- command...
    local code=$1 words=$2; shift 3
    local out; out=$("$@" 2>&1); local got=$?
    if [ "$got" != "$code" ] || ! grep -qF -- "$words" <<< "$out"; then
        echo "FAIL: $* exited $got (want $code), output: $out"; status=1
    fi
}
B=$BIN/ibnbd-bench
expect 2 "target is required" -- "$B"
expect 2 "bad --rw 'sideways'" -- "$B" --rw sideways nbd://127.0.0.1/
expect 2 "bad block size '3k1'" -- "$B" --bs 3k1 nbd://127.0.0.1/
expect 2 "--iodepth" -- "$B" --iodepth -1 nbd://127.0.0.1/
expect 2 "unknown target" -- "$B" ftp://127.0.0.1/x
expect 2 "at least one path" -- "$B" ibnbd://s/v
expect 2 "bad path '127.0.0.1:70000'" -- "$B" "ibnbd://s/v?path=127.0.0.1:70000"
expect 2 "--no-prefill only makes sense" -- "$B" --no-prefill nbd://127.0.0.1/
expect 0 "--rwmixread" -- "$B" --help
expect 1 "cannot connect to nbd://127.0.0.1:1/" -- "$B" --runtime 1 nbd://127.0.0.1:1/
expect 1 "cannot connect to 127.0.0.1:1" -- timeout 20 "$B" --connect-timeout 1 "ibnbd://s/v?path=127.0.0.1:1"
if [ -x "$BIN/fabric_pingpong" ]; then
    expect 2 "--mode" -- "$BIN/fabric_pingpong" --mode smoke-signals
    expect 2 "--size" -- "$BIN/fabric_pingpong" --size 0
fi
[ $status = 0 ] && echo "1 passed, 0 failed"
exit $status
