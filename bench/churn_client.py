#!/usr/bin/env python3
"""churn_client.py -- the stream churner of bench/churn and bench/soak: opens
SSE streams through a proxy to bench/upstream.py, CONCURRENCY at a time,
and drops each one from the client side; with --broadcast-ms it also drives
the upstream's broadcasts and accounts for every event per stream.

usage: churn_client.py --port P --path PATH --upstream-port U
           [--total N | --duration S] [--concurrency C]
           [--silent-pct PCT] [--flow-ms MS] [--flow-events K]
           [--life-ms MIN:MAX] [--broadcast-ms B] [--grace-ms G]
           [--progress-secs T]

One stream: connect, GET PATH, read the head (not 200, a reset or a close
before it: "refused"). Then
  silent   (PCT % of them, every k-th so the split is exact): stays a
           random MIN..MAX ms and leaves; the upstream sends it nothing
           unless broadcasts run, so no event is in flight when it leaves
  flowing  (the rest, without --broadcast-ms): PATH?flow=MS, the upstream
           sends it an event every MS ms; it leaves right after its K-th
           event, with the next ones on their way
  with --broadcast-ms every stream is a receiver: it stays MIN..MAX ms and
           leaves, whatever is in flight.
A stream the server ends before its client leaves is "server_closed"; a
flowing one without its K events after 10 s leaves and is "stuck".
"Leaves" is close(2) of the socket.

Events lost (--broadcast-ms): the client POSTs /_upstream/broadcast every
B ms on a connection of its own, and the upstream numbers broadcasts and
stamps the number ("bc") into each event. The upstream adds a stream to its
broadcast list before it writes the head, and the proxy passes the head on
only after the upstream's, so every broadcast POSTed after the client has
the head is due on that stream; of those, the ones whose answer came at
least G ms (default 2000) before the stream leaves (or before the end) must
have arrived by then; the client first reads what its socket holds (its
loop may lag under load) and, should some be missing, waits up to 10 s
more for them before it closes: those are "late"; lost = due - arrived
(each loss is printed, "LOST ..."). An event that arrives twice or out of
order is "unexpected".

Prints "PROGRESS key=value..." every T s and "RESULT key=value..." at the
end (stdout), and exits 0 (the caller judges the figures); 1 on a usage or
set-up error. With --total every stream lives its life; at the end of a --duration
run the streams still open leave. SIGTERM or SIGINT ends a run early,
cleanly.
"""
import argparse
import asyncio
import os
import random
import resource
import signal
import sys
import time

C = {"opened": 0, "refused": 0, "closed": 0, "server_closed": 0,
     "silent_left": 0, "flowing_left": 0, "events": 0, "due": 0,
     "arrived_due": 0, "lost": 0, "unexpected": 0, "broadcasts": 0,
     "bc_sent": 0, "stuck": 0, "late": 0}
STUCK_SECS = 10
LATE_SECS = 10
LOST_SHOWN = 20
REFUSALS = {}
BC_ANSWERED = []          # (monotonic answer time, bc), in order
BC_POSTED = [0]           # broadcasts POSTed so far (sent, not answered)
OPEN = set()              # the streams with a head, not yet left


def due_upto(t):
    """The newest bc answered at or before t."""
    best = 0
    for at, bc in reversed(BC_ANSWERED):
        if at <= t:
            best = bc
            break
    return best


