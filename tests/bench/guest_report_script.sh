#!/usr/bin/env bash
# guest_side_by_side_report.py on a synthetic guest log: fio's and ibnbd-bench's JSON are both
# read, CPU time per IO and the ratios to the kernel's RNBD (rnbd-Y) are computed, the Markdown
# and a well-formed SVG are written, the summary JSON renders the same table again, and a log that
# lacks a target is a clear error.
SRC=$1
command -v python3 >/dev/null || { echo "SKIPPED: python3 is not installed"; exit 77; }
WORK=$(mktemp -d /tmp/ibnbd-guest-report-test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
python3 - "$WORK/guest.log" <<'PY'
import json, sys
def fio(iops, p50_ns):
    side = {"total_ios": int(iops * 2), "iops": iops,
            "lat_ns": {"percentile": {"50.000000": p50_ns, "99.000000": p50_ns * 3}}}
    return {"jobs": [{"read": side, "write": dict(side, total_ios=0, iops=0)}]}
def bench(iops, p50_ns):
    side = {"ios": int(iops * 2), "iops": iops, "lat_ns": {"p50": p50_ns, "p99": p50_ns * 3}}
    return {"read": side, "write": dict(side, ios=0, iops=0)}
# (target, IOPS, busy CPU s over 2 s, server CPU s, client CPU s)
targets = [("rnbd-Y", 10000, 1.0, 0, 0), ("rnbd-N", 12000, 1.0, 0, 0), ("nvme-rdma", 11000, 1.1, 0, 0),
           ("nvme-tcp", 9000, 1.2, 0, 0), ("nbdkit", 5000, 1.5, 0, 0), ("ibnbd-ublk", 15000, 1.2, 0.6, 0.3),
           ("ibnbd-nbd", 8000, 1.6, 0.8, 0.4)]
with open(sys.argv[1], "w") as log:
    log.write("rxe-vm-guest: booted\n")
    for target, iops, busy, server, client in targets:
        record = {"target": target, "workload": "randread-4k-qd32", "busy_cpu_s": busy, "server_cpu_s": server,
                  "client_cpu_s": client,
                  "tool": "fio", "result": fio(iops, 40000)}
        log.write("SBS-RESULT " + json.dumps(record) + "\n")
    record = {"target": "ibnbd-inproc", "workload": "randread-4k-qd32", "busy_cpu_s": 2.0, "server_cpu_s": 0.5,
              "client_cpu_s": 1.0,
              "tool": "ibnbd-bench", "result": bench(20000, 30000)}
    log.write("SBS-RESULT " + json.dumps(record) + "\n")
    log.write("SBS-GUEST kernel=6.12.0-test cpus=2 fio=fio-3.33\n")
PY
python3 "$SRC/bench/guest_side_by_side_report.py" "$WORK/guest.log" "$WORK/out" || fail "the report script failed"
# rnbd-Y: 20000 IOs, 1.0 s busy -> 50 µs/IO; ibnbd-ublk: 30000 IOs, 1.2 s -> 40 µs/IO (daemons 20).
grep -q "| 4 KiB randread QD32 | rnbd-Y | 10000 | 40 | 120 | 50 | 1.00× | 1.00× |" "$WORK/out.md" ||
    fail "the reference row: $(grep rnbd-Y "$WORK/out.md")"
grep -q "| 4 KiB randread QD32 | ibnbd-ublk | 15000 | 40 | 120 | 40 (20 + 10) | 1.50× | 0.80× |" "$WORK/out.md" ||
    fail "the ublk row: $(grep ublk "$WORK/out.md")"
grep -q "| 4 KiB randread QD32 | ibnbd-inproc | 20000 | 30 | 90 | 50 (12 + 25) | 2.00× | 1.00× |" "$WORK/out.md" ||
    fail "the in-process row (ibnbd-bench JSON): $(grep inproc "$WORK/out.md")"
grep -q "| 4 KiB randread QD32 | 1.20 / 0.83 | 1.10 / 1.00 | 0.90 / 1.33 | 0.50 / 3.00 | 1.50 / 0.80 | 0.80 / 2.00 | 2.00 / 1.00 |" \
    "$WORK/out.md" || fail "the ratio matrix: $(grep -A3 'IOPS ratio /' "$WORK/out.md")"
grep -q "Guest: kernel=6.12.0-test cpus=2 fio=fio-3.33; qemu TCG on the host" "$WORK/out.md" || fail "the guest line"
python3 -c 'import sys, xml.dom.minidom as m; d = m.parse(sys.argv[1]); assert len(d.getElementsByTagName("rect")) == 14' \
    "$WORK/out.svg" || fail "the SVG is not well-formed or lacks bars"
python3 "$SRC/bench/guest_side_by_side_report.py" "$WORK/out.json" "$WORK/again" || fail "re-rendering from the summary"
cmp -s "$WORK/out.md" "$WORK/again.md" || fail "the summary renders another table: $(diff "$WORK/out.md" "$WORK/again.md")"
grep -v '"target": "nbdkit"' "$WORK/guest.log" > "$WORK/partial.log"
out=$(python3 "$SRC/bench/guest_side_by_side_report.py" "$WORK/partial.log" "$WORK/partial" 2>&1) && fail "a missing target passed"
grep -q "no result for nbdkit" <<< "$out" || fail "the missing target's message: $out"
grep -q Traceback <<< "$out" && fail "a traceback: $out"
echo "PASS: guest report script"
