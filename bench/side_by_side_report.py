#!/usr/bin/env python3
"""Turns side_by_side.sh's JSON results into a Markdown table, an SVG plot of the ratios and a
summary JSON. Standard library only.

usage: side_by_side_report.py JSON_DIR OUT_PREFIX [--runtime S] [--ramp S] [--repeat N] [--hog N]
Writes OUT_PREFIX.md, .svg and .json (side_by_side.sh passes bench/results/latest).
Each (target, workload) has N runs KIND-KEY-rI.json; the run with the median IOPS is reported.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

WORKLOADS = [(f"{rw}-4k-qd{qd}", f"4 KiB {rw} QD{qd}") for rw in ("randread", "randwrite") for qd in (1, 8, 32, 128)]
WORKLOADS += [("read-128k-qd8", "128 KiB seq read QD8"), ("write-128k-qd8", "128 KiB seq write QD8")]
IOPS_GOAL = 2.0      # 4 KiB randread QD32: ibnbd IOPS / nbdkit IOPS
LATENCY_GOAL = 1.3   # 4 KiB randread QD1: ibnbd latency / raw fabric RTT


def load(directory, name):
    with open(os.path.join(directory, name + ".json")) as f:
        return json.load(f)


def side(result):
    """The direction that carried the IO (read or write)."""
    return result["read"] if result["read"]["ios"] else result["write"]


def machine():
    model = "unknown"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next((l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("Model name")), model)
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "kernel": platform.release()}


def load_average(directory, name):
    try:
        with open(os.path.join(directory, f"load-{name}.txt")) as f:
            return f.read().strip()
    except OSError:
        return "unknown"


def median_run(directory, name, repeat):
    """The run with the median IOPS (the lower one of the middle two for an even count) and the
    IOPS of every run."""
    runs = sorted((side(load(directory, f"{name}-r{i}")) for i in range(1, repeat + 1)), key=lambda d: d["iops"])
    return runs[(len(runs) - 1) // 2], [round(d["iops"]) for d in runs]


def collect(directory, repeat):
    rows = []
    for key, label in WORKLOADS:
        ib, ib_all = median_run(directory, "ibnbd-" + key, repeat)
        nb, nb_all = median_run(directory, "nbdkit-" + key, repeat)
        rows.append({"key": key, "label": label, "ibnbd": ib, "nbdkit": nb, "ibnbd_runs_iops": ib_all,
                     "nbdkit_runs_iops": nb_all, "iops_ratio": ib["iops"] / nb["iops"] if nb["iops"] else 0.0})
    pings = {mode: floor_ping(directory, mode, repeat) for mode in ("write-imm", "send")}
    return rows, pings


def floor_ping(directory, mode, repeat):
    """The floor: of the ping-pong runs (one per repetition, pingpong-MODE-rN), the one with the
    lowest p50, since a scheduler hiccup only ever makes a round trip slower; a single run is
    pingpong-MODE."""
    names = [f"pingpong-{mode}-r{i}" for i in range(1, repeat + 1)]
    if not all(os.path.exists(os.path.join(directory, name + ".json")) for name in names):
        return load(directory, "pingpong-" + mode)
    return min((load(directory, name) for name in names), key=lambda p: p["rtt_ns"]["p50"])


def goals(rows, pings):
    by_key = {r["key"]: r for r in rows}
    qd32 = by_key["randread-4k-qd32"]["iops_ratio"]
    qd1 = by_key["randread-4k-qd1"]["ibnbd"]["lat_ns"]
    rtt = pings["write-imm"]["rtt_ns"]
    return {
        "randread_4k_qd32_iops_ratio": {"value": qd32, "goal": f">= {IOPS_GOAL}", "met": qd32 >= IOPS_GOAL},
        "randread_4k_qd1_latency_over_rtt_p50": {"value": qd1["p50"] / rtt["p50"], "goal": f"<= {LATENCY_GOAL}",
                                                  "met": qd1["p50"] / rtt["p50"] <= LATENCY_GOAL},
        # For information only: one scheduler stall of either side moves a mean, so the goal is
        # judged on the medians.
        "randread_4k_qd1_latency_over_rtt_avg": {"value": qd1["avg"] / rtt["avg"], "goal": "(information)",
                                                  "met": None},
    }


def us(ns):
    return f"{ns / 1e3:.1f}"


def markdown(rows, pings, goal, info, args):
    lines = [f"# ibnbd vs nbdkit (memory) side by side, {info['when']}", "",
             f"Machine: {info['nproc']} CPUs, {info['cpu']}, Linux {info['kernel']}. Each run {args.runtime} s after "
             f"{args.ramp} s ramp, one job, median of {args.repeat} run(s) by IOPS, ibnbd and nbdkit alternating; "
             "loopback TCP; ibnbd over libfabric tcp (ibnbd-server, tmpfs file, "
             "queue depth 128, 256 KiB chunks), nbdkit memory plugin through libnbd. Load average (1/5/15 min) "
             f"before: {info['load_before']}, after: {info['load_after']}." +
             (f" **Contention: {info.get('hog')} CPU hogs** (busy loops at the daemons' priority) ran throughout."
              if info.get("hog") else ""), "",
             "| workload | ibnbd IOPS | ibnbd MiB/s | ibnbd avg / p50 / p99 lat (us) | nbdkit IOPS | nbdkit MiB/s "
             "| nbdkit avg / p50 / p99 lat (us) | ibnbd / nbdkit IOPS |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ib, nb = r["ibnbd"], r["nbdkit"]
        lat = lambda d: f"{us(d['lat_ns']['avg'])} / {us(d['lat_ns']['p50'])} / {us(d['lat_ns']['p99'])}"
        lines.append(f"| {r['label']} | {ib['iops']:.0f} | {ib['bw_bytes_per_s'] / 1048576:.1f} | {lat(ib)} "
                     f"| {nb['iops']:.0f} | {nb['bw_bytes_per_s'] / 1048576:.1f} | {lat(nb)} | {r['iops_ratio']:.2f} |")
    if args.repeat > 1:
        lines += ["", "IOPS of every run (ibnbd | nbdkit):", ""]
        lines += [f"- {r['label']}: {', '.join(map(str, r['ibnbd_runs_iops']))} | "
                  f"{', '.join(map(str, r['nbdkit_runs_iops']))}" for r in rows]
    lines += ["", "Raw fabric round trip (fabric_pingpong, 4 KiB each way, ofi tcp, both sides busy polling, "
                  "measured before the daemons start; of several runs the one with the lowest p50):", "",
              "| mode | min | avg | p50 | p99 | p99.9 | max (us) |", "|---|---:|---:|---:|---:|---:|---:|"]
    for mode, p in pings.items():
        t = p["rtt_ns"]
        lines.append(f"| {mode} | {us(t['min'])} | {us(t['avg'])} | {us(t['p50'])} | {us(t['p99'])} "
                     f"| {us(t['p99.9'])} | {us(t['max'])} |")
    lines += ["", "Goals (ratios measured in this run):", "", "| goal | measured | target | met |", "|---|---:|---:|---|"]
    names = {"randread_4k_qd32_iops_ratio": "4 KiB randread QD32: ibnbd IOPS / nbdkit IOPS",
             "randread_4k_qd1_latency_over_rtt_p50": "4 KiB read QD1: ibnbd p50 latency / raw RTT p50 (write-imm)",
             "randread_4k_qd1_latency_over_rtt_avg": "4 KiB read QD1: ibnbd mean latency / raw RTT mean (write-imm)"}
    for key, g in goal.items():
        met = "-" if g["met"] is None else "yes" if g["met"] else "no"
        lines.append(f"| {names[key]} | {g['value']:.2f} | {g['goal']} | {met} |")
    return "\n".join(lines) + "\n"


def bar_panel(x0, y0, width, height, title, bars, goal_value, goal_label, scale_max, good):
    """One bar chart: bars = [(label, value)], a dashed goal line, a solid parity line at 1; bars
    for which good(value) holds are blue, the others red."""
    out = [f'<text x="{x0 + width / 2}" y="{y0 - 12}" text-anchor="middle" font-size="14" font-weight="bold">{title}</text>',
           f'<line x1="{x0}" y1="{y0 + height}" x2="{x0 + width}" y2="{y0 + height}" stroke="#333"/>',
           f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y0 + height}" stroke="#333"/>']
    y_of = lambda v: y0 + height - min(v, scale_max) / scale_max * height
    step = scale_max / 5
    for i in range(6):
        v = step * i
        out.append(f'<text x="{x0 - 6}" y="{y_of(v) + 4}" text-anchor="end" font-size="10">{v:.1f}</text>')
        out.append(f'<line x1="{x0}" y1="{y_of(v)}" x2="{x0 + width}" y2="{y_of(v)}" stroke="#eee"/>')
    slot = width / len(bars)
    for i, (label, value) in enumerate(bars):
        bx = x0 + i * slot + slot * 0.15
        colour = "#2b7bb9" if good(value) else "#d9534f"
        out.append(f'<rect x="{bx:.1f}" y="{y_of(value):.1f}" width="{slot * 0.7:.1f}" '
                   f'height="{y0 + height - y_of(value):.1f}" fill="{colour}"/>')
        out.append(f'<text x="{bx + slot * 0.35:.1f}" y="{y_of(value) - 3:.1f}" text-anchor="middle" font-size="10">'
                   f'{value:.2f}</text>')
        tx, ty = bx + slot * 0.35, y0 + height + 10
        out.append(f'<text x="{tx:.1f}" y="{ty:.1f}" font-size="10" text-anchor="end" '
                   f'transform="rotate(-40 {tx:.1f} {ty:.1f})">{label}</text>')
    out.append(f'<line x1="{x0}" y1="{y_of(1):.1f}" x2="{x0 + width}" y2="{y_of(1):.1f}" stroke="#555"/>')
    out.append(f'<line x1="{x0}" y1="{y_of(goal_value):.1f}" x2="{x0 + width}" y2="{y_of(goal_value):.1f}" '
               f'stroke="#e08e0b" stroke-dasharray="6,4"/>')
    out.append(f'<text x="{x0 + width - 4}" y="{y_of(goal_value) - 4:.1f}" text-anchor="end" font-size="10" '
               f'fill="#e08e0b">{goal_label}</text>')
    return out


def svg(rows, pings, goal, info):
    iops = [(r["label"], r["iops_ratio"]) for r in rows]
    qd1 = next(r for r in rows if r["key"] == "randread-4k-qd1")["ibnbd"]["lat_ns"]
    lat = []
    for mode, p in pings.items():
        lat.append((f"p50 / {mode}", qd1["p50"] / p["rtt_ns"]["p50"]))
        lat.append((f"avg / {mode}", qd1["avg"] / p["rtt_ns"]["avg"]))
    iops_max = max(2.5, max(v for _, v in iops) * 1.15)
    lat_max = max(2.0, max(v for _, v in lat) * 1.15)
    body = ['<svg xmlns="http://www.w3.org/2000/svg" width="960" height="420" font-family="sans-serif">',
            '<rect width="960" height="420" fill="white"/>',
            f'<text x="480" y="20" text-anchor="middle" font-size="15">ibnbd vs nbdkit on loopback, {info["when"]} '
            f'({info["nproc"]} CPUs, Linux {info["kernel"]})</text>']
    body += bar_panel(60, 60, 560, 250, "IOPS ratio ibnbd / nbdkit (higher is better)", iops, IOPS_GOAL,
                      f"goal {IOPS_GOAL} (4 KiB randread QD32)", iops_max, lambda v: v >= 1)
    body += bar_panel(700, 60, 220, 250, "QD1 4 KiB read latency / raw RTT (lower is better)", lat, LATENCY_GOAL,
                      f"goal ≤ {LATENCY_GOAL}", lat_max, lambda v: v <= LATENCY_GOAL)
    body.append("</svg>")
    return "\n".join(body) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("json_dir")
    parser.add_argument("out_prefix")
    parser.add_argument("--runtime", default="?")
    parser.add_argument("--ramp", default="?")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--hog", type=int, default=0, help="CPU hogs that ran beside the daemons")
    parser.add_argument("--summary", action="store_true",
                        help="JSON_DIR is a summary JSON this script wrote: render its Markdown and SVG again")
    args = parser.parse_args()
    try:
        if args.summary:
            with open(args.json_dir) as f:
                summary = json.load(f)
            rows, pings, info = summary["rows"], summary["pingpong"], summary["machine"]
        else:
            rows, pings = collect(args.json_dir, args.repeat)
            info = machine()
            info["load_before"] = load_average(args.json_dir, "before")
            info["load_after"] = load_average(args.json_dir, "after")
            info["when"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            info["hog"] = args.hog
    except (OSError, KeyError, json.JSONDecodeError) as e:
        sys.exit(f"side_by_side_report.py: incomplete results in {args.json_dir}: {e}")
    goal = goals(rows, pings)
    with open(args.out_prefix + ".md", "w") as f:
        f.write(markdown(rows, pings, goal, info, args))
    with open(args.out_prefix + ".svg", "w") as f:
        f.write(svg(rows, pings, goal, info))
    with open(args.out_prefix + ".json", "w") as f:
        json.dump({"machine": info, "goals": goal, "rows": rows, "pingpong": pings}, f, indent=1)


if __name__ == "__main__":
    main()
