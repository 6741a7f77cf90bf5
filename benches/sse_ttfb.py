#!/usr/bin/env python3
"""Time to first byte of streaming (SSE) answers under load: a closed-loop HTTP/1.1 load client.

Why this exists: oha (benches/load.sh, benches/chat_load.sh) reports only the time to the *whole* response,
which for `POST /v1/chat-messages` with `response_mode: streaming` is the time to the last SSE event. What a
chat user feels is the time to the first event and to the first token, and oha has no such number. This
client keeps CONCURRENCY keep-alive connections busy for DURATION seconds (like `oha -c N -z D -w`: a new
request as soon as the previous one on the connection ends, requests in flight at the end are waited for)
and records, per request, measured from the moment the request is written:

  headers        the response's status line and headers have arrived (HTTP time to first byte, ~)
  first data     the first `data:` line of the SSE body (Dify's `workflow_started`)
  first message  the first `message` event, i.e. the first token of the answer
  total          the end of the body (the terminating chunk), as oha's latency

and prints percentiles of each. A request counts as ok when it is 200 and, if it is an SSE stream, it ends
with `workflow_finished` and has no `error` event (a JSON body must hold an `answer`).

Raw HTTP/1.1 over asyncio streams, standard library only. Python costs CPU per event, so the client can
become the bottleneck; it measures its own CPU time (all processes) and prints it as a share of one core:
near 100 % per process means the numbers are the client's, not the server's; split the connections over
more processes with --processes.

    python3 benches/sse_ttfb.py --url http://127.0.0.1:5001/v1/chat-messages --key app-… \\
        --bodies bodies.jsonl --concurrency 64 --duration 10 [--processes 2] [--json out.json]

Bodies are JSON lines; each request takes one at random (as oha's -Z).

--quickack (diagnostic, Linux): the client acknowledges every received segment at once (TCP_QUICKACK)
instead of delaying its ACKs as clients normally do on a kept-alive connection. A server that does not set
TCP_NODELAY holds each small write (an SSE event) until its previous segment is acknowledged (Nagle), so
with a delaying client the stream stalls up to 40 ms; comparing the two runs shows that stall.
"""

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import random
import socket
import sys
import time
from urllib.parse import urlsplit

PHASES = ("headers", "first_data", "first_message", "total")


class Failure(Exception):
    """A request that did not end with a usable answer (kind is the error bucket)."""

    def __init__(self, kind):
        super().__init__(kind)
        self.kind = kind


