"""Helpers for the realtime checks: unique channels, publishing, and a subscriber connection.

Every check uses channels nobody else uses (a random tag per run plus a counter), so checks are
independent of each other and of their order. Every wait has a deadline: a receive fails after
``timeout_s``, a "nothing arrives" wait is a bounded poll, and each connection is closed at the
end of its check.

Timing tolerances (the grader may run on a loaded 2-core machine): the idle close is accepted
from 0.5 s before to 2.5 s after the stated timeout; the slow-consumer check allows each message
1 s from its publish to the healthy subscriber, as the brief says.
"""

from __future__ import annotations

import json
import threading
import time
import tomllib
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from graders import Client, WebSocket, expect, fail, ws_connect
from graders.bounded import load_json
from graders.http import excerpt
from graders.names import UniqueNames

CHALLENGE_TOML = Path(__file__).resolve().parent.parent / "challenge.toml"
_ENV: dict[str, str] = tomllib.loads(CHALLENGE_TOML.read_text()).get("env", {})

HISTORY_SIZE = int(_ENV.get("HISTORY_SIZE", "100"))
IDLE_TIMEOUT_S = float(_ENV.get("IDLE_TIMEOUT_S", "4"))
MAX_MESSAGE_BYTES = int(_ENV.get("MAX_MESSAGE_BYTES", "4096"))
MAX_SUBSCRIPTIONS = int(_ENV.get("MAX_SUBSCRIPTIONS", "10"))
MAX_CONNECTIONS = int(_ENV.get("MAX_CONNECTIONS", "500"))
SLOW_CONSUMER_BYTES = int(_ENV.get("SLOW_CONSUMER_BYTES", "262144"))

WS_TIMEOUT_S = 5.0
QUIET_S = 0.5  # how long "no message arrives" is watched after a round trip proved order

PAIRS = ["BTC-USD", "ETH-USD", "SOL-USD", "ETH-EUR", "BTC-EUR", "ADA-USD", "XRP-USD", "DOT-USD"]
KINDS = ["ticker", "trades", "book"]


NAME_TEMPLATE = "{kind}.{pair}.{tag}{n}"  # the load profile names its channels the same way


class Channels:
    """Hands out channel names no other check (and no load user) uses, from the same generator
    as the load profile's (a service cannot tell load channels by their names)."""

    def __init__(self, seed: int) -> None:
        self._names = UniqueNames(NAME_TEMPLATE, seed, kind=KINDS, pair=PAIRS)
        self._rng = self._names.rng
        self._lock = threading.Lock()

    def new(self) -> str:
        return self._names.new()

    def tick(self, i: int = 0) -> dict[str, Any]:
        """A market-data payload like the load's."""
        with self._lock:
            price = round(self._rng.uniform(10, 70_000), 2)
            size = round(self._rng.uniform(0.001, 5), 4)
        return {
            "i": i,
            "price": price,
            "size": size,
            "side": "buy" if i % 2 else "sell",
            "ts": time.time(),
        }


@pytest.fixture(scope="session")
def channels(seed: int) -> Channels:
    return Channels(seed)


# -- HTTP -------------------------------------------------------------------------------------
def publish(api: Client, channel: str, data: Any, timeout_s: float | None = None) -> int:
    """POST /publish; expects 200 with the channel and an integer seq; returns the seq."""
    r = api.post("/publish", json={"channel": channel, "data": data}, timeout_s=timeout_s)
    expect(r).status(200).content_type("application/json")
    body = r.json()
    if not isinstance(body, dict) or body.get("channel") != channel:
        fail(
            f'{r.request_line}: expected a body with "channel": {channel!r}; got {excerpt(r.text)}'
        )
    seq = body.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        fail(f'{r.request_line}: expected a body with an integer "seq" >= 1; got {excerpt(r.text)}')
    return seq


def problem(r: Any, status: int) -> None:
    """An RFC 9457 problem answer with this status."""
    expect(r).status(status).content_type("application/problem+json")
    body = r.json()
    if not isinstance(body, dict) or body.get("status") != status:
        fail(
            f'{r.request_line}: expected a problem object with "status": {status}; '
            f"got {excerpt(r.text)}"
        )
    if not isinstance(body.get("title"), str) or not body["title"].strip():
        fail(
            f'{r.request_line}: expected a problem object with a non-empty "title"; '
            f"got {excerpt(r.text)}"
        )


# -- WebSocket --------------------------------------------------------------------------------
def _show(event: Any) -> str:
    return excerpt(json.dumps(event), 300)


