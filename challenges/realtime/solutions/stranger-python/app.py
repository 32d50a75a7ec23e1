"""Market-data fan-out over WebSockets (aiohttp).

One asyncio event loop owns all state, so every publish (seq assignment, history append and
fan-out to subscribers) and every subscribe (read current seq, register, ack, replay) is a
synchronous block with no await inside: they are atomic with respect to each other.

Outgoing frames are encoded once per message and written straight to each connection's
transport (server frames are unmasked, so the bytes are the same for every subscriber).
The transport's write buffer is exactly "bytes not yet accepted by the OS socket", which
is what the slow-consumer rule measures.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import os
import re
import signal
import struct
import sys
from collections import deque
from typing import Any, Deque, Dict, Optional, Set, Tuple

from aiohttp import WSMsgType, web


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return int(raw.strip())


PORT = env_int("PORT", 8080)
HISTORY_SIZE = env_int("HISTORY_SIZE", 100)
IDLE_TIMEOUT_S = env_int("IDLE_TIMEOUT_S", 4)
MAX_MESSAGE_BYTES = env_int("MAX_MESSAGE_BYTES", 4096)
MAX_SUBSCRIPTIONS = env_int("MAX_SUBSCRIPTIONS", 10)
MAX_CONNECTIONS = env_int("MAX_CONNECTIONS", 500)
SLOW_CONSUMER_BYTES = env_int("SLOW_CONSUMER_BYTES", 262144)

MAX_PUBLISH_BODY = 65536
CLOSE_WAIT_S = 15.0  # how long the TCP connection is kept after our Close frame (>= 10 s)
REPLAY_HIGH_WATER = 64 * 1024  # replay is fed to the socket in steps of this size

CHANNEL_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
KEY_RE = re.compile(r"[A-Za-z0-9+/]{22}==")

CLOSE_IDLE = 4000
CLOSE_SLOW = 4008


# --------------------------------------------------------------------------- frames

def text_frame(payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


def pong_frame(payload: bytes) -> bytes:
    return bytes((0x8A, len(payload))) + payload  # control payloads are <= 125 bytes


def dumps(obj: Any) -> str:
    # ensure_ascii keeps lone surrogates (legal in JSON text as escapes) encodable
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def event_frame(obj: Dict[str, Any]) -> bytes:
    return text_frame(dumps(obj).encode("ascii"))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(text: str) -> Any:
    """Strict JSON: NaN/Infinity are not JSON."""
    return json.loads(text, parse_constant=_reject_constant)


def json_safe(value: Any) -> bool:
    """False when the value holds a float that cannot be written back as JSON (1e400)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(json_safe(v) for v in value.values())
    if isinstance(value, list):
        return all(json_safe(v) for v in value)
    return True


def valid_channel(value: Any) -> bool:
    return isinstance(value, str) and CHANNEL_RE.fullmatch(value) is not None


# --------------------------------------------------------------------------- state

class Channel:
    __slots__ = ("name", "seq", "history", "subs", "name_json")

    def __init__(self, name: str) -> None:
        self.name = name
        self.name_json = dumps(name)
        self.seq = 0
        # frames of the most recent messages; the last one has seq == self.seq
        self.history: Deque[bytes] = deque(maxlen=HISTORY_SIZE) if HISTORY_SIZE > 0 else deque(maxlen=0)
        self.subs: Set["Conn"] = set()


channels: Dict[str, Channel] = {}
connections: Set["Conn"] = set()
pending_upgrades = 0  # upgrades accepted but not yet registered in `connections`


def get_channel(name: str) -> Channel:
    ch = channels.get(name)
    if ch is None:
        ch = Channel(name)
        channels[name] = ch
    return ch


def drop_channel_if_unused(ch: Channel) -> None:
    if ch.seq == 0 and not ch.subs:
        channels.pop(ch.name, None)