class Connection:
    """One keep-alive HTTP/1.1 connection; reconnects when the server closes it."""

    def __init__(self, host, port, quickack=False):
        self.host, self.port, self.quickack = host, port, quickack
        self.reader = self.writer = None
        self.sock = None

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)
        self.sock = self.writer.get_extra_info("socket")

    def ack_now(self):
        """--quickack: ask Linux to acknowledge received segments at once (it falls back to delayed ACKs)."""
        if self.quickack and self.sock is not None:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = self.sock = None

    async def request(self, raw):
        """Sends one request; returns (status, {phase: seconds}, ok)."""
        if self.writer is None:
            await self.open()
        clock = time.perf_counter
        t0 = clock()
        self.writer.write(raw)
        self.ack_now()
        reader = self.reader
        buf = bytearray()
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            data = await reader.read(65536)
            self.ack_now()
            if not data:
                raise Failure("connection closed before the headers")
            buf += data
        times = {"headers": clock() - t0}
        head = bytes(buf[:end]).decode("latin-1").split("\r\n")
        del buf[: end + 4]
        parts = head[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise Failure("malformed status line")
        status = int(parts[1])
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip().lower()
        sse = headers.get("content-type", "").startswith("text/event-stream")
        close = headers.get("connection") == "close" or parts[0] == "HTTP/1.0"

        body = bytearray()
        scanned = 0  # events before this offset were checked for `message`

        def on_data(chunk):
            nonlocal scanned
            body.extend(chunk)
            if not sse:
                return
            now = clock() - t0
            if "first_data" not in times and b"data:" in body:
                times["first_data"] = now
            if "first_message" not in times:
                while True:
                    cut = body.find(b"\n\n", scanned)
                    if cut < 0:
                        return
                    block = bytes(body[scanned:cut])
                    scanned = cut + 2
                    if b'"message"' in block and is_message(block):
                        times["first_message"] = now
                        return

        if "chunked" in headers.get("transfer-encoding", ""):
            pos = 0
            while True:
                line_end = buf.find(b"\r\n", pos)
                while line_end < 0:
                    data = await reader.read(65536)
                    self.ack_now()
                    if not data:
                        raise Failure("connection closed mid-body")
                    buf += data
                    line_end = buf.find(b"\r\n", pos)
                size = int(bytes(buf[pos:line_end]).split(b";")[0], 16)
                pos = line_end + 2
                if size == 0:
                    # Trailers (none expected) end with an empty line.
                    while True:
                        line_end = buf.find(b"\r\n", pos)
                        if line_end < 0:
                            data = await reader.read(65536)
                            if not data:
                                raise Failure("connection closed mid-body")
                            buf += data
                            continue
                        empty = line_end == pos
                        pos = line_end + 2
                        if empty:
                            break
                    break
                while len(buf) < pos + size + 2:
                    data = await reader.read(65536)
                    self.ack_now()
                    if not data:
                        raise Failure("connection closed mid-body")
                    buf += data
                on_data(buf[pos : pos + size])
                pos += size + 2
                if pos > 65536:
                    del buf[:pos]
                    pos = 0
        elif "content-length" in headers:
            length = int(headers["content-length"])
            if buf:
                on_data(bytes(buf[:length]))
            while len(body) < length:
                data = await reader.read(min(65536, length - len(body)))
                if not data:
                    raise Failure("connection closed mid-body")
                on_data(data)
        else:
            close = True
            if buf:
                on_data(bytes(buf))
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                on_data(data)
        times["total"] = clock() - t0
        if close:
            self.close()
        if status != 200:
            ok = False
        elif sse:
            ok = b'"event":"workflow_finished"' in body and b'"event":"error"' not in body
        else:
            ok = b'"answer"' in body
        return status, times, ok


def is_message(block):
    """Whether an SSE event block is a Dify `message` event (a token delta)."""
    for line in block.split(b"\n"):
        if line.startswith(b"data:"):
            try:
                return json.loads(line[5:]).get("event") == "message"
            except ValueError:
                return False
    return False


def build_requests(url, key, bodies):
    parts = urlsplit(url)
    if parts.scheme != "http":
        sys.exit(f"error: only http:// URLs ({url})")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    host = parts.hostname
    port = parts.port or 80
    requests = []
    for body in bodies:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nAccept: text/event-stream, application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        requests.append(head.encode("latin-1") + body)
    return host, port, requests


async def run_share(host, port, requests, connections, start_at, deadline, timeout, seed, quickack):
    """Runs `connections` closed-loop connections from start_at until deadline (wall clock)."""
    rng = random.Random(seed)
    samples, errors = [], {}

    async def worker():
        conn = Connection(host, port, quickack)
        try:
            await conn.open()
        except OSError as e:
            errors[f"connect: {e.__class__.__name__}"] = errors.get(f"connect: {e.__class__.__name__}", 0) + 1
            return
        await asyncio.sleep(max(0.0, start_at - time.time()))
        while time.time() < deadline:
            raw = requests[rng.randrange(len(requests))]
            try:
                status, times, ok = await asyncio.wait_for(conn.request(raw), timeout)
            except asyncio.TimeoutError:
                errors["timeout"] = errors.get("timeout", 0) + 1
                conn.close()
                continue
            except Failure as e:
                errors[e.kind] = errors.get(e.kind, 0) + 1
                conn.close()
                continue
            except (OSError, ValueError) as e:
                kind = e.__class__.__name__
                errors[kind] = errors.get(kind, 0) + 1
                conn.close()
                continue
            samples.append((status, ok, times))
        conn.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return samples, errors


def child(args):
    host, port, requests, connections, start_at, deadline, timeout, seed, quickack = args
    cpu0 = time.process_time()
    samples, errors = asyncio.run(
        run_share(host, port, requests, connections, start_at, deadline, timeout, seed, quickack)
    )
    return samples, errors, time.process_time() - cpu0, time.time()


def percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="http://host:port/path (POSTed)")
    parser.add_argument("--key", required=True, help="Bearer key")
    parser.add_argument("--bodies", required=True, help="JSON lines; one picked at random per request")
    parser.add_argument("--concurrency", type=int, default=1, help="connections (default 1)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds (default 10)")
    parser.add_argument("--processes", type=int, default=1, help="client processes sharing the connections")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per request before it counts as a timeout")
    parser.add_argument("--label", default="", help="name printed in the report")
    parser.add_argument(
        "--quickack", action="store_true",
        help="diagnostic (Linux): acknowledge every received segment at once (TCP_QUICKACK) instead of "
        "delaying ACKs as a normal client does; shows whether a server's Nagle delay is in the numbers",
    )
    parser.add_argument("--json", help="also write the report as JSON here")
    args = parser.parse_args()

    with open(args.bodies, "rb") as f:
        bodies = [line.strip() for line in f if line.strip()]
    if not bodies:
        sys.exit(f"error: no bodies in {args.bodies}")
    host, port, requests = build_requests(args.url, args.key, bodies)
    processes = max(1, min(args.processes, args.concurrency))
    shares = [args.concurrency // processes + (1 if i < args.concurrency % processes else 0) for i in range(processes)]
    start_at = time.time() + 0.5 + 0.2 * processes  # time for the processes to start and connect
    deadline = start_at + args.duration
    jobs = [
        (host, port, requests, share, start_at, deadline, args.timeout, os.getpid() * 1000 + i, args.quickack)
        for i, share in enumerate(shares)
    ]
    if processes == 1:
        results = [child(jobs[0])]
    else:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            results = pool.map(child, jobs)

    samples, errors, cpu = [], {}, 0.0
    end = start_at
    for s, e, c, finished in results:
        samples.extend(s)
        for kind, n in e.items():
            errors[kind] = errors.get(kind, 0) + n
        cpu += c
        end = max(end, finished)
    wall = end - start_at
    statuses = {}
    for status, ok, _ in samples:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    good = [times for _, ok, times in samples if ok]
    bad = len(samples) - len(good)
    if bad:
        errors["bad answer (non-200, error event or no workflow_finished)"] = bad

    report = {
        "label": args.label,
        "url": args.url,
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "processes": processes,
        "quickack": args.quickack,
        "wall_s": wall,
        "requests": len(samples),
        "ok": len(good),
        "status_codes": statuses,
        "errors": errors,
        "ok_per_s": len(good) / wall if wall > 0 else 0.0,
        "client_cpu_s": cpu,
        # CPU of all client processes over the run, as a share of one core (100 = one core busy).
        "client_cpu_pct": 100.0 * cpu / wall if wall > 0 else 0.0,
        "latency_ms": {},
    }
    for phase in PHASES:
        values = sorted(1000.0 * t[phase] for t in good if phase in t)
        report["latency_ms"][phase] = {
            "n": len(values),
            "p50": percentile(values, 50),
            "p90": percentile(values, 90),
            "p99": percentile(values, 99),
            "max": values[-1] if values else None,
            "mean": sum(values) / len(values) if values else None,
        }

    fmt = lambda v: "–" if v is None else f"{v:.2f}"
    print(
        f"{args.label or args.url}: {args.concurrency} connections, {args.duration:g} s, "
        f"{len(good)} ok of {len(samples)} in {wall:.2f} s = {report['ok_per_s']:.1f}/s, "
        f"errors {errors or 0}; client CPU {cpu:.2f} s = {report['client_cpu_pct']:.0f} % of one core "
        f"({processes} process{'es' if processes > 1 else ''})"
    )
    print(f"{'ms':<14} {'p50':>9} {'p90':>9} {'p99':>9} {'max':>9} {'n':>7}")
    for phase in PHASES:
        q = report["latency_ms"][phase]
        print(f"{phase:<14} {fmt(q['p50']):>9} {fmt(q['p90']):>9} {fmt(q['p99']):>9} {fmt(q['max']):>9} {q['n']:>7}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
