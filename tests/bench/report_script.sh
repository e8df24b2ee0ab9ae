#!/usr/bin/env bash
# side_by_side_report.py on synthetic results: the median of three runs (and the fastest of three
# ping-pongs) is chosen, the ratios and goal verdicts are computed from it, the Markdown and the
# SVG are written, the SVG is well-formed XML, and missing results are a clear error rather than a
# traceback.
SRC=$1
command -v python3 >/dev/null || { echo "SKIPPED: python3 is not installed"; exit 77; }
WORK=$(mktemp -d /tmp/ibnbd-report-test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
mkdir "$WORK/json"
python3 - "$WORK/json" <<'PY'
import json, os, sys
d = sys.argv[1]
def result(iops, p50):
    side = {"ios": int(iops * 3), "bytes": int(iops * 3 * 4096), "iops": iops, "bw_bytes_per_s": iops * 4096,
            "lat_ns": {"min": p50 // 2, "avg": p50 * 1.2, "p50": p50, "p90": p50 * 2, "p99": p50 * 3,
                       "p99.9": p50 * 4, "max": p50 * 5}}
    empty = dict(side, ios=0, iops=0)
    return {"read": side, "write": empty}
keys = [f"{rw}-4k-qd{qd}" for rw in ("randread", "randwrite") for qd in (1, 8, 32, 128)]
keys += ["read-128k-qd8", "write-128k-qd8"]
for key in keys:
    for rep, (ib, nb) in enumerate([(30000, 10000), (90000, 10000), (60000, 20000)], 1):  # medians 60000 | 10000
        json.dump(result(ib, 26000), open(os.path.join(d, f"ibnbd-{key}-r{rep}.json"), "w"))
        json.dump(result(nb, 30000), open(os.path.join(d, f"nbdkit-{key}-r{rep}.json"), "w"))
for mode in ("write-imm", "send"):
    json.dump({"rtt_ns": {"min": 10000, "avg": 24000, "p50": 20000, "p99": 40000, "p99.9": 50000, "max": 90000}},
              open(os.path.join(d, f"pingpong-{mode}.json"), "w"))
open(os.path.join(d, "load-before.txt"), "w").write("0.10 0.20 0.30")
PY
python3 "$SRC/bench/side_by_side_report.py" "$WORK/json" "$WORK/out" --runtime 3 --ramp 0.5 --repeat 3 \
    || fail "the report script failed"
grep -q "| 4 KiB randread QD32 | 60000 |" "$WORK/out.md" || fail "the median run was not chosen: $(grep QD32 "$WORK/out.md")"
grep -q "| 4 KiB randread QD32: ibnbd IOPS / nbdkit IOPS | 6.00 | >= 2.0 | yes |" "$WORK/out.md" || fail "IOPS goal verdict"
grep -q "ibnbd p50 latency / raw RTT p50 (write-imm) | 1.30 | <= 1.3 | yes |" "$WORK/out.md" || fail "latency goal verdict"
grep -q "30000, 60000, 90000 | 10000, 10000, 20000" "$WORK/out.md" || fail "per-run IOPS list"
grep -q "before: 0.10 0.20 0.30, after: unknown" "$WORK/out.md" || fail "load average line"
python3 -c 'import sys, xml.dom.minidom as m; d = m.parse(sys.argv[1]); assert len(d.getElementsByTagName("rect")) == 15' \
    "$WORK/out.svg" || fail "the SVG is not well-formed or lacks bars"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["goals"]["randread_4k_qd32_iops_ratio"]["met"]' \
    "$WORK/out.json" || fail "summary JSON"
python3 "$SRC/bench/side_by_side_report.py" "$WORK/out.json" "$WORK/again" --summary --repeat 3 --runtime 3 --ramp 0.5 \
    && cmp -s "$WORK/out.svg" "$WORK/again.svg" || fail "re-rendering from the summary differs"
# One ping-pong per repetition: the run with the lowest p50 is the floor (13 us: ratio 2.00).
python3 - "$WORK/json" <<'PY'
import json, os, sys
for mode in ("write-imm", "send"):
    for rep, p50 in enumerate([26000, 50000, 13000], 1):
        json.dump({"rtt_ns": {"min": 9000, "avg": p50, "p50": p50, "p99": 2 * p50, "p99.9": 3 * p50, "max": 4 * p50}},
                  open(os.path.join(sys.argv[1], f"pingpong-{mode}-r{rep}.json"), "w"))
PY
python3 "$SRC/bench/side_by_side_report.py" "$WORK/json" "$WORK/floor" --runtime 3 --ramp 0.5 --repeat 3 \
    || fail "the report script failed with per-repetition ping-pongs"
grep -q "ibnbd p50 latency / raw RTT p50 (write-imm) | 2.00 | <= 1.3 | no |" "$WORK/floor.md" \
    || fail "the fastest ping-pong was not chosen: $(grep 'raw RTT p50' "$WORK/floor.md")"
rm "$WORK/json/nbdkit-read-128k-qd8-r2.json"
out=$(python3 "$SRC/bench/side_by_side_report.py" "$WORK/json" "$WORK/out2" --repeat 3 2>&1) && fail "missing results accepted"
grep -q "incomplete results.*nbdkit-read-128k-qd8-r2.json" <<< "$out" || fail "unclear error: $out"
echo "1 passed, 0 failed"
