"""Delivery accounting for publish/subscribe load, from the generator's own record only.

A fan-out load is judged on what the generator itself sent and saw, never on what the service
says about it. The rule (issue 18): every publish the service acknowledged reaches every
subscriber whose subscription was acknowledged before the publish was sent, exactly once, in
the order published, with its payload unchanged; latency runs from the generator's clock when
it sent the publish to its clock when the message arrived.

- :class:`Stream` is one channel's publish record, kept by its one publisher: every payload in
  the order sent, with the generator's send time and whether the service acknowledged it. The
  service's sequence numbers are only checked, never trusted: a publish answer whose seq repeats
  or goes back is a :class:`SequenceError`, and so is a message delivered with a seq other than
  the one its publish was answered with.
- :class:`Subscription` is one subscriber's view of one stream. An acknowledged publish that has
  not arrived is lost when a later one arrived ``gap_grace_s`` ago, when ``deadline_s`` passed
  since its answer, or at the end; arriving later still, it is not counted twice. A message is
  matched to its
  publish by its whole payload (compared as JSON values: key order and ``5`` vs ``5.0`` do not
  matter, any other change does). Payloads carry generator-private random fields, so each one is
  unique and a service cannot make up one it was not given. Nothing in a payload is read as a
  time or a counter.

Each verdict is handed to a ``report(latency_ms, length, error)`` callback (the locustfile fires
it as a Locust request), so this module needs no Locust and is unit-tested on its own. Errors:
:class:`MessageLost` (an acknowledged publish that did not arrive: a gap not filled within the
grace, not here by its deadline, or never received by the end), :class:`MessageDuplicated`, :class:`MessageOutOfOrder`
(arrived after a later one), :class:`MessageCorrupted` (a payload that matches no publish of
the channel), :class:`SequenceError`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DeliveryError",
    "MessageCorrupted",
    "MessageDuplicated",
    "MessageLost",
    "MessageOutOfOrder",
    "Published",
    "SequenceError",
    "Stream",
    "Subscription",
    "payload_key",
]

Report = Callable[[float, int, Exception | None], None]
Clock = Callable[[], float]


class DeliveryError(Exception):
    """A delivery that breaks the rule (the class name is the failure's kind in the results)."""


class MessageLost(DeliveryError):
    pass


class MessageDuplicated(DeliveryError):
    pass


class MessageOutOfOrder(DeliveryError):
    pass


class MessageCorrupted(DeliveryError):
    pass


class SequenceError(DeliveryError):
    pass


def _canonical(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        f = float(value)
        return repr(f) if math.isfinite(f) else str(value)
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return repr(value)


def _fast_key(data: Any) -> str | None:
    """The payload as sent (sorted keys): what an unchanged delivery nearly always matches,
    at a third of payload_key's cost (a generator's CPU is a figure's ceiling)."""
    try:
        return json.dumps(data, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return None


def payload_key(data: Any) -> str:
    """One string per JSON value: equal for values JSON deems equal (key order, ``1`` vs
    ``1.0``), different for any other change."""
    return json.dumps(_canonical(data), sort_keys=True, separators=(",", ":"))


PENDING, ACKED, FAILED = "pending", "acked", "failed"


@dataclass
class Published:
    index: int
    data: Any
    key: str
    sent_at: float
    state: str = PENDING
    seq: int | None = None  # what the publish answer said
    acked_at: float | None = None  # the generator's clock when the answer came
    delivered_seq: int | None = None  # what the first delivery said


@dataclass
class Stream:
    """One channel's publishes, in the order its one publisher sent them."""

    name: str
    clock: Clock = time.monotonic
    records: list[Published] = field(default_factory=list)
    by_key: dict[str, int] = field(default_factory=dict)
    fast_keys: dict[str, int] = field(default_factory=dict)
    last_ack_seq: int | None = None

    def is_unique(self, data: Any) -> bool:
        return payload_key(data) not in self.by_key

    def sent(self, data: Any) -> Published:
        """Record a publish just before it goes out (its message may arrive before its answer)."""
        key = payload_key(data)
        if key in self.by_key:
            raise ValueError(f"{self.name}: a payload published twice cannot be told apart")
        rec = Published(len(self.records), data, key, self.clock())
        self.records.append(rec)
        self.by_key[key] = rec.index
        fast = _fast_key(data)
        if fast is not None:
            self.fast_keys[fast] = rec.index
        return rec

    def find(self, data: Any) -> int | None:
        """The index of the publish whose payload ``data`` is (JSON-equal), if any."""
        fast = _fast_key(data)
        if fast is not None and fast in self.fast_keys:
            return self.fast_keys[fast]
        return self.by_key.get(payload_key(data))

    def acked(self, rec: Published, seq: int) -> SequenceError | None:
        """The service answered the publish with ``seq``; an error if that seq cannot be right."""
        rec.state, rec.seq, rec.acked_at = ACKED, seq, self.clock()
        previous, self.last_ack_seq = self.last_ack_seq, seq
        if previous is not None and seq <= previous:
            return SequenceError(
                f"{self.name}: publish answered seq {seq} after seq {previous} (repeated or "
                "going back: the service's acknowledgement does not match what it stored)"
            )
        if rec.delivered_seq is not None and rec.delivered_seq != seq:
            return SequenceError(
                f"{self.name}: publish answered seq {seq}, its message was delivered with seq "
                f"{rec.delivered_seq}"
            )
        return None

    def failed(self, rec: Published) -> None:
        """No acknowledgement: the message may or may not be delivered; neither is an error."""
        rec.state = FAILED


class Subscription:
    """One subscriber's deliveries of one stream, judged against the stream's record."""

    def __init__(
        self,
        stream: Stream,
        report: Report,
        gap_grace_s: float = 2.0,
        deadline_s: float = 5.0,
    ) -> None:
        self.stream = stream
        self.report = report
        self.gap_grace_s = gap_grace_s
        # an acknowledged publish not here this long after its answer is lost, gap or not (a
        # service that stops delivering leaves no gap to see)
        self.deadline_s = deadline_s
        self.scan_from = 0  # records before it are settled (received, written off, not owed)
        # Publishes recorded from now on were sent after the subscription was acknowledged:
        # each one the service acknowledges must arrive. Earlier ones may or may not.
        self.first_required = len(stream.records)
        self.cursor = 0  # index after the latest publish delivered in order
        self.received: set[int] = set()
        self.missing: dict[int, float] = {}  # index -> give-up time
        self.written_off: set[int] = set()  # counted lost already
        self.last_seq: int | None = None

    def _required(self, index: int) -> bool:
        return index >= self.first_required

    def on_message(self, seq: Any, data: Any, length: int) -> None:
        now = self.stream.clock()
        name = self.stream.name
        if not isinstance(seq, int) or isinstance(seq, bool):
            self.report(0.0, length, MessageCorrupted(f"{name}: a message without an integer seq"))
            return
        index = self.stream.find(data)
        if index is None:
            self.report(
                0.0,
                length,
                MessageCorrupted(f"{name} seq {seq}: a payload that matches no publish"),
            )
            return
        rec = self.stream.records[index]
        latency_ms = max(0.0, (now - rec.sent_at) * 1000)
        error: DeliveryError | None = self._check_seq(rec, seq)
        if index in self.received:
            self.report(latency_ms, length, MessageDuplicated(f"{name} seq {seq}"))
            return
        self.received.add(index)
        if index in self.written_off:
            self.cursor = max(self.cursor, index + 1)
            return  # counted lost when its deadline passed: not counted twice
        if index >= self.cursor:
            give_up = now + self.gap_grace_s
            for skipped in range(self.cursor, index):
                if (
                    self._required(skipped)
                    and self.stream.records[skipped].state != FAILED
                    and skipped not in self.written_off
                    and skipped not in self.received
                ):
                    self.missing[skipped] = give_up
            self.cursor = index + 1
        else:
            # arrived after a later one (a seq going back is the same fault: named as this)
            self.missing.pop(index, None)
            error = MessageOutOfOrder(f"{name} seq {seq}: arrived after a later one")
        self.report(latency_ms, length, error)

    def _check_seq(self, rec: Published, seq: int) -> SequenceError | None:
        name = self.stream.name
        previous, self.last_seq = self.last_seq, seq
        if previous is not None and seq <= previous:
            return SequenceError(f"{name}: delivered seq {seq} after seq {previous}")
        if rec.seq is not None and rec.seq != seq:
            return SequenceError(
                f"{name}: delivered with seq {seq}, its publish was answered with seq {rec.seq}"
            )
        if rec.delivered_seq is None:
            rec.delivered_seq = seq
        elif rec.delivered_seq != seq:
            return SequenceError(
                f"{name}: delivered with seq {seq} here, seq {rec.delivered_seq} to another "
                "subscriber"
            )
        return None

    def expire(self) -> None:
        """Count as lost every gap whose grace ran out (a failed publish is no gap), and every
        acknowledged publish still not here ``deadline_s`` after its answer."""
        now = self.stream.clock()
        for index in [i for i, t in self.missing.items() if t <= now]:
            rec = self.stream.records[index]
            if rec.state == PENDING:
                continue
            del self.missing[index]
            if rec.state == ACKED:
                self._write_off(index, "gap never filled")
        records = self.stream.records
        while self.scan_from < len(records):
            i = self.scan_from
            rec = records[i]
            if i in self.received or i in self.written_off or not self._required(i):
                pass
            elif rec.state == PENDING:
                break
            elif rec.state == ACKED:
                assert rec.acked_at is not None
                if rec.acked_at + self.deadline_s > now:
                    break
                self.missing.pop(i, None)
                self._write_off(i, f"not received within {self.deadline_s:g} s of its answer")
            self.scan_from += 1

    def _write_off(self, index: int, why: str) -> None:
        self.written_off.add(index)
        seq = self.stream.records[index].seq
        self.report(0.0, 0, MessageLost(f"{self.stream.name} seq {seq}: {why}"))

    def outstanding(self) -> list[int]:
        """Acknowledged publishes this subscriber is owed and has not received."""
        records = self.stream.records
        return [
            i
            for i in range(max(self.scan_from, self.first_required), len(records))
            if records[i].state == ACKED and i not in self.received and i not in self.written_off
        ]

    def finish(self) -> None:
        """At the end: every acknowledged publish owed and not received is lost."""
        for index in self.outstanding():
            self._write_off(index, "never received")
        self.missing.clear()
        self.scan_from = len(self.stream.records)
