#!/usr/bin/env python3
"""Floods a server's listen port with plain TCP connections that never become sessions, on
loopback only, bounded in count and time. Kinds, in turn:

  close     connect and close at once (half with a FIN, half with an RST)
  garbage   random bytes (1-300), then close
  silent    connect and send nothing; held open
  partial   the first bytes of a libfabric tcp CM request; held open
  rtrs      a complete libfabric tcp CM request carrying a valid RTRS CON_REQ (a new session,
            first_conn), the server's answer read, and then no INFO_REQ; held open

Held connections stay open for --hold seconds after the last one was made (so that only the
server's own limits can close them before that), then the script reports on stdout, as JSON, how
many of each kind it made, how many connects failed and how many held connections the server had
closed by then.
"""
import argparse
import json
import os
import random
import socket
import struct
import sys
import time
import uuid

KINDS = ("close", "garbage", "silent", "partial", "rtrs")
CM_HEADER = 32  # struct ofi_ctrl_hdr
CM_VERSION = 3  # TCPX_CTRL_HDR_VERSION in libfabric 1.17


def con_req() -> bytes:
    """RTRS CON_REQ (docs/protocol.md): magic 0x1BBD, version 2.0, cid 0 of 1, first_conn."""
    msg = bytearray(56)
    struct.pack_into("<HHHHH", msg, 2, 0x1BBD, 0x0200, 0, 1, 0)
    msg[12:28] = uuid.uuid4().bytes
    msg[28:44] = uuid.uuid4().bytes
    msg[44] = 1
    return bytes(msg)


def cm_request(data: bytes) -> bytes:
    # version, type (connreq = 0), seg_size (network order), seg_no, conn_id, msg_id, conn_data (1, host order)
    return struct.pack("!BBHI", CM_VERSION, 0, len(data), 0) + struct.pack("=QQQ", 0, 0, 1) + data


def connect(port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2.0)
    s.connect(("127.0.0.1", port))
    return s


def make(kind: str, port: int, i: int, held: list) -> None:
    s = connect(port)
    if kind == "close":
        if i % 2:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    elif kind == "garbage":
        s.send(os.urandom(random.randint(1, 300)))
        s.close()
    elif kind == "silent":
        held.append((kind, s))
    elif kind == "partial":
        s.send(cm_request(con_req())[: random.randint(1, CM_HEADER - 1)])
        held.append((kind, s))
    else:
        s.send(cm_request(con_req()))
        held.append((kind, s))


def closed_by_peer(s: socket.socket) -> bool:
    s.setblocking(False)
    try:
        while True:
            data = s.recv(4096)
            if not data:
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=4.0, help="spread the connections over this long")
    parser.add_argument("--hold", type=float, default=5.0, help="keep held connections this long after the last")
    args = parser.parse_args()
    held, made, failed = [], {k: 0 for k in KINDS}, 0
    start = time.monotonic()
    for i in range(args.count):
        delay = start + args.seconds * i / args.count - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        kind = KINDS[i % len(KINDS)]
        try:
            make(kind, args.port, i // len(KINDS), held)
            made[kind] += 1
        except OSError:
            failed += 1
    time.sleep(args.hold)
    closed = {k: 0 for k in KINDS}
    for kind, s in held:
        closed[kind] += closed_by_peer(s)
        s.close()
    json.dump({"made": made, "connect_failed": failed, "held": len(held), "closed_by_server": closed,
               "seconds": round(time.monotonic() - start, 2)}, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
