#!/usr/bin/env python3
"""A hostile or careless client of a daemon's control socket (used by e2e_control_input.sh).

  control_peer.py call SOCK LINE         send one line, print the answer line
  control_peer.py overlong SOCK BYTES    send one line of BYTES bytes, print the answer and whether
                                         the daemon closed the connection afterwards
  control_peer.py pipeline SOCK N PID LINE
                                         send LINE N times without reading for a while, then read
                                         every answer; print the daemon's RSS growth (KiB) while
                                         it was not read from, and how many answers were ok
"""
import json
import os
import select
import socket
import sys
import time


def connect(path):
    peer = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    peer.connect(path)
    return peer


def read_line(peer, buffered=b""):
    while b"\n" not in buffered:
        chunk = peer.recv(65536)
        if not chunk:
            return None, buffered
        buffered += chunk
    line, _, rest = buffered.partition(b"\n")
    return line.decode(), rest


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def call(path, line):
    peer = connect(path)
    peer.sendall(line.encode() + b"\n")
    answer, _ = read_line(peer)
    print(answer if answer is not None else "CLOSED")


def overlong(path, size):
    peer = connect(path)
    body = json.dumps({"cmd": "list", "pad": "x" * size}) + "\n"
    try:
        peer.sendall(body.encode())
    except OSError:
        pass  # the daemon may close before it has read everything
    peer.settimeout(10)
    try:
        answer, rest = read_line(peer)
        print(answer if answer is not None else "NO ANSWER")
        closed = rest == b"" and peer.recv(1) == b""
    except ConnectionResetError:
        closed = True  # closed with our unread bytes in its queue: a reset after the answer
    print("closed" if closed else "still open")


def pipeline(path, count, pid, line):
    peer = connect(path)
    peer.setblocking(False)
    request = line.encode() + b"\n"
    pending = request * count
    before = rss_kib(pid)
    peak = before
    # Phase 1: write without reading until the daemon stops taking more for two seconds.
    stalled_since = None
    while pending and (stalled_since is None or time.monotonic() - stalled_since < 2):
        try:
            sent = peer.send(pending[:65536])
            pending = pending[sent:]
            stalled_since = None
        except BlockingIOError:
            stalled_since = stalled_since or time.monotonic()
            time.sleep(0.01)
        peak = max(peak, rss_kib(pid))
    time.sleep(1)
    peak = max(peak, rss_kib(pid))
    # Phase 2: read everything (and write the rest).
    answers = ok = 0
    buffered = b""
    deadline = time.monotonic() + 180
    while answers < count and time.monotonic() < deadline:
        _, writable, _ = select.select([peer], [peer] if pending else [], [], 1)
        if writable:
            try:
                pending = pending[peer.send(pending[:65536]):]
            except BlockingIOError:
                pass
        try:
            chunk = peer.recv(1 << 20)
        except BlockingIOError:
            continue
        if not chunk:
            break
        buffered += chunk
        *lines, buffered = buffered.split(b"\n")
        for line in lines:
            answers += 1
            ok += json.loads(line).get("ok", False) is True
    print(json.dumps({"rss_growth_kib": peak - before, "answers": answers, "ok": ok}))


def main():
    command = sys.argv[1]
    if command == "call":
        call(sys.argv[2], sys.argv[3])
    elif command == "overlong":
        overlong(sys.argv[2], int(sys.argv[3]))
    elif command == "pipeline":
        pipeline(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
