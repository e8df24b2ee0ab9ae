#!/usr/bin/env bash
# qemu-img against the NBD export, unmodified: the device is exported on its unix socket and, with
# `map --nbd-tcp`, on a loopback TCP port too. qemu-img info sees the size, qemu-img convert writes
# 32 MiB of random data through TCP and reads it back through the unix socket, qemu-img compare
# finds them equal. A non-loopback --nbd-tcp is refused (NBD has no authentication).
BIN=$1; source "$(dirname "$0")/lib.sh"
need qemu-img cmp
mkdir -p "$WORK/vols" && truncate -s 64M "$WORK/vols/vol0"
start_server
start_client
"$BIN/ibnbd" map --session q --path "127.0.0.1:$PORT" --device vol0 --nbd-tcp 10.0.0.1:10809 2> "$WORK/refused.txt"
[ $? = 1 ] || fail "a non-loopback --nbd-tcp must be refused with exit 1"
grep -q loopback "$WORK/refused.txt" || fail "the refusal does not say why: $(cat "$WORK/refused.txt")"
"$BIN/ibnbd" map --session q --path "127.0.0.1:$PORT" --device vol0 --nbd-tcp 127.0.0.1:0 || fail "map"
TCP_URI=$("$BIN/ibnbd" --json show --session q --device vol0 | sed -n 's/.*"nbd_tcp_uri": "\([^"]*\)".*/\1/p')
[ -n "$TCP_URI" ] || fail "show gives no nbd_tcp_uri"
qemu-img info --output=json "$TCP_URI" > "$WORK/info.json" || fail "qemu-img info over TCP"
grep -q '"virtual-size": 67108864' "$WORK/info.json" || fail "qemu-img sees a wrong size: $(cat "$WORK/info.json")"
head -c 32M /dev/urandom > "$WORK/in.bin"
qemu-img convert -n -f raw -O raw "$WORK/in.bin" "$TCP_URI" || fail "qemu-img convert into the device over TCP"
qemu-img convert -f raw -O raw "$(uri q vol0)" "$WORK/out.bin" || fail "qemu-img convert out over the unix socket"
cmp -n 33554432 "$WORK/in.bin" "$WORK/out.bin" || fail "data read back differs"
cmp -n 33554432 -i 33554432 "$WORK/out.bin" /dev/zero || fail "the rest is not zeros"
qemu-img compare -f raw -F raw "$WORK/out.bin" "$TCP_URI" || fail "qemu-img compare: device and copy differ"
"$BIN/ibnbd" unmap --session q --device vol0 || fail "unmap"
echo "1 passed, 0 failed"
