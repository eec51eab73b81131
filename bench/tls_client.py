#!/usr/bin/env python3
"""tls_client - the probe of bench/tls.

usage: tls_client.py sse|rpc --port P --path PATH --up UPSTREAM_PORT
                     [--ca CA.pem] [--n N]

sse: one SSE stream (GET PATH), then N rounds: POST /_upstream/broadcast
     to the upstream (plain, loopback) and the arrival of that event's data
     line; a sample is arrival (CLOCK_MONOTONIC) minus the upstream's
     sent_ns stamp, taken just before its send().
rpc: N JSON-RPC calls (POST PATH) one after the other on one keep-alive
     connection; a sample is the call's round trip.
With --ca the connection is TLS (verified against CA.pem), else plain.
Prints "p50_us p99_us" over the samples (after 10% warm-up for rpc)."""
import argparse, http.client, json, socket, ssl, time


def connect(port, ca):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if ca:
        ctx = ssl.create_default_context(cafile=ca)
        s = ctx.wrap_socket(s, server_hostname="127.0.0.1")
    return s


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))]


def broadcast(up):
    c = http.client.HTTPConnection("127.0.0.1", up)
    c.request("POST", "/_upstream/broadcast", body=b"")
    c.getresponse().read()
    c.close()


def sse(a):
    s = connect(a.port, a.ca)
    s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               "Accept: text/event-stream\r\n\r\n" % a.path).encode())
    f = s.makefile("rb")
    while f.readline() not in (b"\r\n", b"\n"):
        pass
    time.sleep(0.3)  # the upstream holds the stream in its group
    out = []
    for _ in range(a.n):
        broadcast(a.up)
        while True:
            line = f.readline()
            if not line:
                raise SystemExit("stream ended")
            i = line.find(b'"sent_ns":')
            if i >= 0:
                now = time.monotonic_ns()
                sent = int(line[i + 10:].split(b"}")[0].split(b",")[0])
                out.append((now - sent) / 1000)
                break
        time.sleep(0.01)
    return out


def rpc(a):
    if a.ca:
        ctx = ssl.create_default_context(cafile=a.ca)
        c = http.client.HTTPSConnection("127.0.0.1", a.port, context=ctx)
    else:
        c = http.client.HTTPConnection("127.0.0.1", a.port)
    body = json.dumps({"jsonrpc": "2.0", "method": "ping", "id": 1})
    hdr = {"Content-Type": "application/json"}
    out = []
    for i in range(a.n):
        t = time.monotonic_ns()
        c.request("POST", a.path, body=body, headers=hdr)
        r = c.getresponse()
        r.read()
        if r.status != 200:
            raise SystemExit("status %d" % r.status)
        if i >= a.n // 10:
            out.append((time.monotonic_ns() - t) / 1000)
    return out


ap = argparse.ArgumentParser()
ap.add_argument("mode")
ap.add_argument("--port", type=int)
ap.add_argument("--path")
ap.add_argument("--up", type=int)
ap.add_argument("--ca")
ap.add_argument("--n", type=int, default=500)
a = ap.parse_args()
v = sse(a) if a.mode == "sse" else rpc(a)
print("%.0f %.0f" % (pct(v, 0.5), pct(v, 0.99)))
