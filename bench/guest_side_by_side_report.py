#!/usr/bin/env python3
"""Turns the guest log of guest_side_by_side.sh (its "SBS-RESULT {json}" lines) into a Markdown
table, an SVG of the ratios to the kernel's RNBD and a summary JSON. Standard library only.

usage: guest_side_by_side_report.py GUEST_LOG|SUMMARY.json OUT_PREFIX
Writes OUT_PREFIX.md, .svg and .json. Exit 1 when the log holds no result or a target lacks one.
Given the summary JSON of an earlier report instead of a log, renders that run again.
"""
import datetime
import json
import os
import platform
import sys

REFERENCE = "rnbd-Y"  # the kernel's RNBD with always_invalidate=Y, like ibnbd's default on verbs
TARGETS = [
    ("rnbd-Y", "kernel RNBD, always_invalidate=Y"),
    ("rnbd-N", "kernel RNBD, always_invalidate=N"),
    ("nvme-rdma", "NVMe-oF RDMA"),
    ("nvme-tcp", "NVMe-oF TCP"),
    ("nbdkit", "nbdkit + kernel nbd"),
    ("ibnbd-ublk", "ibnbd, /dev/ublkb0"),
    ("ibnbd-nbd", "ibnbd, NBD export + kernel nbd"),
    ("ibnbd-inproc", "ibnbd, in-process (ibnbd-bench)"),
]
OPTIONAL_TARGETS = [  # BENCH_NOSPIN=1
    ("ibnbd-ublk-nospin", "ibnbd, /dev/ublkb0, --spin-polls 0"),
    ("ibnbd-nbd-nospin", "ibnbd, NBD export, --spin-polls 0"),
    ("ibnbd-inproc-nospin", "ibnbd, in-process, server --spin-polls 0"),
]
WORKLOAD_LABELS = {
    "randread-4k-qd1": "4 KiB randread QD1", "randread-4k-qd32": "4 KiB randread QD32",
    "randwrite-4k-qd1": "4 KiB randwrite QD1", "randwrite-4k-qd32": "4 KiB randwrite QD32",
    "read-128k-qd8": "128 KiB seq read QD8", "write-128k-qd8": "128 KiB seq write QD8",
}


def from_fio(result):
    job = result["jobs"][0]
    side = job["read"] if job["read"]["total_ios"] else job["write"]
    pct = side["lat_ns"].get("percentile", {})  # submission to completion (fio --lat_percentiles)
    return {"ios": side["total_ios"], "iops": side["iops"],
            "p50_us": pct.get("50.000000", 0) / 1000, "p99_us": pct.get("99.000000", 0) / 1000}


def from_ibnbd_bench(result):
    side = result["read"] if result["read"]["ios"] else result["write"]
    return {"ios": side["ios"], "iops": side["iops"],
            "p50_us": side["lat_ns"]["p50"] / 1000, "p99_us": side["lat_ns"]["p99"] / 1000}


def parse(log_path):
    rows, guest = {}, ""
    with open(log_path, errors="replace") as log:
        for line in log:
            if line.startswith("SBS-GUEST "):
                guest = line[len("SBS-GUEST "):].strip()
            if not line.startswith("SBS-RESULT "):
                continue
            record = json.loads(line[len("SBS-RESULT "):])
            reader = from_fio if record["tool"] == "fio" else from_ibnbd_bench
            figures = reader(record["result"])
            ios = max(figures["ios"], 1)
            figures["cpu_us_per_io"] = record["busy_cpu_s"] * 1e6 / ios
            figures["server_cpu_us_per_io"] = record["server_cpu_s"] * 1e6 / ios
            figures["client_cpu_us_per_io"] = record["client_cpu_s"] * 1e6 / ios
            rows.setdefault(record["workload"], {})[record["target"]] = figures
    return rows, guest


def ratio(value, reference):
    return value / reference if reference else float("nan")


def matrix(rows):
    """Workloads by targets: IOPS ratio / CPU-per-IO ratio to the reference, at a glance."""
    targets = [t for t, _ in TARGETS + OPTIONAL_TARGETS if t != REFERENCE and any(t in r for r in rows.values())]
    out = ["| workload | " + " | ".join(targets) + " |", "| --- |" + " ---: |" * len(targets)]
    for workload, by_target in rows.items():
        reference = by_target.get(REFERENCE)
        cells = []
        for target in targets:
            f = by_target.get(target)
            if f is None or reference is None:
                cells.append("")
                continue
            cells.append(f"{ratio(f['iops'], reference['iops']):.2f} / {ratio(f['cpu_us_per_io'], reference['cpu_us_per_io']):.2f}")
        out.append(f"| {WORKLOAD_LABELS.get(workload, workload)} | " + " | ".join(cells) + " |")
    return out


