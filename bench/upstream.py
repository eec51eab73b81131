#!/usr/bin/env python3
"""upstream.py -- the CPU-bound upstream of bench/compare: signal-cli's HTTP
daemon played by one single-threaded Python process (asyncio, stdlib only),
so that the upstream takes one core and the proxy in front of it the other,
as on a real 2-core host.

usage: bench/upstream.py [-p PORT]     (0, the default: any free port)

Prints "PORT n" on stdout once it listens on 127.0.0.1. Serves HTTP/1.1
with keep-alive:
  POST /api/v1/rpc          JSON-RPC (one call or a batch): parses the body,
                            answers "send" with signal-cli's result shape
                            (a timestamp and one SUCCESS per recipient),
                            any other method with an empty result
  GET  /api/v1/events       SSE (text/event-stream, chunked) that stays open;
                            every broadcast sends one "receive" event
  GET  /api/v1/events?flow=MS  the same, and an event of its own every MS ms
                            from the start (bench/churn: a client that
                            leaves while events flow)
  GET  /api/v1/check        200, empty
  POST /_upstream/broadcast one event to every open stream, each stamped
                            with CLOCK_MONOTONIC just before its write
                            ("sent_ns", ns, the clock bench/sse_client
                            reads) and numbered ("bc", from 1; 0 on a flow
                            event); answers {"sent":N,"bc":B}
  GET  /_upstream/stats     {"open_streams":N,"closed_streams":N,
                            "requests":N,"broadcasts":B,"events":E}
SIGUSR1 also broadcasts one event; SIGTERM/SIGINT stop it. The answers'
JSON is compact ("key":value) because bench/sse_client reads it so.
"""
import asyncio
import json
import signal
import sys
import time

HEAD_MAX = 65536
BODY_MAX = 1 << 20
ACCOUNT = "+15550001111"

streams = set()
stats = {"open_streams": 0, "closed_streams": 0, "requests": 0,
         "broadcasts": 0, "events": 0}


