"""Resume: replay from the bounded history, or an explicit reset when that is too old."""

from __future__ import annotations

import pytest
from conftest import HISTORY_SIZE, publish

from graders import fail


def _publish_n(api, channels, ch: str, n: int) -> dict[int, object]:
    data = {}
    for i in range(n):
        d = channels.tick(i)
        data[publish(api, ch, d)] = d
    return data


def _expect_reset(sub, ch: str, current: int) -> None:
    event = sub.reply("the resume")
    if event.get("type") != "reset" or event.get("channel") != ch or event.get("seq") != current:
        fail(
            f'{sub.name}: expected {{"type": "reset", "channel": "{ch}", "seq": '
            f"{current}}} right after the acknowledgement; got {event}"
        )
    if sub.inbox:
        fail(
            f"{sub.name}: a message arrived between the acknowledgement and the reset: "
            f"{sub.inbox[0]}"
        )


@pytest.mark.critical
@pytest.mark.points(3)
@pytest.mark.skill("resume")
def test_resume_replays_missed_messages(api, channels, connect):
    """Subscribing with last_seq 2 at seq 6 replays 3..6, then live messages follow."""
    ch = channels.new()
    data = _publish_n(api, channels, ch, 6)
    sub = connect()
    if (seq := sub.subscribe(ch, last_seq=2)) != 6:
        fail(f'resumed {ch} at seq 6: expected "seq": 6 in the ack; got {seq}')
    data.update(_publish_n(api, channels, ch, 2))
    sub.expect_messages(ch, 3, 6, data)
    sub.expect_quiet(ch)


@pytest.mark.points(2)
@pytest.mark.skill("resume")
def test_reconnect_and_resume_without_gap(api, channels, connect):
    """A subscriber that reconnects with its last seq gets exactly what it missed."""
    ch = channels.new()
    first = connect(name="first connection")
    first.subscribe(ch)
    data = _publish_n(api, channels, ch, 4)
    first.expect_messages(ch, 1, 4, data)
    first.close()
    data.update(_publish_n(api, channels, ch, 5))
    second = connect(name="second connection")
    second.subscribe(ch, last_seq=4)
    data.update(_publish_n(api, channels, ch, 3))
    second.expect_messages(ch, 5, 8, data)


@pytest.mark.points(1)
@pytest.mark.skill("resume")
def test_resume_at_current_replays_nothing(api, channels, connect):
    """last_seq equal to the current sequence replays nothing; live messages follow."""
    ch = channels.new()
    _publish_n(api, channels, ch, 3)
    sub = connect()
    sub.subscribe(ch, last_seq=3)
    sub.expect_quiet(ch)
    publish(api, ch, channels.tick())
    sub.expect_messages(ch, 4, 1)


@pytest.mark.critical
@pytest.mark.points(3)
@pytest.mark.skill("resume")
def test_resume_too_old_gets_reset(api, channels, connect):
    """last_seq older than the history: a reset with the current seq, no replay, then live."""
    ch = channels.new()
    total = HISTORY_SIZE + 10
    _publish_n(api, channels, ch, total)
    sub = connect()
    sub.subscribe(ch, last_seq=5)
    _expect_reset(sub, ch, total)
    publish(api, ch, channels.tick())
    sub.expect_messages(ch, total + 1, 1)


@pytest.mark.hidden
@pytest.mark.points(2)
@pytest.mark.skill("resume")
def test_resume_at_history_edge(api, channels, connect):
    """last_seq = C - HISTORY_SIZE replays the whole history; one older gets a reset."""
    ch = channels.new()
    total = HISTORY_SIZE + 3
    data = _publish_n(api, channels, ch, total)
    sub = connect(name="subscriber at the edge")
    sub.subscribe(ch, last_seq=total - HISTORY_SIZE)
    sub.expect_messages(ch, total - HISTORY_SIZE + 1, HISTORY_SIZE, data)
    older = connect(name="subscriber past the edge")
    older.subscribe(ch, last_seq=total - HISTORY_SIZE - 1)
    _expect_reset(older, ch, total)


@pytest.mark.hidden
@pytest.mark.points(1)
@pytest.mark.skill("resume")
def test_resume_ahead_of_channel_gets_reset(api, channels, connect):
    """last_seq greater than the current sequence gets a reset."""
    ch = channels.new()
    _publish_n(api, channels, ch, 2)
    sub = connect()
    sub.subscribe(ch, last_seq=50)
    _expect_reset(sub, ch, 2)
    publish(api, ch, channels.tick())
    sub.expect_messages(ch, 3, 1)