class Conn:
    __slots__ = (
        "ws", "transport", "subs", "closing", "close_code", "last_active", "task",
        "in_receive", "backlog", "backlog_counted", "pump", "counted", "writer",
    )

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport,
                 writer: Any) -> None:
        self.ws = ws
        self.writer = writer  # the StreamWriter returned by prepare(): drain()
        self.transport = transport
        self.subs: Dict[str, Channel] = {}
        self.closing = False  # we decided to close: nothing more is queued
        self.close_code: Optional[int] = None
        self.last_active = asyncio.get_running_loop().time()
        self.task = asyncio.current_task()
        self.in_receive = False
        # frames waiting behind a replay that is fed to the socket as it drains:
        # (frame, counted); replayed history frames are not counted as queued bytes
        self.backlog: Deque[Tuple[bytes, bool]] = deque()
        self.backlog_counted = 0
        self.pump: Optional[asyncio.Task] = None
        self.counted = True  # counts towards MAX_CONNECTIONS

    # -- writing ---------------------------------------------------------------
    def dead(self) -> bool:
        return self.closing or self.ws.closed or self.transport.is_closing()

    def send(self, frame: bytes) -> None:
        """Queue one data frame; declares a slow consumer when the bound is hit."""
        if self.dead():
            return
        queued = self.backlog_counted + self.transport.get_write_buffer_size()
        if queued > 0 and queued + len(frame) > SLOW_CONSUMER_BYTES:
            self.slow_consumer()
            return
        if self.backlog:
            self.backlog.append((frame, True))
            self.backlog_counted += len(frame)
        else:
            self.transport.write(frame)

    def send_replay(self, frames: list) -> None:
        if self.dead() or not frames:
            return
        for f in frames:
            self.backlog.append((f, False))
        self.feed()
        if self.backlog and self.pump is None:
            self.pump = asyncio.get_running_loop().create_task(self.pump_backlog())

    def feed(self) -> None:
        tr = self.transport
        while self.backlog and tr.get_write_buffer_size() < REPLAY_HIGH_WATER:
            if self.dead():
                self.backlog.clear()
                self.backlog_counted = 0
                return
            frame, counted = self.backlog.popleft()
            if counted:
                self.backlog_counted -= len(frame)
            tr.write(frame)

    async def pump_backlog(self) -> None:
        try:
            while self.backlog and not self.dead():
                self.feed()
                if not self.backlog:
                    break
                # wait until the transport drops under its low-water mark
                while (not self.dead() and
                       self.transport.get_write_buffer_size() >= REPLAY_HIGH_WATER):
                    await self.ws_writer_drain()
        except Exception:
            pass
        finally:
            self.pump = None

    async def ws_writer_drain(self) -> None:
        await self.writer.drain()
        if self.transport.get_write_buffer_size() >= REPLAY_HIGH_WATER:
            await asyncio.sleep(0.01)

    def send_pong(self, payload: bytes) -> None:
        if not self.dead():
            self.transport.write(pong_frame(payload[:125]))

    # -- closing ---------------------------------------------------------------
    def stop_counting(self) -> None:
        if self.counted:
            self.counted = False
            connections.discard(self)

    def drop_subscriptions(self) -> None:
        for ch in self.subs.values():
            ch.subs.discard(self)
            drop_channel_if_unused(ch)
        self.subs.clear()

    def begin_close(self, code: int) -> None:
        """Decide to close with `code`; the handler task sends the Close frame."""
        if self.closing:
            return
        self.closing = True
        self.close_code = code
        self.drop_subscriptions()
        self.stop_counting()
        # frames not yet handed to the OS are dropped (the brief allows it): what reached
        # the client stays a consecutive run
        self.backlog.clear()
        self.backlog_counted = 0
        if self.pump is not None:
            self.pump.cancel()
        if self.in_receive and self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()

    def slow_consumer(self) -> None:
        self.begin_close(CLOSE_SLOW)


def open_connection_count() -> int:
    return sum(1 for c in connections if not c.dead())


# --------------------------------------------------------------------------- HTTP