class Stream(asyncio.Protocol):
    def __init__(self, opts, kind, done):
        self.o = opts
        self.kind = kind
        self.done = done
        self.buf = b""
        self.head = None
        self.body = b""
        self.events = 0
        self.bcs = []
        self.first_due = 0
        self.leaving = False
        self.timer = None
        self.upto = None        # set when its client decides to leave
        self.late = 0

    def connection_made(self, tr):
        self.tr = tr
        path = self.o.path
        if self.kind == "flowing":
            path += "?flow=%d" % self.o.flow_ms
        tr.write(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                  "Accept: text/event-stream\r\n\r\n"
                  % (path, self.o.port)).encode())

    def data_received(self, data):
        if self.head is None:
            self.buf += data
            he = self.buf.find(b"\r\n\r\n")
            if he < 0:
                return
            self.head = self.buf[:he]
            rest, self.buf = self.buf[he + 4:], b""
            status = self.head.split(b" ", 2)[1] if b" " in self.head else b"?"
            if status != b"200":
                self.refuse("status " + status.decode("latin-1"))
                return
            C["opened"] += 1
            self.first_due = BC_POSTED[0] + 1
            self.start_life()
            data = rest
        self.dechunk(data)

    def dechunk(self, data):
        self.buf += data
        while True:
            eol = self.buf.find(b"\r\n")
            if eol < 0:
                return
            size = int(self.buf[:eol].split(b";")[0], 16)
            if len(self.buf) < eol + 2 + size + 2:
                return
            self.body += self.buf[eol + 2:eol + 2 + size]
            self.buf = self.buf[eol + 4 + size:]
            self.events_in_body()

    def events_in_body(self):
        while not self.leaving:
            end = self.body.find(b"\n\n")
            if end < 0:
                return
            ev, self.body = self.body[:end], self.body[end + 2:]
            i = ev.find(b'"bc":')
            if i < 0:
                continue
            self.events += 1
            C["events"] += 1
            bc = int(ev[i + 5:ev.index(b",", i)])
            if bc > 0:
                self.on_broadcast(bc)
            elif self.kind == "flowing" and \
                    self.events >= self.o.flow_events:
                self.leave()

    def on_broadcast(self, bc):
        if self.bcs and bc != self.bcs[-1] + 1:
            C["unexpected"] += 1
        self.bcs.append(bc)
        if self.upto is not None and not self.missing():
            self.finish()           # the late ones are in: leave now

    def start_life(self):
        OPEN.add(self)
        loop = asyncio.get_running_loop()
        if self.kind == "flowing":
            # its events should make it leave long before
            self.timer = loop.call_later(STUCK_SECS, self.stuck)
            return
        lo, hi = self.o.life
        self.timer = loop.call_later(random.uniform(lo, hi) / 1000.0,
                                     self.leave)

    def stuck(self):
        C["stuck"] += 1
        self.timer = None
        self.leave()

    def missing(self):
        """The broadcasts due by self.upto (see the top) not arrived."""
        got = set(self.bcs)
        return [b for b in range(self.first_due, self.upto + 1)
                if b not in got]

    def account(self):
        due = max(0, self.upto - self.first_due + 1)
        lost = self.missing()
        C["due"] += due
        C["arrived_due"] += due - len(lost)
        C["lost"] += len(lost)
        C["late"] += self.late - len(lost)
        if lost and C["lost"] <= LOST_SHOWN:
            print("LOST %d event(s) on a stream that had its head before"
                  " broadcast %d and left after %d was answered: %s"
                  % (len(lost), self.first_due, self.upto,
                     " ".join(map(str, lost[:20]))), flush=True)

    def drain(self):
        """What the kernel holds for us already counts (this loop may lag
        behind under load)."""
        sock = self.tr.get_extra_info("socket")
        while sock is not None:
            try:
                d = os.read(sock.fileno(), 65536)
            except OSError:
                return
            if not d:
                return
            self.dechunk(d)

    def leave(self):
        """Due events still missing: wait up to LATE_SECS for them (late,
        not lost), then close."""
        if self.leaving or self.upto is not None:
            return
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.o.broadcast_ms:
            self.drain()
        self.upto = due_upto(time.monotonic() - self.o.grace_ms / 1000.0) \
            if self.o.broadcast_ms else 0
        self.late = len(self.missing())
        if self.late:
            self.timer = asyncio.get_running_loop().call_later(
                LATE_SECS, self.finish)
            return
        self.finish()

    def finish(self):
        if self.leaving:
            return
        self.leaving = True
        OPEN.discard(self)
        if self.timer is not None:
            self.timer.cancel()
        self.account()
        C[self.kind + "_left"] += 1
        C["closed"] += 1
        self.tr.close()

    def refuse(self, why):
        C["refused"] += 1
        REFUSALS[why] = REFUSALS.get(why, 0) + 1
        self.leaving = True
        self.tr.close()

    def connection_lost(self, exc):
        OPEN.discard(self)
        if not self.leaving:
            if self.head is None:
                self.refuse("closed before the head" if exc is None
                            else str(exc))
            else:
                # what arrived until now counts; then it is the server's
                self.leaving = True
                if self.timer is not None:
                    self.timer.cancel()
                if self.upto is None:
                    self.upto = due_upto(time.monotonic() -
                                         self.o.grace_ms / 1000.0) \
                        if self.o.broadcast_ms else 0
                    self.late = len(self.missing())
                self.account()
                C["server_closed"] += 1
        if not self.done.done():
            self.done.set_result(None)


