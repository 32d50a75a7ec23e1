"""Delivery accounting (graders.load.delivery): every figure from the generator's own record.

Each test plays one trick a hostile service could play and shows the verdict the generator
reaches from what it sent and saw, whatever the service's seqs and echoed fields say."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from graders.load.delivery import (
    MessageCorrupted,
    MessageDuplicated,
    MessageLost,
    MessageOutOfOrder,
    SequenceError,
    Stream,
    Subscription,
    payload_key,
)
from graders.names import UniqueNames


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


Verdicts = list[tuple[float, Exception | None]]


def setup(n_before: int = 0) -> tuple[Clock, Stream, Subscription, Verdicts]:
    clock = Clock()
    stream = Stream("ticker.BTC-USD.abc1231", clock)
    for k in range(n_before):
        stream.acked(stream.sent(tick(-k - 1)), k + 1)
    verdicts: Verdicts = []
    sub = Subscription(stream, lambda ms, _n, exc: verdicts.append((ms, exc)), gap_grace_s=2.0)
    return clock, stream, sub, verdicts


def tick(i: int) -> dict[str, Any]:
    return {"i": i, "price": 100.5 + i, "size": 0.25, "side": "buy", "ts": 1.0e9 + i}


def kinds(verdicts: Verdicts) -> list[str | None]:
    return [None if exc is None else type(exc).__name__ for _, exc in verdicts]


def publish(stream: Stream, i: int, seq: int | None) -> Any:
    rec = stream.sent(tick(i))
    if seq is not None:
        assert stream.acked(rec, seq) is None
    return rec


def test_an_honest_service_is_all_successes_with_the_generators_latency() -> None:
    clock, stream, sub, verdicts = setup(n_before=3)
    for i in range(5):
        publish(stream, i, 4 + i)
    clock.t += 0.040
    for i in range(5):
        sub.on_message(4 + i, tick(i), 10)
    sub.finish()
    assert kinds(verdicts) == [None] * 5
    assert all(ms == pytest.approx(40.0) for ms, _ in verdicts)
    assert sub.outstanding() == []


def test_acknowledged_but_never_delivered_is_lost_whatever_the_seqs_say() -> None:
    """The service answers 200 with seqs that hide the drop (the same seq twice) and never
    delivers the message: the generator's record counts it lost, and the seq repeat is an error."""
    _, stream, sub, verdicts = setup()
    publish(stream, 1, 1)
    dropped = stream.sent(tick(2))
    assert isinstance(stream.acked(dropped, 1), SequenceError)  # repeated seq in the answer
    publish(stream, 3, 2)
    sub.on_message(1, tick(1), 10)
    sub.on_message(2, tick(3), 10)  # seqs run on without a gap: the service's story is clean
    sub.finish()
    assert kinds(verdicts) == [None, None, "MessageLost"]


def test_a_gap_not_filled_within_the_grace_is_lost_at_once() -> None:
    clock, stream, sub, verdicts = setup()
    for i in range(3):
        publish(stream, i, i + 1)
    sub.on_message(1, tick(0), 1)
    sub.on_message(3, tick(2), 1)
    sub.expire()
    assert kinds(verdicts) == [None, None]
    clock.t += 2.5
    sub.expire()
    assert kinds(verdicts) == [None, None, "MessageLost"]
    sub.on_message(2, tick(1), 1)  # too late: already counted, not counted twice
    sub.finish()
    assert kinds(verdicts) == [None, None, "MessageLost"]


def test_a_service_that_stops_delivering_loses_messages_by_their_deadline() -> None:
    """No later message, so no gap: each acknowledged publish not here deadline_s after its
    answer is lost then, during the run (not only at the end); a late arrival is not counted
    twice."""
    clock, stream, sub, verdicts = setup()
    for i in range(3):
        publish(stream, i, i + 1)
    clock.t += 4.9
    sub.expire()
    assert verdicts == []  # slow is not lost
    clock.t += 0.2
    sub.expire()
    assert kinds(verdicts) == ["MessageLost"] * 3
    sub.on_message(1, tick(0), 1)
    sub.finish()
    assert kinds(verdicts) == ["MessageLost"] * 3


def test_late_within_the_grace_is_out_of_order() -> None:
    _, stream, sub, verdicts = setup()
    for i in range(3):
        publish(stream, i, i + 1)
    sub.on_message(1, tick(0), 1)
    sub.on_message(3, tick(2), 1)  # the third before the second
    sub.on_message(2, tick(1), 1)
    sub.finish()
    assert kinds(verdicts) == [None, None, "MessageOutOfOrder"]


def test_plausible_seqs_on_swapped_payloads_are_caught() -> None:
    """Seqs that run on cleanly while the payloads come swapped: the seqs do not match the
    publishes' answers (and the payload order is out of order)."""
    _, stream, sub, verdicts = setup()
    for i in range(3):
        publish(stream, i, i + 1)
    sub.on_message(1, tick(0), 1)
    sub.on_message(2, tick(2), 1)
    sub.on_message(3, tick(1), 1)
    assert kinds(verdicts) == [None, "SequenceError", "MessageOutOfOrder"]


