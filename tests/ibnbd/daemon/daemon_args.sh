#!/usr/bin/env bash
# Both daemons refuse `--fabric ofi --provider verbs` (and verbs;ofi_rxm) at once, with exit code 2
# and a message that says why (libfabric's verbs provider takes 55 bytes of connect private data,
# RTRS needs 56) and what to use instead, before they create anything (no control socket). The
# server refuses --always-invalidate on over ofi (no memory windows) the same way, and without the
# option follows the fabric. The client refuses a --copy-lifetime-ms out of range.
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
# --always-invalidate on needs memory windows, which libfabric has not: refused, saying what to use.
# Without the option the server follows the fabric (off on ofi) and serves.
timeout 20 "$BIN/ibnbd-server" --fabric ofi --provider tcp --listen 127.0.0.1:0 --dev-search-path "$W" \
    --always-invalidate on --control-socket "$W/control.sock" > "$W/out" 2> "$W/err"
rc=$?
[ $rc = 2 ] || fail "ibnbd-server --always-invalidate on over ofi: exit code $rc, not 2 ($(cat "$W/err"))"
grep -q "needs memory windows" "$W/err" && grep -q -- "--always-invalidate off" "$W/err" ||
    fail "--always-invalidate on over ofi: the message does not say why and what to use: $(cat "$W/err")"
echo "ok: --always-invalidate on over ofi -> $(head -c 100 "$W/err")..."
timeout 20 "$BIN/ibnbd-server" --fabric ofi --provider tcp --listen 127.0.0.1:0 --dev-search-path "$W" \
    --always-invalidate maybe > "$W/out" 2> "$W/err"
rc=$?
[ $rc != 0 ] && grep -q "always-invalidate" "$W/err" ||
    fail "--always-invalidate maybe: exit code $rc, message: $(cat "$W/err")"
"$BIN/ibnbd-server" --fabric ofi --provider tcp --listen 127.0.0.1:0 --dev-search-path "$W" -v \
    > "$W/out" 2> "$W/err" &
server=$!
for _ in $(seq 100); do grep -q "always_invalidate" "$W/out" "$W/err" && break; sleep 0.1; done
grep -q "always_invalidate off on fabric ofi" "$W/out" "$W/err" ||
    fail "the default over ofi is not 'off': $(cat "$W/out" "$W/err")"
kill -0 $server 2>/dev/null || fail "the server with the default did not keep serving"
kill $server; wait $server
echo "ok: the default follows the fabric (off over ofi)"
# --copy-lifetime-ms is a duration of 0..3600000 ms: anything else is refused, naming the option.
for bad in 3600001 -5 soon; do
    timeout 20 "$BIN/ibnbd-client" --copy-lifetime-ms "$bad" --control-socket "$W/control.sock" --nbd-dir "$W" \
        > "$W/out" 2> "$W/err"
    rc=$?
    [ $rc != 0 ] && grep -q -- "--copy-lifetime-ms" "$W/err" ||
        fail "--copy-lifetime-ms $bad: exit code $rc, message: $(cat "$W/err")"
    [ ! -e "$W/control.sock" ] || fail "--copy-lifetime-ms $bad: created its control socket before refusing"
    echo "ok: --copy-lifetime-ms $bad -> $(head -c 100 "$W/err")"
done
[ $failures = 0 ] && echo "all refused as expected"
exit $((failures != 0))