def problem(status: int, title: str, detail: str) -> web.Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return web.Response(status=status, body=json.dumps(body).encode(),
                        content_type="application/problem+json")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def publish(request: web.Request) -> web.Response:
    cl = request.content_length
    if cl is not None and cl > MAX_PUBLISH_BODY:
        return problem(413, "Payload Too Large", f"the body is larger than {MAX_PUBLISH_BODY} bytes")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return problem(413, "Payload Too Large", f"the body is larger than {MAX_PUBLISH_BODY} bytes")
    if len(body) > MAX_PUBLISH_BODY:
        return problem(413, "Payload Too Large", f"the body is larger than {MAX_PUBLISH_BODY} bytes")
    try:
        doc = parse_json(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return problem(400, "Bad Request", "the body is not valid JSON")
    if not isinstance(doc, dict):
        return problem(400, "Bad Request", "the body must be a JSON object")
    channel = doc.get("channel")
    if not valid_channel(channel):
        return problem(422, "Unprocessable Content",
                       "channel must be a string matching ^[A-Za-z0-9._-]{1,64}$")
    if "data" not in doc:
        return problem(422, "Unprocessable Content", "data is required")
    data = doc["data"]
    try:
        data_json = dumps(data)
    except ValueError:
        # a number too large for a double (e.g. 1e400): cannot be delivered unchanged
        return problem(422, "Unprocessable Content", "data holds a number out of range")

    # ---- atomic section: sequence, history, fan-out (no await) ----
    ch = get_channel(channel)
    ch.seq += 1
    seq = ch.seq
    payload = ('{"type":"message","channel":%s,"seq":%d,"data":%s}'
               % (ch.name_json, seq, data_json)).encode("ascii")
    frame = text_frame(payload)
    ch.history.append(frame)
    if ch.subs:
        for conn in tuple(ch.subs):
            conn.send(frame)
    # ----------------------------------------------------------------
    return web.Response(body=('{"channel":%s,"seq":%d}' % (ch.name_json, seq)).encode(),
                        content_type="application/json")


# --------------------------------------------------------------------------- WebSocket

def check_upgrade(request: web.Request) -> Optional[web.Response]:
    h = request.headers
    if h.get("Upgrade", "").strip().lower() != "websocket":
        return problem(400, "Bad Request", "not a WebSocket upgrade (Upgrade: websocket missing)")
    if "upgrade" not in [t.strip().lower() for t in h.get("Connection", "").split(",")]:
        return problem(400, "Bad Request", "not a WebSocket upgrade (Connection: Upgrade missing)")
    if h.get("Sec-WebSocket-Version", "").strip() != "13":
        resp = problem(426, "Upgrade Required", "only WebSocket version 13 is supported")
        resp.headers["Sec-WebSocket-Version"] = "13"
        return resp
    key = h.get("Sec-WebSocket-Key", "").strip()
    ok = False
    if KEY_RE.fullmatch(key):
        try:
            ok = len(base64.b64decode(key, validate=True)) == 16
        except (binascii.Error, ValueError):
            ok = False
    if not ok:
        return problem(400, "Bad Request", "missing or malformed Sec-WebSocket-Key")
    return None


def error_frame(code: str, message: str) -> bytes:
    return event_frame({"type": "error", "code": code, "message": message})


def handle_command(conn: Conn, text: str) -> None:
    try:
        cmd = parse_json(text)
    except (ValueError, RecursionError):
        conn.send(error_frame("bad_json", "message is not valid JSON"))
        return
    if not isinstance(cmd, dict):
        conn.send(error_frame("bad_json", "message must be a JSON object"))
        return
    op = cmd.get("op")
    if op == "subscribe" and isinstance(op, str):
        do_subscribe(conn, cmd)
    elif op == "unsubscribe" and isinstance(op, str):
        do_unsubscribe(conn, cmd)
    else:
        conn.send(error_frame("unknown_op", "op must be subscribe or unsubscribe"))


def parse_last_seq(cmd: Dict[str, Any]) -> Tuple[bool, Optional[int]]:
    """(valid, value); value None when absent."""
    if "last_seq" not in cmd:
        return True, None
    v = cmd["last_seq"]
    if isinstance(v, bool):
        return False, None
    if isinstance(v, int):
        return (v >= 0), v
    if isinstance(v, float) and math.isfinite(v) and v.is_integer() and v >= 0:
        return True, int(v)
    return False, None


def do_subscribe(conn: Conn, cmd: Dict[str, Any]) -> None:
    name = cmd.get("channel")
    if not valid_channel(name):
        conn.send(error_frame("invalid_channel", "channel must match ^[A-Za-z0-9._-]{1,64}$"))
        return
    ok, last_seq = parse_last_seq(cmd)
    if not ok:
        conn.send(error_frame("invalid_last_seq", "last_seq must be an integer >= 0"))
        return
    if name in conn.subs:
        conn.send(error_frame("already_subscribed", f"already subscribed to {name}"))
        return
    if len(conn.subs) >= MAX_SUBSCRIPTIONS:
        conn.send(error_frame("too_many_subscriptions",
                              f"at most {MAX_SUBSCRIPTIONS} subscriptions per connection"))
        return
    # ---- atomic: read C, register, ack, replay (no await) ----
    ch = get_channel(name)
    c = ch.seq
    ch.subs.add(conn)
    conn.subs[name] = ch
    conn.send(event_frame({"type": "subscribed", "channel": name, "seq": c}))
    if last_seq is not None:
        if c - HISTORY_SIZE <= last_seq <= c:
            count = c - last_seq
            if count > 0:
                hist = ch.history
                conn.send_replay(list(hist)[len(hist) - count:])
        else:
            conn.send(event_frame({"type": "reset", "channel": name, "seq": c}))


def do_unsubscribe(conn: Conn, cmd: Dict[str, Any]) -> None:
    name = cmd.get("channel")
    if not valid_channel(name):
        conn.send(error_frame("invalid_channel", "channel must match ^[A-Za-z0-9._-]{1,64}$"))
        return
    ch = conn.subs.pop(name, None)
    if ch is None:
        conn.send(error_frame("not_subscribed", f"not subscribed to {name}"))
        return
    ch.subs.discard(conn)
    drop_channel_if_unused(ch)
    conn.send(event_frame({"type": "unsubscribed", "channel": name}))


def reply_close_code(code: Any) -> int:
    if isinstance(code, int) and (1000 <= code <= 1003 or 1007 <= code <= 1014
                                  or 3000 <= code <= 4999):
        return code
    return 1000


async def ws_endpoint(request: web.Request) -> web.StreamResponse:
    bad = check_upgrade(request)
    if bad is not None:
        return bad
    global pending_upgrades
    if (len(connections) + pending_upgrades >= MAX_CONNECTIONS
            and open_connection_count() + pending_upgrades >= MAX_CONNECTIONS):
        return web.Response(status=503, text="too many WebSocket connections\n")

    ws = web.WebSocketResponse(
        autoping=False, autoclose=False, compress=False,
        max_msg_size=MAX_MESSAGE_BYTES + 1,  # aiohttp rejects sizes >= max_msg_size
        timeout=CLOSE_WAIT_S,
    )
    pending_upgrades += 1
    try:
        writer = await ws.prepare(request)
        transport = request.transport
        if transport is None or transport.is_closing():
            return ws
        conn = Conn(ws, transport, writer)  # type: ignore[arg-type]
        connections.add(conn)
    finally:
        pending_upgrades -= 1
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    try:
        while not conn.closing:
            remaining = conn.last_active + IDLE_TIMEOUT_S - loop.time()
            if remaining <= 0:
                conn.begin_close(CLOSE_IDLE)
                break
            conn.in_receive = True
            try:
                msg = await ws.receive(timeout=remaining)
            except asyncio.TimeoutError:
                continue
            except asyncio.CancelledError:
                if conn.closing and task is not None:
                    task.uncancel()
                    break
                raise
            finally:
                conn.in_receive = False
            t = msg.type
            if t is WSMsgType.TEXT:
                conn.last_active = loop.time()
                handle_command(conn, msg.data)
            elif t is WSMsgType.PING:
                conn.last_active = loop.time()
                conn.send_pong(msg.data)
            elif t is WSMsgType.BINARY:
                conn.last_active = loop.time()
                conn.send(error_frame("bad_json", "binary messages are not accepted"))
            elif t is WSMsgType.PONG:
                pass
            elif t is WSMsgType.CLOSE:
                # client-initiated close: answer it and let the TCP connection go
                conn.drop_subscriptions()
                conn.stop_counting()
                conn.closing = True
                await ws.close(code=reply_close_code(msg.data), drain=False)
                return ws
            else:  # CLOSING, CLOSED, ERROR (aiohttp already answered, e.g. 1009)
                return ws
        if conn.close_code is not None and not ws.closed:
            # our Close frame goes after what is already in the transport; then the
            # connection is kept (reading and discarding) for CLOSE_WAIT_S seconds or
            # until the client answers
            await ws.close(code=conn.close_code, drain=False)
        return ws
    finally:
        conn.closing = True
        conn.drop_subscriptions()
        conn.stop_counting()
        if conn.pump is not None:
            conn.pump.cancel()


# --------------------------------------------------------------------------- main

def make_app() -> web.Application:
    app = web.Application(client_max_size=MAX_PUBLISH_BODY + 1)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/publish", publish)
    app.router.add_get("/ws", ws_endpoint)
    return app


async def serve() -> None:
    runner = web.AppRunner(make_app(), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    # all interfaces: IPv4, and IPv6 when the sandbox has it (asyncio sets IPV6_V6ONLY)
    await web.TCPSite(runner, "0.0.0.0", PORT, backlog=2048).start()
    try:
        await web.TCPSite(runner, "::", PORT, backlog=2048).start()
    except OSError:
        pass
    print(f"listening on port {PORT} (HISTORY_SIZE={HISTORY_SIZE} IDLE_TIMEOUT_S={IDLE_TIMEOUT_S} "
          f"MAX_MESSAGE_BYTES={MAX_MESSAGE_BYTES} MAX_SUBSCRIPTIONS={MAX_SUBSCRIPTIONS} "
          f"MAX_CONNECTIONS={MAX_CONNECTIONS} SLOW_CONSUMER_BYTES={SLOW_CONSUMER_BYTES})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    sys.setrecursionlimit(10000)
    asyncio.run(serve())


if __name__ == "__main__":
    main()
