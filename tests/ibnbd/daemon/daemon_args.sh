#!/usr/bin/env bash
# Both daemons refuse `--fabric ofi --provider verbs` (and verbs;ofi_rxm) at once, with exit code 2
# and a message that says why (libfabric's verbs provider takes 55 bytes of connect private data,
# RTRS needs 56) and what to use instead, before they create anything (no control socket).
# Usage: daemon_args.sh BIN_DIR
set -u
BIN=$1
W=$(mktemp -d /tmp/ibnbd-args.XXXXXX)
trap 'rm -rf "$W"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

expect_refused() {  # NAME ARGS...
    local name=$1; shift
    timeout 20 "$BIN/$name" "$@" > "$W/out" 2> "$W/err"
    local rc=$?
    [ $rc = 2 ] || fail "$name $*: exit code $rc, not 2 ($(cat "$W/err"))"
    grep -q "cannot speak RTRS" "$W/err" && grep -q "55 bytes" "$W/err" && grep -q -- "--fabric verbs" "$W/err" ||
        fail "$name $*: the message does not say why and what to use: $(cat "$W/err")"
    [ ! -e "$W/control.sock" ] || fail "$name $*: created its control socket before refusing"
    echo "ok: $name $* -> $(head -c 100 "$W/err")..."
}

for provider in verbs 'verbs;ofi_rxm'; do
    expect_refused ibnbd-server --fabric ofi --provider "$provider" --listen 127.0.0.1:4791 \
        --dev-search-path "$W" --control-socket "$W/control.sock"
    expect_refused ibnbd-client --fabric ofi --provider "$provider" --control-socket "$W/control.sock" \
        --nbd-dir "$W"
done
[ $failures = 0 ] && echo "all refused as expected"
exit $((failures != 0))