class Sub:
    """One WebSocket connection speaking the brief's protocol.

    ``messages`` collects `message` events read while waiting for something else (a command's
    answer, a pong), so none is lost; checks then take them in arrival order."""

    def __init__(self, ws: WebSocket, name: str = "subscriber") -> None:
        self.ws = ws
        self.name = name
        self.inbox: deque[dict[str, Any]] = deque()

    def _parse(self, payload: bytes, opcode: int) -> dict[str, Any]:
        if opcode != 0x1:
            fail(f"{self.name}: expected a text message, got a binary one ({len(payload)} bytes)")
        try:
            # bounded in depth: a frame nested a million deep fails this check, not the grader
            event = load_json(payload.decode("utf-8"), "the event", max_bytes=len(payload) + 1)
        except (ValueError, UnicodeDecodeError):
            fail(f"{self.name}: expected a JSON event, got {excerpt(payload)}")
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            fail(f'{self.name}: expected a JSON object with a string "type", got {_show(event)}')
        return event

    def event(self, timeout_s: float = WS_TIMEOUT_S) -> dict[str, Any]:
        """The next event off the wire (the inbox aside)."""
        opcode, payload = self.ws.recv_message(timeout_s)
        return self._parse(payload, opcode)

    def poll(self, timeout_s: float) -> dict[str, Any] | None:
        got = self.ws.poll_message(timeout_s)
        return None if got is None else self._parse(got[1], got[0])

    def send(self, obj: Any) -> None:
        self.ws.send_text(obj if isinstance(obj, str) else json.dumps(obj))

    def reply(self, what: str, timeout_s: float = WS_TIMEOUT_S) -> dict[str, Any]:
        """The answer to the last command: the next event that is not a `message`."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                fail(f"{self.name}: no answer to {what} within {timeout_s:g} s")
            event = self.event(left)
            if event["type"] == "message":
                self.inbox.append(event)
                continue
            return event

    def ack(self, command: dict[str, Any], expected_type: str) -> dict[str, Any]:
        self.send(command)
        event = self.reply(json.dumps(command))
        if event.get("type") != expected_type or event.get("channel") != command.get("channel"):
            fail(
                f'{self.name}: sent {json.dumps(command)}; expected {{"type": '
                f'"{expected_type}", "channel": "{command.get("channel")}", ...}}; '
                f"got {_show(event)}"
            )
        return event

    def subscribe(self, channel: str, last_seq: int | None = None) -> int:
        """Subscribe; returns the acknowledgement's seq (the channel's current sequence)."""
        cmd: dict[str, Any] = {"op": "subscribe", "channel": channel}
        if last_seq is not None:
            cmd["last_seq"] = last_seq
        event = self.ack(cmd, "subscribed")
        seq = event.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            fail(
                f"{self.name}: sent {json.dumps(cmd)}; the acknowledgement needs an integer "
                f'"seq" >= 0; got {_show(event)}'
            )
        return seq

    def unsubscribe(self, channel: str) -> None:
        self.ack({"op": "unsubscribe", "channel": channel}, "unsubscribed")

    def error(self, command: Any, code: str) -> None:
        """Send a command (object or raw text) and expect an error event with this code."""
        self.send(command)
        shown = command if isinstance(command, str) else json.dumps(command)
        event = self.reply(excerpt(shown, 200))
        if event.get("type") != "error" or event.get("code") != code:
            fail(
                f"{self.name}: sent {excerpt(shown, 200)}; expected "
                f'{{"type": "error", "code": "{code}", ...}}; got {_show(event)}'
            )

    def next_message(self, timeout_s: float = WS_TIMEOUT_S) -> dict[str, Any]:
        if self.inbox:
            return self.inbox.popleft()
        event = self.event(timeout_s)
        if event["type"] != "message":
            fail(f"{self.name}: expected a message event; got {_show(event)}")
        return event

    def expect_messages(
        self,
        channel: str,
        first: int,
        count: int,
        data: dict[int, Any] | None = None,
        timeout_s: float = WS_TIMEOUT_S,
    ) -> list[dict[str, Any]]:
        """The next ``count`` messages of ``channel`` are seqs first.. first+count-1, in order,
        each once (with the published data when given). Other channels' messages are skipped."""
        deadline = time.monotonic() + timeout_s
        got: list[dict[str, Any]] = []
        while len(got) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                fail(
                    f"{self.name}: received {len(got)} of {count} messages of {channel} "
                    f"(seq {first}..{first + count - 1}) within {timeout_s:g} s"
                )
            m = self.next_message(left)
            if m.get("channel") != channel:
                continue
            want = first + len(got)
            if m.get("seq") != want:
                seen = [x.get("seq") for x in got[-5:]]
                fail(
                    f"{self.name}: expected the message of {channel} with seq {want} next "
                    f"(after {seen}); got {_show(m)}"
                )
            if "data" not in m:
                fail(f'{self.name}: a message event needs "data"; got {_show(m)}')
            if data is not None and want in data and m["data"] != data[want]:
                fail(
                    f"{self.name}: message {want} of {channel}: published data "
                    f"{excerpt(json.dumps(data[want]), 200)}; received {_show(m['data'])}"
                )
            got.append(m)
        return got

    def expect_quiet(self, channel: str, quiet_s: float = QUIET_S) -> None:
        """No message of ``channel`` arrives: a ping round trip (all before it has been sent),
        then a short watch."""
        self.ws.ping(b"quiet")
        for m in list(self.inbox):
            if m.get("channel") == channel:
                fail(f"{self.name}: expected no more messages of {channel}; got {_show(m)}")
        deadline = time.monotonic() + quiet_s
        while (left := deadline - time.monotonic()) > 0:
            event = self.poll(left)
            if event is None:
                return
            if event.get("channel") == channel:
                fail(f"{self.name}: expected no more messages of {channel}; got {_show(event)}")
            self.inbox.append(event)

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def connect(service_url: str) -> Iterator[Any]:
    """connect(name=..., **ws options) -> Sub; every connection is closed after the check."""
    with ExitStack() as stack:

        def open_one(name: str = "subscriber", **kw: Any) -> Sub:
            kw.setdefault("timeout_s", WS_TIMEOUT_S)
            ws = ws_connect(service_url, "/ws", **kw)
            stack.callback(ws.close)
            return Sub(ws, name)

        yield open_one


@contextmanager
def keepalive(sub: Sub, every_s: float = 1.0) -> Iterator[None]:
    """Ping from a side thread (send only) so the idle timeout spares a connection that only
    listens for a while; the thread never reads, so it does not race the check's reads."""
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(every_s):
            try:
                sub.ws.send_ping(b"keepalive")
            except Exception:  # the check itself reports a dead connection
                return

    t = threading.Thread(target=run, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(timeout=2)
