#!/usr/bin/env python3
"""Reference solution of the ``events`` challenge: a transfers processor on RabbitMQ (pika).

One thread owns the AMQP connection (pika is not thread-safe): it receives deliveries,
dead-letters poison messages at once, and hands valid transfers to a pool of workers that call
the ledger. Workers never touch the channel: they put their outcome on a queue that the
connection thread drains, publishing the event and acknowledging there, in one AMQP
transaction per turn of its loop (the event is on the broker before the ack takes effect). Per-account order: a
transfer waits for the previous in-flight transfer of each of its two accounts (a chain of
events per account), so transfers on disjoint accounts run concurrently and transfers sharing
an account reach the ledger in delivery order.

The behaviours a flawed variant may change are methods or attributes of :class:`Processor`:

    prefetch                 the channel's prefetch (MAX_IN_FLIGHT)
    ack_early                acknowledge at delivery, before the effect
    idempotency_key()        the Idempotency-Key sent to the ledger
    is_poison()/on_poison()  what a poison message is and what happens to it
    ordered                  wait for the account's previous transfer
    retry_delay()            the backoff before the next ledger attempt
    reconnect                reconnect after the broker went away
    handle_sigterm           graceful shutdown on SIGTERM
    drop_on_sigterm          acknowledge everything outstanding on SIGTERM, and leave
    event()                  the event a ledger answer becomes
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import random
import signal
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pika
import pika.exceptions

PORT = int(os.environ.get("PORT", "8080"))
AMQP_URL = os.environ.get("AMQP_URL", "amqp://service:service@127.0.0.1:5672/events")
LEDGER_URL = os.environ.get("LEDGER_URL", "http://127.0.0.1:9090")
MAX_IN_FLIGHT = int(os.environ.get("MAX_IN_FLIGHT", "20"))
MAX_ATTEMPTS = int(os.environ.get("MAX_ATTEMPTS", "3"))
QUEUE = "transfers"
EXCHANGE = "transfers.events"
LEDGER_TIMEOUT_S = 4.0
SHUTDOWN_GRACE_S = 7.0
MAX_TEXT = 64


class Ledger:
    """POST /postings over one keep-alive connection per worker thread."""

    def __init__(self, url: str) -> None:
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 80
        self.local = threading.local()
        self.timeout_s: float | None = LEDGER_TIMEOUT_S

    def post(self, key: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(
                self.host, self.port, timeout=self.timeout_s
            )
        try:
            conn.request("POST", "/postings", json.dumps(body),
                         {"Content-Type": "application/json", "Idempotency-Key": key})
            r = conn.getresponse()
            data = r.read(1 << 20)
        except (OSError, http.client.HTTPException):
            conn.close()
            self.local.conn = None
            raise
        try:
            answer = json.loads(data) if data else {}
        except ValueError:
            answer = {}
        return r.status, answer if isinstance(answer, dict) else {}


@dataclass
class Outcome:
    gen: int
    tag: int
    transfer: dict[str, Any] | None
    status: int | None  # the ledger's final answer; None: give the message back
    answer: dict[str, Any]


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.c = dict.fromkeys(("consumed", "applied", "rejected", "dead_lettered", "in_flight"), 0)

    def add(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.c[name] += n

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return dict(self.c)


class Processor:
    prefetch = MAX_IN_FLIGHT
    ack_early = False
    ordered = True
    reconnect = True
    handle_sigterm = True
    drop_on_sigterm = False

    def __init__(self) -> None:
        self.stats = Stats()
        self.ledger = Ledger(LEDGER_URL)
        self.pool = ThreadPoolExecutor(max_workers=2 * max(1, self.prefetch or 50))
        self.outcomes: queue.Queue[Outcome] = queue.Queue()
        self.stopping = threading.Event()  # SIGTERM: take no more work
        self.abort = threading.Event()  # grace running out: give in-flight work back
        self.gen = 0
        self.dirty = False  # acks, rejects or events not yet committed
        self.tails: dict[str, threading.Event] = {}

    # -- what a transfer is, and what the ledger is told
    def is_poison(self, body: bytes) -> dict[str, Any] | None:
        """The transfer, or None when the message is poison."""
        try:
            t = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(t, dict):
            return None
        for k in ("id", "from", "to"):
            v = t.get(k)
            if not isinstance(v, str) or not 0 < len(v) <= MAX_TEXT:
                return None
        a = t.get("amount")
        if isinstance(a, bool) or not isinstance(a, int) or a <= 0 or t["from"] == t["to"]:
            return None
        return t

    def idempotency_key(self, t: dict[str, Any]) -> str:
        return str(t["id"])

    def retry_delay(self, attempt: int) -> float:
        return min(2.0, 0.1 * 2**attempt) * random.uniform(1.0, 1.25)

    def on_poison(self, ch: Any, method: Any) -> None:
        ch.basic_reject(method.delivery_tag, requeue=False)
        self.stats.add("dead_lettered")

    # -- the connection thread
    def run(self) -> None:
        backoff = 0.2
        while not self.stopping.is_set():
            try:
                self.session()
                backoff = 0.2
            except pika.exceptions.AMQPError as exc:
                print(f"events: broker connection lost ({type(exc).__name__}); reconnecting",
                      file=sys.stderr, flush=True)
                if not self.reconnect:
                    # Stay up without a broker (the flaw: it never consumes again).
                    while not self.stopping.is_set():
                        time.sleep(0.2)
                    return
            except OSError as exc:
                print(f"events: broker unreachable ({exc}); retrying", file=sys.stderr, flush=True)
            self.stopping.wait(backoff)
            backoff = min(3.0, backoff * 2)

    def session(self) -> None:
        params = pika.URLParameters(AMQP_URL)
        params.heartbeat = 10
        params.socket_timeout = 3
        params.blocked_connection_timeout = 10
        conn = pika.BlockingConnection(params)
        self.gen += 1
        gen = self.gen
        self.tails = {}
        self.dirty = False
        try:
            ch = conn.channel()
            # Events and acknowledgements go out in transactions, one per turn of the loop:
            # an event is safely on the broker before its transfer's ack takes effect, and the
            # broker's disk sync is paid once per batch, not once per message.
            ch.tx_select()
            ch.basic_qos(prefetch_count=self.prefetch)

            def on_message(ch: Any, method: Any, props: Any, body: bytes) -> None:
                self.deliver(ch, method, body, gen)

            tag = ch.basic_consume(QUEUE, on_message)
            print("events: consuming", flush=True)
            while not self.stopping.is_set():
                conn.process_data_events(time_limit=0.02)
                self.drain(ch, gen)
            # Graceful stop: no new deliveries; finish what is in flight, then give the rest back.
            ch.basic_cancel(tag)
            if self.drop_on_sigterm:
                ch.basic_ack(0, multiple=True)  # the flaw: "done" with everything outstanding
                ch.tx_commit()
                return
            deadline = time.monotonic() + SHUTDOWN_GRACE_S
            while self.stats.snapshot()["in_flight"] > 0:
                if time.monotonic() > deadline:
                    self.abort.set()
                if time.monotonic() > deadline + LEDGER_TIMEOUT_S + 0.5:
                    break
                conn.process_data_events(time_limit=0.02)
                self.drain(ch, gen)
        finally:
            if conn.is_open:
                try:
                    conn.close()  # anything still unacknowledged goes back to the queue
                except pika.exceptions.AMQPError:
                    pass

    def deliver(self, ch: Any, method: Any, body: bytes, gen: int) -> None:
        self.dirty = True
        self.stats.add("consumed")
        t = self.is_poison(body)
        if t is None:
            self.on_poison(ch, method)
            return
        self.stats.add("in_flight")
        if self.ack_early:
            ch.basic_ack(method.delivery_tag)
        waits = []
        done = threading.Event()
        if self.ordered:
            for acc in (t["from"], t["to"]):
                prev = self.tails.get(acc)
                if prev is not None:
                    waits.append(prev)
                self.tails[acc] = done
        self.pool.submit(self.work, t, method.delivery_tag, gen, waits, done)

    def drain(self, ch: Any, gen: int) -> None:
        """Finish the outcomes the workers handed in, then commit this turn's transaction."""
        while True:
            try:
                o = self.outcomes.get_nowait()
            except queue.Empty:
                break
            self.dirty = True
            self.finish(ch, gen, o)
        if self.dirty:
            self.dirty = False  # before the commit: a delivery during it marks the next turn
            ch.tx_commit()

    def finish(self, ch: Any, gen: int, o: Outcome) -> None:
        self.stats.add("in_flight", -1)
        for acc, ev in list(self.tails.items()):
            if ev.is_set():
                del self.tails[acc]
        if o.gen != gen and not self.ack_early:
            return  # its channel is gone: the broker redelivers it (the ledger replays)
        if o.status is None:
            if not self.ack_early:
                ch.basic_nack(o.tag, requeue=True)
            return
        event = self.event(o)
        if event is None:  # the ledger refuses it for good (400, 409): nothing can apply it
            if not self.ack_early:
                ch.basic_reject(o.tag, requeue=False)
            self.stats.add("dead_lettered")
            return
        key, body = event
        props = pika.BasicProperties(
            delivery_mode=2, content_type="application/json", message_id=str(body["id"])
        )
        ch.basic_publish(EXCHANGE, key, json.dumps(body).encode(), props)
        if not self.ack_early:
            ch.basic_ack(o.tag)

    def event(self, o: Outcome) -> tuple[str, dict[str, Any]] | None:
        """The routing key and body of a transfer's event, or None when it cannot be applied."""
        t = o.transfer or {}
        base = {"id": t["id"], "from": t["from"], "to": t["to"], "amount": t["amount"]}
        if o.status in (200, 201):
            posting = {"posting_id": o.answer.get("posting_id")}
            return "transfer.completed", {**base, "status": "completed", **posting}
        if o.status == 422:
            return "transfer.rejected", {**base, "status": "rejected", "reason": "insufficient_funds"}
        return None

    # -- the workers
    def work(self, t: dict[str, Any], tag: int, gen: int, waits: list[threading.Event],
             done: threading.Event) -> None:
        status: int | None = None
        answer: dict[str, Any] = {}
        try:
            for w in waits:
                while not w.wait(0.2):
                    if self.abort.is_set():
                        return
            status, answer = self.apply(t)
        finally:
            done.set()
            self.outcomes.put(Outcome(gen, tag, t, status, answer))

    def apply(self, t: dict[str, Any]) -> tuple[int | None, dict[str, Any]]:
        body = {"transfer_id": t["id"], "from": t["from"], "to": t["to"], "amount": t["amount"]}
        attempt = 0
        while not self.abort.is_set():
            try:
                status, answer = self.ledger.post(self.idempotency_key(t), body)
                if status < 500:
                    if status in (200, 201):
                        self.stats.add("applied")
                    elif status == 422:
                        self.stats.add("rejected")
                    return status, answer
            except (OSError, http.client.HTTPException):
                pass
            if self.abort.wait(self.retry_delay(attempt)):
                break
            attempt += 1
        return None, {}


class Http(BaseHTTPRequestHandler):
    processor: Processor

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/healthz":
            self.send_json(200, {"status": "ok"})
        elif self.path == "/stats":
            self.send_json(200, self.processor.stats.snapshot())
        else:
            self.send_json(404, {"error": "not found"})

    def send_json(self, status: int, obj: Any) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def main(cls: type[Processor] = Processor) -> None:
    p = cls()
    Http.processor = p
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Http)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    if cls.handle_sigterm:
        signal.signal(signal.SIGTERM, lambda *_: p.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: p.stopping.set())
    print(f"events: http on :{PORT}", flush=True)
    p.run()
    server.shutdown()
    os._exit(0)  # workers given back already; do not wait for daemon threads


if __name__ == "__main__":
    main()