async def one_stream(o, kind):
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    try:
        await loop.create_connection(lambda: Stream(o, kind, done),
                                     "127.0.0.1", o.port)
    except OSError as e:
        why = e.strerror or str(e)
        C["refused"] += 1
        REFUSALS[why] = REFUSALS.get(why, 0) + 1
        return
    await done


async def broadcaster(o, stop):
    """POST /_upstream/broadcast every B ms on one keep-alive connection."""
    r, w = await asyncio.open_connection("127.0.0.1", o.upstream_port)
    req = ("POST /_upstream/broadcast HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
           "Content-Length: 0\r\n\r\n" % o.upstream_port).encode()
    nxt = time.monotonic()
    while not stop.is_set():
        BC_POSTED[0] += 1
        w.write(req)
        head = await r.readuntil(b"\r\n\r\n")
        n = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        body = await r.readexactly(n)
        bc = int(body.split(b'"bc":')[1].split(b"}")[0].split(b",")[0])
        sent = int(body.split(b'"sent":')[1].split(b",")[0])
        BC_ANSWERED.append((time.monotonic(), bc))
        C["broadcasts"] += 1
        C["bc_sent"] += sent
        nxt += o.broadcast_ms / 1000.0
        try:
            await asyncio.wait_for(stop.wait(),
                                   max(0.0, nxt - time.monotonic()))
        except asyncio.TimeoutError:
            pass
    w.close()


def line(tag, t0, running):
    fields = ["t=%.1f" % (time.monotonic() - t0), "open=%d" % running]
    fields += ["%s=%d" % kv for kv in C.items()]
    print(tag, " ".join(fields), flush=True)


async def progress(o, t0, tasks):
    while True:
        await asyncio.sleep(o.progress_secs)
        line("PROGRESS", t0, len(tasks))


async def main(o):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    t0 = time.monotonic()
    end = t0 + o.duration if o.duration else None
    tasks = set()
    bc_task = asyncio.ensure_future(broadcaster(o, stop)) \
        if o.broadcast_ms else None
    prog = asyncio.ensure_future(progress(o, t0, tasks)) \
        if o.progress_secs else None
    n = 0
    every = round(100 / o.silent_pct) if o.silent_pct else 0
    while not stop.is_set() and (o.total == 0 or n < o.total) and \
            (end is None or time.monotonic() < end):
        if len(tasks) >= o.concurrency:
            await asyncio.wait(tasks, timeout=0.5,
                               return_when=asyncio.FIRST_COMPLETED)
            continue
        silent = o.broadcast_ms or (every and n % every == 0)
        t = asyncio.ensure_future(one_stream(o, "silent" if silent
                                             else "flowing"))
        tasks.add(t)
        t.add_done_callback(tasks.discard)
        n += 1
    if bc_task is not None:
        # let the last broadcasts be due, then everyone still open leaves
        await asyncio.sleep(o.grace_ms / 1000.0)
        stop.set()
        await bc_task
        await asyncio.sleep(o.grace_ms / 1000.0)
    stop.set()
    if o.duration:
        leave_all()     # the run is over: the ones still open leave now
    if tasks:           # (with --total they end their lives as planned)
        await asyncio.wait(tasks, timeout=STUCK_SECS + o.life[1] / 1000.0)
    if prog is not None:
        prog.cancel()
    line("RESULT", t0, len(tasks))
    for why, k in sorted(REFUSALS.items()):
        print("REFUSED %d %s" % (k, why), flush=True)


def leave_all():
    for s in list(OPEN):
        s.leave()


def parse():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/api/v1/events")
    ap.add_argument("--upstream-port", type=int, required=True)
    ap.add_argument("--total", type=int, default=0)
    ap.add_argument("--duration", type=float, default=0)
    ap.add_argument("--concurrency", type=int, default=500)
    ap.add_argument("--silent-pct", type=int, default=50)
    ap.add_argument("--flow-ms", type=int, default=10)
    ap.add_argument("--flow-events", type=int, default=3)
    ap.add_argument("--life-ms", default="0:200")
    ap.add_argument("--broadcast-ms", type=int, default=0)
    ap.add_argument("--grace-ms", type=int, default=2000)
    ap.add_argument("--progress-secs", type=float, default=5)
    o = ap.parse_args()
    o.life = tuple(float(x) for x in o.life_ms.split(":"))
    if (o.total == 0) == (o.duration == 0):
        ap.error("give --total or --duration")
    return o


if __name__ == "__main__":
    opts = parse()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < opts.concurrency + 64:
        sys.exit("churn_client: fd limit %d below %d" %
                 (hard, opts.concurrency + 64))
    asyncio.run(main(opts))
