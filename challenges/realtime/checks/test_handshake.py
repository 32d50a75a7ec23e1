"""The WebSocket endpoint: valid upgrades answer 101, invalid ones a 4xx; GET /healthz."""

from __future__ import annotations

import base64
import os

import pytest

from graders import expect, fail
from graders.ws import handshake_answer


def _key() -> str:
    return base64.b64encode(os.urandom(16)).decode()


def _expect_4xx(service_url: str, headers: dict[str, str], what: str) -> None:
    status, _ = handshake_answer(service_url, "/ws", headers)
    if not 400 <= status <= 499:
        fail(f"GET /ws {what}: expected a 4xx status and no upgrade; got status {status}")


@pytest.mark.points(1)
@pytest.mark.skill("websockets")
def test_healthz_ok(api):
    """GET /healthz answers 200."""
    expect(api.get("/healthz")).status(200)


@pytest.mark.points(2)
@pytest.mark.skill("websockets")
def test_upgrade_answers_101(connect):
    """GET /ws with a valid upgrade answers 101 with the right Sec-WebSocket-Accept."""
    sub = connect()
    sub.ws.ping(b"hello")


@pytest.mark.points(1)
@pytest.mark.skill("websockets")
def test_plain_get_ws_is_4xx(service_url):
    """GET /ws without upgrade headers answers a 4xx, not 101."""
    _expect_4xx(service_url, {"Connection": "close"}, "without Upgrade headers")


@pytest.mark.hidden
@pytest.mark.points(1)
@pytest.mark.skill("websockets")
def test_wrong_version_is_4xx(service_url):
    """An upgrade with Sec-WebSocket-Version 7 answers a 4xx, not 101."""
    _expect_4xx(
        service_url,
        {
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": _key(),
            "Sec-WebSocket-Version": "7",
        },
        "with Sec-WebSocket-Version: 7",
    )


@pytest.mark.hidden
@pytest.mark.points(1)
@pytest.mark.skill("websockets")
def test_missing_key_is_4xx(service_url):
    """An upgrade without Sec-WebSocket-Key answers a 4xx, not 101."""
    _expect_4xx(
        service_url,
        {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"},
        "without Sec-WebSocket-Key",
    )