def compact(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def rpc_result(call):
    """One JSON-RPC answer: the little real work signal-cli does to reply."""
    if not isinstance(call, dict) or call.get("jsonrpc") != "2.0":
        return {"jsonrpc": "2.0", "id": None,
                "error": {"code": -32600, "message": "Invalid Request"}}
    params = call.get("params") or {}
    if call.get("method") == "send":
        rcpt = params.get("recipient", [])
        if isinstance(rcpt, str):
            rcpt = [rcpt]
        ts = time.time_ns() // 1000000
        result = {"timestamp": ts, "results": [
            {"recipientAddress": {"uuid": None, "number": r},
             "type": "SUCCESS"} for r in rcpt]}
    else:
        result = {}
    return {"jsonrpc": "2.0", "result": result, "id": call.get("id")}


def rpc_answer(body):
    try:
        req = json.loads(body)
    except ValueError:
        return compact({"jsonrpc": "2.0", "id": None,
                        "error": {"code": -32700, "message": "Parse error"}})
    if isinstance(req, list):
        return compact([rpc_result(c) for c in req])
    return compact(rpc_result(req))


def chunked_body(buf, i):
    """(body, end) of a chunked body starting at buf[i], or None if short."""
    parts = []
    while True:
        eol = buf.find(b"\r\n", i)
        if eol < 0:
            return None
        size = int(buf[i:eol].split(b";")[0], 16)
        i = eol + 2
        if size == 0:
            end = buf.find(b"\r\n\r\n", i - 2)   # no trailers expected
            return (b"".join(parts), end + 4) if end >= 0 else None
        if len(buf) < i + size + 2:
            return None
        parts.append(buf[i:i + size])
        i += size + 2


class Conn(asyncio.Protocol):
    def connection_made(self, transport):
        self.tr = transport
        self.buf = b""
        self.stream = False
        self.seq = 0
        self.continued = False
        self.flow = None

    def connection_lost(self, exc):
        if self.flow is not None:
            self.flow.cancel()
        if self.stream:
            streams.discard(self)
            stats["open_streams"] -= 1
            stats["closed_streams"] += 1

    def data_received(self, data):
        if self.stream:
            return          # a stream's client has nothing more to say
        self.buf += data
        while self.buf and not self.stream and self.one_request():
            pass

    def one_request(self):
        """Handle the first complete request in buf; False if none yet."""
        he = self.buf.find(b"\r\n\r\n")
        if he < 0:
            if len(self.buf) > HEAD_MAX:
                self.tr.close()
            return False
        lines = self.buf[:he].decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            self.tr.close()
            return False
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        got = self.body(hdrs, he + 4)
        if got is None:
            if hdrs.get("expect", "").lower() == "100-continue" and \
                    not self.continued:
                self.tr.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                self.continued = True
            return False
        body, end = got
        self.buf = self.buf[end:]
        self.continued = False
        conn = hdrs.get("connection", "").lower()
        self.close_after = conn == "close" or \
            (version == "HTTP/1.0" and conn != "keep-alive")
        stats["requests"] += 1
        path, _, query = target.partition("?")
        self.route(method, path, body, query)
        return True

    def body(self, hdrs, start):
        if "chunked" in hdrs.get("transfer-encoding", "").lower():
            return chunked_body(self.buf, start)
        n = int(hdrs.get("content-length", "0") or 0)
        if n > BODY_MAX:
            self.tr.close()
            return None
        if len(self.buf) < start + n:
            return None
        return self.buf[start:start + n], start + n

    def reply(self, status, body, ctype="application/json"):
        head = "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n" \
            % (status, ctype, len(body))
        if self.close_after:
            head += "Connection: close\r\n"
        self.tr.write(head.encode() + b"\r\n" + body)
        if self.close_after:
            self.tr.close()

    def route(self, method, path, body, query=""):
        if method == "POST" and path == "/api/v1/rpc":
            self.reply("200 OK", rpc_answer(body))
        elif method == "GET" and path == "/api/v1/events":
            self.open_stream()
            if query.startswith("flow="):
                self.flow_every(int(query[5:]) / 1000.0)
        elif path == "/api/v1/check":
            self.reply("200 OK", b"", "text/plain")
        elif method == "POST" and path == "/_upstream/broadcast":
            sent = broadcast()
            self.reply("200 OK", compact({"sent": sent,
                                          "bc": stats["broadcasts"]}))
        elif method == "GET" and path == "/_upstream/stats":
            self.reply("200 OK", compact(stats))
        else:
            self.reply("404 Not Found", b'{"error":"not found"}')

    def open_stream(self):
        self.stream = True
        self.buf = b""
        streams.add(self)
        stats["open_streams"] += 1
        self.tr.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                      b"Cache-Control: no-cache\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n")

    def flow_every(self, secs):
        """An event now and every secs until the stream closes."""
        if self.tr.is_closing():
            return
        self.event(time.time_ns() // 1000000, 0)
        self.flow = asyncio.get_running_loop().call_later(
            secs, self.flow_every, secs)

    def event(self, ts_ms, bc):
        """One event, stamped just before its write (asyncio writes at once
        when nothing is queued)."""
        self.seq += 1
        stats["events"] += 1
        data = ('event: receive\ndata: {"account":"%s","envelope":'
                '{"source":"+15550002","sourceNumber":"+15550002",'
                '"timestamp":%d,"dataMessage":{"timestamp":%d,'
                '"message":"hello"}},"bc":%d,"seq":%d,"sent_ns":%d}\n\n'
                % (ACCOUNT, ts_ms, ts_ms, bc, self.seq,
                   time.clock_gettime_ns(time.CLOCK_MONOTONIC))).encode()
        self.tr.write(b"%x\r\n%s\r\n" % (len(data), data))


def broadcast():
    stats["broadcasts"] += 1
    ts_ms = time.time_ns() // 1000000
    sent = 0
    for s in list(streams):
        if not s.tr.is_closing():
            s.event(ts_ms, stats["broadcasts"])
            sent += 1
    return sent


async def main():
    port = 0
    if len(sys.argv) == 3 and sys.argv[1] == "-p":
        port = int(sys.argv[2])
    elif len(sys.argv) != 1:
        sys.exit("usage: upstream.py [-p PORT]")
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or
                                stop.set_result(None))
    loop.add_signal_handler(signal.SIGUSR1, broadcast)
    server = await loop.create_server(Conn, "127.0.0.1", port,
                                      backlog=4096, reuse_address=True)
    print("PORT %d" % server.sockets[0].getsockname()[1], flush=True)
    await stop
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