def test_a_repeat_is_a_duplicate() -> None:
    _, stream, sub, verdicts = setup()
    publish(stream, 0, 1)
    sub.on_message(1, tick(0), 1)
    sub.on_message(2, tick(0), 1)  # the same payload again under a fresh seq
    assert kinds(verdicts) == [None, "MessageDuplicated"]


def test_a_rewritten_field_matches_no_publish_and_the_original_is_lost() -> None:
    """A service that stamps its own ``ts`` (to fake low latency) or rewrites ``i`` delivers
    a payload nobody published: corrupted, and the real message never arrived."""
    clock, stream, sub, verdicts = setup()
    publish(stream, 0, 1)
    clock.t += 0.9
    sub.on_message(1, {**tick(0), "ts": 1.0e9 + 0.899}, 1)
    sub.on_message(1, {**tick(0), "i": -1}, 1)
    sub.finish()
    assert kinds(verdicts) == ["MessageCorrupted", "MessageCorrupted", "MessageLost"]


def test_json_equal_payloads_match() -> None:
    """Formatting, key order and 5 vs 5.0 are not changes (the brief: the same JSON value)."""
    assert payload_key({"a": 5.0, "b": [1, {"c": None}]}) == payload_key(
        {"b": [1.0, {"c": None}], "a": 5}
    )
    assert payload_key({"a": 5}) != payload_key({"a": 5.5})
    assert payload_key({"a": True}) != payload_key({"a": 1})
    assert payload_key({"a": "5"}) != payload_key({"a": 5})


def test_a_reencoded_payload_matches_its_publish() -> None:
    """A service in another language may write 5.0 as 5 and reorder keys: still the same."""
    _, stream, sub, verdicts = setup()
    stream.acked(stream.sent({"i": 1, "price": 5.0, "side": "buy"}), 1)
    sub.on_message(1, {"side": "buy", "price": 5, "i": 1.0}, 1)
    assert kinds(verdicts) == [None]


def test_seqs_must_increase_and_match_the_answer() -> None:
    _, stream, sub, verdicts = setup()
    publish(stream, 0, 7)
    publish(stream, 1, 8)
    sub.on_message(9, tick(0), 1)  # not the seq its publish was answered with
    sub.on_message(9, tick(1), 1)  # repeated
    assert kinds(verdicts) == ["SequenceError", "SequenceError"]


def test_delivery_before_the_answer_is_checked_when_the_answer_comes() -> None:
    _, stream, sub, verdicts = setup()
    rec = stream.sent(tick(0))
    sub.on_message(5, tick(0), 1)  # the message can outrun the publish answer
    assert kinds(verdicts) == [None]
    assert isinstance(stream.acked(rec, 6), SequenceError)


def test_publishes_before_the_subscription_are_not_owed() -> None:
    _, stream, sub, verdicts = setup(n_before=4)
    publish(stream, 0, 5)
    sub.on_message(5, tick(0), 1)
    sub.finish()
    assert kinds(verdicts) == [None]


def test_an_unacknowledged_publish_is_not_owed() -> None:
    clock, stream, sub, verdicts = setup()
    publish(stream, 0, 1)
    stream.failed(stream.sent(tick(1)))  # a 500 or a timeout: may or may not be delivered
    publish(stream, 2, 3)
    sub.on_message(1, tick(0), 1)
    sub.on_message(3, tick(2), 1)
    clock.t += 5
    sub.expire()
    sub.finish()
    assert kinds(verdicts) == [None, None]


def test_a_payload_published_twice_is_refused_at_the_source() -> None:
    stream = Stream("x")
    stream.sent(tick(0))
    with pytest.raises(ValueError, match="twice"):
        stream.sent(tick(0))


def test_error_kinds_are_distinct_classes() -> None:
    names = {c.__name__ for c in (MessageLost, MessageDuplicated, MessageOutOfOrder)}
    names |= {MessageCorrupted.__name__, SequenceError.__name__}
    assert len(names) == 5


def test_load_and_check_channel_names_have_one_shape() -> None:
    """The realtime load profile names its channels with the checks' template and choices."""
    import ast
    import re

    from tests.conftest import ROOT

    rt = ROOT / "challenges" / "realtime"

    def constants(path: Any) -> dict[str, Any]:
        out = {}
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                with contextlib.suppress(ValueError):
                    out[node.targets[0].id] = ast.literal_eval(node.value)
        return out

    load = constants(rt / "load" / "locustfile.py")
    checks = constants(rt / "checks" / "conftest.py")
    for key in ("NAME_TEMPLATE", "PAIRS", "KINDS"):
        assert load[key] == checks[key], key
    shape = re.compile(r"^(ticker|trades|book)\.[A-Z]{3}-[A-Z]{3}\.[a-z0-9]{6}[0-9]+$")
    gen = UniqueNames(load["NAME_TEMPLATE"], kind=load["KINDS"], pair=load["PAIRS"])
    assert all(shape.match(gen.new()) for _ in range(500))
    assert len({UniqueNames("{tag}").new() for _ in range(50)}) == 50
