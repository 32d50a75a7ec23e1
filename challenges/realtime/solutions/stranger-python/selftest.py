"""Self-test of the service against the brief. Standard library only.

Usage: python3 selftest.py [BASE_PORT]   (the service must be running on 127.0.0.1:BASE_PORT,
with the grader's environment values). Every loop is bounded in count and time.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import struct
import sys
import threading
import time
import uuid

HOST = "127.0.0.1"
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
HISTORY_SIZE = int(os.environ.get("HISTORY_SIZE", "100"))
IDLE = float(os.environ.get("IDLE_TIMEOUT_S", "4"))
MAX_MSG = int(os.environ.get("MAX_MESSAGE_BYTES", "4096"))
MAX_SUBS = int(os.environ.get("MAX_SUBSCRIPTIONS", "10"))
MAX_CONN = int(os.environ.get("MAX_CONNECTIONS", "500"))

RESULTS: list = []


def check(name: str, cond: bool, detail: object = "") -> bool:
    RESULTS.append((name, cond))
    print(("PASS " if cond else "FAIL ") + name + ("" if cond else f"  -- {detail}"), flush=True)
    return cond


def chan(prefix: str = "t") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}"


# ------------------------------------------------------------------- HTTP

def req(method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    c = http.client.HTTPConnection(HOST, PORT, timeout=10)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data
    finally:
        c.close()


def publish(channel, data, conn: http.client.HTTPConnection | None = None):
    body = json.dumps({"channel": channel, "data": data}).encode()
    if conn is None:
        st, _, b = req("POST", "/publish", body, {"Content-Type": "application/json"})
    else:
        conn.request("POST", "/publish", body=body, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        st, b = r.status, r.read()
    assert st == 200, (st, b)
    return json.loads(b)["seq"]


# ------------------------------------------------------------------- raw WebSocket client

class Closed(Exception):
    def __init__(self, code):
        super().__init__(code)
        self.code = code


class WS:
    def __init__(self, rcvbuf: int | None = None, headers: dict | None = None, expect=101):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(10)
        s.connect((HOST, PORT))
        self.sock = s
        key = base64.b64encode(os.urandom(16)).decode()
        h = {"Host": f"{HOST}:{PORT}", "Upgrade": "websocket", "Connection": "Upgrade",
             "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13"}
        if headers:
            for k, v in headers.items():
                if v is None:
                    h.pop(k, None)
                else:
                    h[k] = v
        req = "GET /ws HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
        s.sendall(req.encode())
        buf = b""
        deadline = time.time() + 10
        while b"\r\n\r\n" not in buf and time.time() < deadline:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        self.status = int(head.split(b" ")[1]) if head else 0
        self.head = head
        self.buf = rest
        self.close_code = None

    # frames
    def send_frame(self, opcode: int, payload: bytes, fin: bool = True):
        mask = os.urandom(4)
        n = len(payload)
        b0 = (0x80 if fin else 0) | opcode
        if n < 126:
            hdr = struct.pack("!BB", b0, 0x80 | n)
        elif n < 65536:
            hdr = struct.pack("!BBH", b0, 0x80 | 126, n)
        else:
            hdr = struct.pack("!BBQ", b0, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(hdr + mask + masked)

    def send(self, obj):
        self.send_frame(1, json.dumps(obj).encode())

    def ping(self, payload=b"hb"):
        self.send_frame(9, payload)

    def _read(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError
            if not chunk:
                raise Closed(None)
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_frame(self, timeout=2.0):
        deadline = time.time() + timeout
        b0, b1 = self._read(2, deadline)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read(2, deadline))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read(8, deadline))[0]
        assert not (b1 & 0x80), "server frames must not be masked"
        payload = self._read(n, deadline)
        op = b0 & 0x0F
        if op == 8:
            self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            raise Closed(self.close_code)
        return op, payload

    def recv(self, timeout=2.0):
        """Next text event (pongs skipped)."""
        deadline = time.time() + timeout
        while True:
            op, payload = self.recv_frame(max(0.01, deadline - time.time()))
            if op == 1:
                return json.loads(payload)
            if op == 10:
                continue
            raise AssertionError(f"unexpected opcode {op}")

    def recv_until(self, pred, timeout=3.0):
        deadline = time.time() + timeout
        seen = []
        while time.time() < deadline:
            ev = self.recv(deadline - time.time())
            if pred(ev):
                return ev, seen
            seen.append(ev)
        raise TimeoutError

    def nothing(self, timeout=0.5):
        try:
            ev = self.recv(timeout)
            return ev
        except TimeoutError:
            return None

    def cmd(self, obj, timeout=2.0):
        """Send a command, return its answer (skipping message events)."""
        self.send(obj)
        ev, _ = self.recv_until(lambda e: e.get("type") != "message", timeout)
        return ev

    def close(self):
        try:
            self.send_frame(8, struct.pack("!H", 1000))
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass


# ------------------------------------------------------------------- tests

def test_http():
    st, h, b = req("GET", "/healthz")
    check("healthz 200", st == 200, st)
    ch = chan()
    st, h, b = req("POST", "/publish", json.dumps({"channel": ch, "data": {"p": 1.5, "s": [1, None, "x"]}}).encode(),
                    {"Content-Type": "application/json"})
    check("publish 200", st == 200 and h.get("content-type", "").startswith("application/json")
          and json.loads(b) == {"channel": ch, "seq": 1}, (st, h, b))
    st, h, b = req("POST", "/publish", json.dumps({"channel": ch, "data": None, "x": 1}).encode(),
                    {"Content-Type": "application/json"})
    check("publish data null ok, seq 2", st == 200 and json.loads(b)["seq"] == 2, (st, b))

    def prob(name, body, status):
        st, h, b = req("POST", "/publish", body, {"Content-Type": "application/json"})
        ok = st == status and h.get("content-type", "").startswith("application/problem+json")
        if ok:
            p = json.loads(b)
            ok = p.get("status") == status and isinstance(p.get("title"), str) and p["title"]
        check(f"publish {name} -> {status}", bool(ok), (st, h.get("content-type"), b[:200]))

    prob("empty body", b"", 400)
    prob("invalid json", b"{nope", 400)
    prob("NaN", b'{"channel":"a","data":NaN}', 400)
    prob("array", b"[1,2]", 400)
    prob("string", b'"x"', 400)
    prob("null", b"null", 400)
    prob("missing channel", b'{"data":1}', 422)
    prob("channel number", b'{"channel":5,"data":1}', 422)
    prob("channel bad chars", b'{"channel":"a b","data":1}', 422)
    prob("channel 65 chars", json.dumps({"channel": "a" * 65, "data": 1}).encode(), 422)
    prob("channel empty", b'{"channel":"","data":1}', 422)
    prob("channel trailing newline", b'{"channel":"abc\\n","data":1}', 422)
    prob("missing data", b'{"channel":"abc"}', 422)
    big = json.dumps({"channel": "abc", "data": "x" * 70000}).encode()
    prob("too large", big, 413)
    # exactly 65536 bytes is allowed
    base = {"channel": chan(), "data": ""}
    pad = 65536 - len(json.dumps(base).encode())
    base["data"] = "y" * pad
    body = json.dumps(base).encode()
    st, _, b = req("POST", "/publish", body, {"Content-Type": "application/json"})
    check("publish exactly 65536 bytes -> 200", len(body) == 65536 and st == 200, (len(body), st))
    body = json.dumps({"channel": chan(), "data": "y" * (pad + 1)}).encode()
    st, _, b = req("POST", "/publish", body, {"Content-Type": "application/json"})
    check("publish 65537 bytes -> 413", st == 413, st)
    # nothing published on errors: seq of ch still 2
    st, _, b = req("POST", "/publish", json.dumps({"channel": ch, "data": 3}).encode())
    check("no seq consumed by errors", json.loads(b)["seq"] == 3, b)
    # 64-char channel ok, case sensitive
    c64 = "A" * 64
    st, _, b = req("POST", "/publish", json.dumps({"channel": c64, "data": 1}).encode())
    check("64-char channel ok", st == 200, st)
    # keep-alive: several requests on one connection
    c = http.client.HTTPConnection(HOST, PORT, timeout=5)
    try:
        seqs = [publish(ch + "x", i, c) for i in range(5)]
        check("keep-alive publishes", seqs == [1, 2, 3, 4, 5], seqs)
    finally:
        c.close()


def test_upgrade():
    w = WS()
    check("valid upgrade -> 101", w.status == 101, w.head)
    w.close()
    for name, hdr in [("no Upgrade header", {"Upgrade": None}),
                      ("no key", {"Sec-WebSocket-Key": None}),
                      ("bad key", {"Sec-WebSocket-Key": "abc"}),
                      ("bad key 2", {"Sec-WebSocket-Key": "!!!!" + base64.b64encode(os.urandom(16)).decode()}),
                      ("version 8", {"Sec-WebSocket-Version": "8"}),
                      ("no version", {"Sec-WebSocket-Version": None})]:
        w = WS(headers=hdr)
        check(f"upgrade {name} -> 4xx", 400 <= w.status < 500, w.head)
        w.sock.close()
    w = WS(headers={"Sec-WebSocket-Protocol": "foo", "Sec-WebSocket-Extensions": "permessage-deflate"})
    check("upgrade with unknown subprotocol/extension -> 101, none chosen",
          w.status == 101 and b"sec-websocket-extensions" not in w.head.lower()
          and b"sec-websocket-protocol" not in w.head.lower(), w.head)
    w.close()


def test_commands():
    w = WS()
    ch = chan()
    ev = w.cmd({"op": "subscribe", "channel": ch})
    check("subscribe ack seq 0", ev == {"type": "subscribed", "channel": ch, "seq": 0}, ev)
    s1 = publish(ch, {"price": 64210.5, "size": 0.25})
    s2 = publish(ch, [1, "two", None, True])
    ev1, ev2 = w.recv(), w.recv()
    check("message events", ev1 == {"type": "message", "channel": ch, "seq": 1, "data": {"price": 64210.5, "size": 0.25}}
          and ev2["seq"] == 2 and ev2["data"] == [1, "two", None, True] and (s1, s2) == (1, 2), (ev1, ev2))
    # errors
    w.send_frame(1, b"{not json")
    check("bad_json invalid", w.recv().get("code") == "bad_json")
    w.send_frame(1, b"[1]")
    check("bad_json array", w.recv().get("code") == "bad_json")
    w.send_frame(2, b'{"op":"subscribe","channel":"x"}')
    check("bad_json binary", w.recv().get("code") == "bad_json")
    for name, c in [("missing", {}), ("number", {"op": 1}), ("unknown", {"op": "publish"}), ("case", {"op": "Subscribe"})]:
        ev = w.cmd(c)
        check(f"unknown_op {name}", ev.get("type") == "error" and ev.get("code") == "unknown_op"
              and isinstance(ev.get("message"), str), ev)
    for name, c in [("missing", {"op": "subscribe"}), ("number", {"op": "subscribe", "channel": 1}),
                    ("bad", {"op": "subscribe", "channel": "a/b"}), ("long", {"op": "subscribe", "channel": "a" * 65}),
                    ("both bad", {"op": "subscribe", "channel": "", "last_seq": "x"})]:
        ev = w.cmd(c)
        check(f"invalid_channel {name}", ev.get("code") == "invalid_channel", ev)
    for name, v in [("null", None), ("string", "17"), ("negative", -1), ("fraction", 1.5), ("bool", True), ("obj", {})]:
        ev = w.cmd({"op": "subscribe", "channel": chan(), "last_seq": v})
        check(f"invalid_last_seq {name}", ev.get("code") == "invalid_last_seq", ev)
    ev = w.cmd({"op": "subscribe", "channel": ch, "last_seq": "bad"})
    check("invalid_last_seq before already_subscribed", ev.get("code") == "invalid_last_seq", ev)
    ev = w.cmd({"op": "subscribe", "channel": ch})
    check("already_subscribed", ev.get("code") == "already_subscribed", ev)
    ev = w.cmd({"op": "unsubscribe", "channel": "bad channel"})
    check("unsubscribe invalid_channel", ev.get("code") == "invalid_channel", ev)
    ev = w.cmd({"op": "unsubscribe", "channel": chan()})
    check("not_subscribed", ev.get("code") == "not_subscribed", ev)
    # subscription still alive after errors
    publish(ch, "after-errors")
    ev = w.recv()
    check("still subscribed after errors", ev.get("seq") == 3 and ev.get("data") == "after-errors", ev)
    # 17.0 counts as integer
    c2 = chan()
    ev = w.cmd({"op": "subscribe", "channel": c2, "last_seq": 0.0})
    check("last_seq 0.0 accepted", ev == {"type": "subscribed", "channel": c2, "seq": 0}, ev)
    # too many subscriptions (ch and c2 already)
    names = [chan() for _ in range(MAX_SUBS - 2)]
    oks = [w.cmd({"op": "subscribe", "channel": n}).get("type") for n in names]
    check("subscribe up to MAX_SUBSCRIPTIONS", oks == ["subscribed"] * len(names), oks)
    ev = w.cmd({"op": "subscribe", "channel": chan()})
    check("too_many_subscriptions", ev.get("code") == "too_many_subscriptions", ev)
    ev = w.cmd({"op": "subscribe", "channel": ch})
    check("already_subscribed before too_many", ev.get("code") == "already_subscribed", ev)
    ev = w.cmd({"op": "unsubscribe", "channel": names[0]})
    check("unsubscribe ack", ev == {"type": "unsubscribed", "channel": names[0]}, ev)
    ev = w.cmd({"op": "subscribe", "channel": chan()})
    check("slot freed after unsubscribe", ev.get("type") == "subscribed", ev)
    # unsubscribe: nothing after ack
    ev = w.cmd({"op": "unsubscribe", "channel": ch})
    publish(ch, "after-unsub")
    check("no message after unsubscribed", w.nothing(0.5) is None)
    # resubscribe fresh
    ev = w.cmd({"op": "subscribe", "channel": ch})
    check("resubscribe ack with current seq", ev == {"type": "subscribed", "channel": ch, "seq": 4}, ev)
    publish(ch, "x")
    ev = w.recv()
    check("resubscribe gets seq 5", ev.get("seq") == 5, ev)
    # pipelined commands answered in order
    cs = [chan() for _ in range(3)]
    for c in cs:
        w.send({"op": "unsubscribe", "channel": c})
    answers = [w.recv() for _ in cs]
    check("answers in command order", [a.get("code") for a in answers] == ["not_subscribed"] * 3, answers)
    # client close handshake
    w.send_frame(8, struct.pack("!H", 1000))
    try:
        w.recv(2)
        check("close echoed", False, "no close")
    except Closed as e:
        check("close answered", e.code == 1000, e.code)
    except TimeoutError:
        check("close answered", False, "timeout")
    w.sock.close()


def test_resume():
    ch = chan()
    c = http.client.HTTPConnection(HOST, PORT, timeout=5)
    for i in range(150):
        publish(ch, {"i": i + 1}, c)
    c.close()
    C = 150

    def resume(last, n_expect=None):
        w = WS()
        ev = w.cmd({"op": "subscribe", "channel": ch, "last_seq": last})
        got = []
        deadline = time.time() + 5
        while time.time() < deadline:
            e = w.nothing(0.4)
            if e is None:
                break
            got.append(e)
        w.close()
        return ev, got

    back = min(30, HISTORY_SIZE)
    ev, got = resume(C - back)
    check("replay C-k+1..C", ev["seq"] == C and [g["seq"] for g in got] == list(range(C - back + 1, C + 1))
          and got[0]["data"] == {"i": C - back + 1}, (ev, [g.get("seq") for g in got][:5]))
    ev, got = resume(150)
    check("last_seq == C replays nothing", got == [], got[:3])
    ev, got = resume(C - HISTORY_SIZE)
    check("last_seq == C-H replays H messages", [g["seq"] for g in got] == list(range(C - HISTORY_SIZE + 1, C + 1)),
          len(got))
    ev, got = resume(C - HISTORY_SIZE - 1)
    check("last_seq < C-H -> reset", got == [{"type": "reset", "channel": ch, "seq": C}], got[:3])
    ev, got = resume(C + 1)
    check("last_seq > C -> reset", got == [{"type": "reset", "channel": ch, "seq": C}], got[:3])
    ev, got = resume(10 ** 30)
    check("huge last_seq -> reset", got == [{"type": "reset", "channel": ch, "seq": C}], got[:3])
    # replay then live, consecutive
    w = WS()
    w.cmd({"op": "subscribe", "channel": ch, "last_seq": 145})
    publish(ch, "live")
    seqs = []
    for _ in range(6):
        seqs.append(w.recv()["seq"])
    check("replay then live consecutive", seqs == [146, 147, 148, 149, 150, 151], seqs)
    w.close()
    # unknown channel resume with last_seq 0
    w = WS()
    c2 = chan()
    ev = w.cmd({"op": "subscribe", "channel": c2, "last_seq": 0})
    check("last_seq 0 on empty channel: no reset", ev["seq"] == 0 and w.nothing(0.3) is None)
    w.close()
    w = WS()
    ev = w.cmd({"op": "subscribe", "channel": chan(), "last_seq": 5})
    check("last_seq 5 on empty channel -> reset 0", w.recv().get("type") == "reset")
    w.close()


def test_limits():
    w = WS()
    ch = chan()
    # exactly MAX_MSG bytes: processed
    base = json.dumps({"op": "subscribe", "channel": ch, "pad": ""})
    msg = json.dumps({"op": "subscribe", "channel": ch, "pad": "p" * (MAX_MSG - len(base))}).encode()
    w.send_frame(1, msg)
    ev = w.recv()
    check("message of exactly MAX_MESSAGE_BYTES handled", len(msg) == MAX_MSG and ev.get("type") == "subscribed", (len(msg), ev))
    # fragmented, within limit
    part = b'{"op":"unsubscribe",' 
    w.send_frame(1, part, fin=False)
    w.ping(b"mid")
    w.send_frame(0, b'"channel":"' + ch.encode() + b'"', fin=False)
    w.send_frame(0, b"}", fin=True)
    evs = []
    for _ in range(2):
        op, p = w.recv_frame()
        evs.append((op, p))
    check("fragmented message + interleaved ping", (10, b"mid") in evs and any(op == 1 and json.loads(p).get("type") == "unsubscribed" for op, p in evs), evs)
    # too big
    w.send_frame(1, b"x" * (MAX_MSG + 1))
    try:
        w.recv(2)
        check("oversized -> 1009", False, "no close")
    except Closed as e:
        check("oversized -> 1009", e.code == 1009, e.code)
    except TimeoutError:
        check("oversized -> 1009", False, "timeout")
    w.sock.close()
    w = WS()
    w.send_frame(1, b"x" * (MAX_MSG // 2), fin=False)
    w.send_frame(0, b"x" * (MAX_MSG // 2 + 1), fin=True)
    try:
        w.recv(2)
        check("fragmented oversized -> 1009", False, "no close")
    except Closed as e:
        check("fragmented oversized -> 1009", e.code == 1009, e.code)
    except TimeoutError:
        check("fragmented oversized -> 1009", False, "timeout")
    w.sock.close()


def test_idle():
    quiet = WS()
    pinger = WS()
    ponger = WS()
    listener = WS()
    ch = chan()
    listener.cmd({"op": "subscribe", "channel": ch})
    t0 = time.time()
    results = {}

    def wait_close(name, w, pings=False, pongs=False, publish_to=None):
        end = t0 + IDLE + 4
        nextp = time.time()
        while time.time() < end:
            if pings and time.time() >= nextp:
                w.ping(b"p%d" % int(time.time()))
                nextp = time.time() + 1
            if pongs and time.time() >= nextp:
                w.send_frame(10, b"unsolicited")
                nextp = time.time() + 1
            try:
                op, p = w.recv_frame(0.1)
                if op == 10:
                    results.setdefault(name + "_pongs", []).append(p)
            except TimeoutError:
                continue
            except Closed as e:
                results[name] = (e.code, time.time() - t0)
                return
        results[name] = (None, time.time() - t0)

    def publisher():
        for i in range(int((IDLE + 2) * 5)):
            publish(ch, i)
            time.sleep(0.2)

    ts = [threading.Thread(target=wait_close, args=("quiet", quiet)),
          threading.Thread(target=wait_close, args=("pinger", pinger, True)),
          threading.Thread(target=wait_close, args=("ponger", ponger, False, True)),
          threading.Thread(target=wait_close, args=("listener", listener)),
          threading.Thread(target=publisher)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=IDLE + 10)
    q = results.get("quiet")
    check("idle closed with 4000 within [IDLE, IDLE+1]", q and q[0] == 4000 and IDLE - 0.05 <= q[1] <= IDLE + 1.0, q)
    p = results.get("pinger")
    check("pinging client stays open", p and p[0] is None, p)
    check("pongs echo payload", bool(results.get("pinger_pongs")) and all(x.startswith(b"p") for x in results["pinger_pongs"]),
          results.get("pinger_pongs"))
    q = results.get("ponger")
    check("client pongs are not activity", q and q[0] == 4000 and q[1] <= IDLE + 1.0, q)
    q = results.get("listener")
    check("receiving messages is not activity", q and q[0] == 4000 and q[1] <= IDLE + 1.3, q)
    for w in (quiet, pinger, ponger, listener):
        w.close()


def test_concurrent_publishers():
    ch = chan()
    subs = [WS() for _ in range(3)]
    for s in subs:
        s.cmd({"op": "subscribe", "channel": ch})
    seqs = []
    lock = threading.Lock()
    N_THREADS, N_EACH = 8, 100

    def pub(k):
        c = http.client.HTTPConnection(HOST, PORT, timeout=10)
        mine = [publish(ch, {"k": k, "i": i}, c) for i in range(N_EACH)]
        c.close()
        with lock:
            seqs.extend(mine)

    got = {i: [] for i in range(len(subs))}

    def reader(i):
        s = subs[i]
        end = time.time() + 30
        last_ping = 0.0
        while len(got[i]) < N_THREADS * N_EACH and time.time() < end:
            if time.time() - last_ping > 1:
                s.ping()
                last_ping = time.time()
            try:
                ev = s.recv(0.5)
            except TimeoutError:
                continue
            got[i].append(ev)

    rs = [threading.Thread(target=reader, args=(i,)) for i in range(len(subs))]
    ps = [threading.Thread(target=pub, args=(k,)) for k in range(N_THREADS)]
    for t in rs + ps:
        t.start()
    for t in ps + rs:
        t.join(timeout=40)
    total = N_THREADS * N_EACH
    check("concurrent publishers: seqs 1..N unique", sorted(seqs) == list(range(1, total + 1)), len(seqs))
    for i in range(len(subs)):
        sq = [e["seq"] for e in got[i]]
        check(f"subscriber {i} got all in order exactly once", sq == list(range(1, total + 1)), (len(sq), sq[:5]))
    for s in subs:
        s.close()


def test_slow_consumer():
    ch = chan("slow")
    stalled = WS(rcvbuf=4096)
    healthy = WS()
    stalled.cmd({"op": "subscribe", "channel": ch})
    healthy.cmd({"op": "subscribe", "channel": ch})
    stop = threading.Event()
    pub_times = {}
    recv_lat = []
    healthy_seqs = []

    def stalled_pinger():
        while not stop.is_set():
            try:
                stalled.ping(b"s")
            except OSError:
                return
            stop.wait(1.0)

    def healthy_reader():
        end = time.time() + 60
        last_ping = 0.0
        while not stop.is_set() and time.time() < end:
            if time.time() - last_ping > 1:
                healthy.ping()
                last_ping = time.time()
            try:
                ev = healthy.recv(0.3)
            except TimeoutError:
                continue
            t = time.time()
            healthy_seqs.append(ev["seq"])
            pt = pub_times.get(ev["seq"])
            if pt is not None:
                recv_lat.append(t - pt)

    threads = [threading.Thread(target=stalled_pinger), threading.Thread(target=healthy_reader)]
    for t in threads:
        t.start()
    payload = "z" * 8000
    c = http.client.HTTPConnection(HOST, PORT, timeout=10)
    pub_lat = []
    N = 800  # ~6.4 MB
    t0 = time.time()
    for i in range(N):
        ts = time.time()
        body = json.dumps({"channel": ch, "data": {"i": i, "pad": payload}}).encode()
        pub_times[i + 1] = ts  # approximate: seq = i+1 on a fresh channel
        c.request("POST", "/publish", body=body, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        pub_lat.append(time.time() - ts)
    c.close()
    pub_s = time.time() - t0
    time.sleep(1.5)
    check("healthy subscriber got all", healthy_seqs == list(range(1, N + 1)), (len(healthy_seqs)))
    mx = max(recv_lat) if recv_lat else None
    check("healthy latency < 1s", mx is not None and mx < 1.0, mx)
    check("publish stays fast (max < 0.5s)", max(pub_lat) < 0.5, (max(pub_lat), pub_s))
    print(f"   published {N} x 8KB in {pub_s:.2f}s; healthy max latency {mx:.3f}s")
    # now resume reading the stalled one: consecutive run, then 4008
    seqs = []
    code = None
    end = time.time() + 12
    while time.time() < end:
        try:
            op, p = stalled.recv_frame(1.0)
        except Closed as e:
            code = e.code
            break
        except TimeoutError:
            continue
        if op == 1:
            seqs.append(json.loads(p)["seq"])
    stop.set()
    for t in threads:
        t.join(timeout=5)
    check("stalled ends with 4008", code == 4008, code)
    check("stalled got a consecutive run from 1", seqs == list(range(1, len(seqs) + 1)) and len(seqs) < N, (len(seqs), seqs[:3], seqs[-3:]))
    print(f"   stalled client received {len(seqs)} messages before 4008")
    stalled.sock.close()
    # reconnect and resume
    w = WS()
    last = seqs[-1] if seqs else 0
    ev = w.cmd({"op": "subscribe", "channel": ch, "last_seq": last})
    nxt = w.recv(3)
    if N - HISTORY_SIZE <= last:
        check("resume after 4008 replays", nxt.get("seq") == last + 1, nxt)
    else:
        check("resume after 4008 -> reset", nxt == {"type": "reset", "channel": ch, "seq": N}, nxt)
    w.close()
    healthy.close()


def test_slow_consumer_late_reader():
    """The stalled client resumes reading 11 s after the Close frame: it still finds 4008."""
    ch = chan("slow")
    stalled = WS(rcvbuf=4096)
    stalled.cmd({"op": "subscribe", "channel": ch})
    stop = threading.Event()

    def pinger():
        while not stop.is_set():
            try:
                stalled.ping(b"s")
            except OSError:
                return
            stop.wait(1.0)

    t = threading.Thread(target=pinger)
    t.start()
    c = http.client.HTTPConnection(HOST, PORT, timeout=10)
    for i in range(700):
        publish(ch, {"i": i, "pad": "w" * 8000}, c)
    c.close()
    stop.wait(11)
    seqs, code = [], None
    end = time.time() + 10
    while time.time() < end:
        try:
            op, p = stalled.recv_frame(1.0)
        except Closed as e:
            code = e.code
            break
        except TimeoutError:
            continue
        except OSError as e:
            code = repr(e)
            break
        if op == 1:
            seqs.append(json.loads(p)["seq"])
    stop.set()
    t.join(timeout=5)
    check("late reader still finds 4008 after a consecutive run", code == 4008
          and seqs == list(range(1, len(seqs) + 1)), (code, len(seqs)))
    stalled.sock.close()


def test_replay_big():
    """Replay of a history of large messages to a reading client must not be a slow consumer."""
    ch = chan()
    c = http.client.HTTPConnection(HOST, PORT, timeout=10)
    for i in range(HISTORY_SIZE):
        publish(ch, {"i": i, "pad": "q" * 30000}, c)
    c.close()
    w = WS()
    w.cmd({"op": "subscribe", "channel": ch, "last_seq": 0})
    seqs = []
    try:
        for _ in range(HISTORY_SIZE):
            seqs.append(w.recv(5)["seq"])
    except (Closed, TimeoutError) as e:
        seqs.append(repr(e))
    check("big replay (3 MB) delivered to a reader", seqs == list(range(1, HISTORY_SIZE + 1)), seqs[-3:])
    w.close()


def test_unsubscribe_race():
    ch = chan()
    w = WS()
    w.cmd({"op": "subscribe", "channel": ch})
    stop = threading.Event()

    def pub():
        c = http.client.HTTPConnection(HOST, PORT, timeout=10)
        for i in range(300):
            if stop.is_set():
                break
            publish(ch, i, c)
        c.close()

    t = threading.Thread(target=pub)
    t.start()
    time.sleep(0.1)
    w.send({"op": "unsubscribe", "channel": ch})
    before = []
    ev = None
    deadline = time.time() + 5
    while time.time() < deadline:
        ev = w.recv(2)
        if ev.get("type") == "unsubscribed":
            break
        before.append(ev["seq"])
    after = w.nothing(0.7)
    stop.set()
    t.join(timeout=10)
    check("unsubscribe under load: consecutive before ack, nothing after",
          ev and ev.get("type") == "unsubscribed" and after is None and before == list(range(1, len(before) + 1)),
          (len(before), after))
    w.close()


def test_max_connections():
    socks = []
    try:
        ok = 0
        for i in range(MAX_CONN):
            w = WS()
            if w.status == 101:
                ok += 1
            socks.append(w)
        check(f"accept {MAX_CONN} connections", ok == MAX_CONN, ok)
        w = WS()
        check("one more -> 503", w.status == 503, w.head[:60])
        w.sock.close()
        socks[0].close()
        time.sleep(0.3)
        w = WS()
        check("after a close, upgrade accepted again", w.status == 101, w.head[:60])
        socks.append(w)
        # abrupt TCP drop also frees a slot
        socks[1].sock.close()
        time.sleep(0.3)
        w = WS()
        check("after a TCP drop, upgrade accepted again", w.status == 101, w.head[:60])
        socks.append(w)
    finally:
        for w in socks:
            try:
                w.sock.close()
            except OSError:
                pass
    time.sleep(0.5)


TESTS = [test_http, test_upgrade, test_commands, test_resume, test_limits, test_concurrent_publishers,
         test_unsubscribe_race, test_replay_big, test_slow_consumer, test_slow_consumer_late_reader, test_idle, test_max_connections]

if __name__ == "__main__":
    only = sys.argv[2:]
    for t in TESTS:
        if only and t.__name__ not in only:
            continue
        print(f"== {t.__name__}", flush=True)
        try:
            t()
        except Exception as e:  # noqa: BLE001
            import traceback
            traceback.print_exc()
            check(t.__name__ + " crashed", False, repr(e))
    failed = [n for n, ok in RESULTS if not ok]
    print(f"\n{len(RESULTS) - len(failed)}/{len(RESULTS)} passed")
    if failed:
        print("failed:", failed)
    sys.exit(1 if failed else 0)