def markdown(rows, info):
    out = [f"Guest: {info['guest']}; qemu {info.get('accel', 'tcg').upper()} on the host ({info['host']}); {info['when']}.",
           f"Ratios are to `{REFERENCE}`. CPU/IO: the guest's busy CPU time over the run (all CPUs, "
           "server, client and load generator together) per IO; for ibnbd, in brackets, its server's and its "
           "client's own (the client daemon, or ibnbd-bench when it is the client): the rest is the "
           "kernel's (rxe, block layer) and fio's. "
           "fio (O_DIRECT, io_uring) drives the block devices; ibnbd-inproc is ibnbd-bench as the IBNBD "
           "client, with 124 KiB IOs in the 128 KiB rows (the largest that fits a chunk: the block layer "
           "splits 128 KiB the same way for the others).",
           "",
           f"IOPS ratio / CPU-per-IO ratio to `{REFERENCE}` (higher IOPS and lower CPU are better):",
           ""] + matrix(rows) + [
           "",
           "| workload | target | IOPS | p50 µs | p99 µs | CPU µs/IO | IOPS ratio | CPU/IO ratio |",
           "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for workload, by_target in rows.items():
        reference = by_target.get(REFERENCE)
        for target, _ in TARGETS + OPTIONAL_TARGETS:
            f = by_target.get(target)
            if f is None:
                continue
            cpu = f"{f['cpu_us_per_io']:.0f}"
            if target.startswith("ibnbd"):
                cpu += f" ({f['server_cpu_us_per_io']:.0f} + {f['client_cpu_us_per_io']:.0f})"
            iops_ratio = ratio(f["iops"], reference["iops"]) if reference else float("nan")
            cpu_ratio = ratio(f["cpu_us_per_io"], reference["cpu_us_per_io"]) if reference else float("nan")
            out.append(f"| {WORKLOAD_LABELS.get(workload, workload)} | {target} | {f['iops']:.0f} | {f['p50_us']:.0f} | "
                       f"{f['p99_us']:.0f} | {cpu} | {iops_ratio:.2f}× | {cpu_ratio:.2f}× |")
    return "\n".join(out) + "\n"


def svg(rows, info):
    """Bars of the IOPS ratio and the CPU/IO ratio to the reference, per workload and target."""
    workloads = list(rows)
    targets = [t for t, _ in TARGETS + OPTIONAL_TARGETS if t != REFERENCE and any(t in r for r in rows.values())]
    width, row_h, bar_h, left = 1000, 18 * len(targets) + 24, 7, 230
    height = 70 + row_h * len(workloads)
    scale = 300  # pixels per 1.0
    body = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
            f'<text x="10" y="18" font-size="14">ibnbd and the kernel peers in one SoftRoCE guest: ratio to {REFERENCE}</text>',
            f'<text x="10" y="34">{info["guest"]}, {info["when"]}. Blue: IOPS ratio; orange: CPU time per IO ratio.</text>']
    x1 = left + scale
    body.append(f'<line x1="{x1}" y1="44" x2="{x1}" y2="{height - 10}" stroke="#888" stroke-dasharray="4"/>')
    body.append(f'<text x="{x1 - 8}" y="54">1.0</text>')
    y = 64
    for workload in workloads:
        body.append(f'<text x="10" y="{y + 10}" font-weight="bold">{WORKLOAD_LABELS.get(workload, workload)}</text>')
        y += 16
        reference = rows[workload].get(REFERENCE)
        for target in targets:
            f = rows[workload].get(target)
            if f is None or reference is None:
                continue
            iops = min(ratio(f["iops"], reference["iops"]), 2.2)
            cpu = min(ratio(f["cpu_us_per_io"], reference["cpu_us_per_io"]), 2.2)
            body.append(f'<text x="20" y="{y + 9}">{target}</text>')
            body.append(f'<rect x="{left}" y="{y}" width="{iops * scale:.0f}" height="{bar_h}" fill="#3b75af"/>')
            body.append(f'<rect x="{left}" y="{y + bar_h}" width="{cpu * scale:.0f}" height="{bar_h}" fill="#ef8636"/>')
            body.append(f'<text x="{left + max(iops, cpu) * scale + 4:.0f}" y="{y + 11}">'
                        f'{ratio(f["iops"], reference["iops"]):.2f}× / {ratio(f["cpu_us_per_io"], reference["cpu_us_per_io"]):.2f}×</text>')
            y += 18
        y += 8
    body.append("</svg>")
    return "\n".join(body) + "\n"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    summary = None
    if sys.argv[1].endswith(".json"):
        with open(sys.argv[1]) as f:
            summary = json.load(f)
        rows, guest = summary["rows"], summary["info"]["guest"]
    else:
        rows, guest = parse(sys.argv[1])
    if not rows:
        print("guest_side_by_side_report: no SBS-RESULT line in the guest log", file=sys.stderr)
        return 1
    missing = [t for t, _ in TARGETS if not any(t in by_target for by_target in rows.values())]
    if missing:
        print(f"guest_side_by_side_report: no result for {', '.join(missing)}", file=sys.stderr)
        return 1
    info = summary["info"] if summary else {
        "guest": guest or "unknown guest", "host": " ".join(platform.uname()[0:3:2]),
        "accel": os.environ.get("RXE_VM_ACCEL", "tcg"),  # run-rxe-vm.sh's accelerator
        "when": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    prefix = sys.argv[2]
    with open(prefix + ".md", "w") as f:
        f.write(markdown(rows, info))
    with open(prefix + ".svg", "w") as f:
        f.write(svg(rows, info))
    with open(prefix + ".json", "w") as f:
        json.dump({"info": info, "reference": REFERENCE, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
