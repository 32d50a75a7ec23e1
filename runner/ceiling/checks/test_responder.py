"""The responder answers: otherwise the ceiling measured would be nobody's."""

from __future__ import annotations

from graders.http import Client


def test_health(api: Client) -> None:
    assert api.get("/healthz").status == 200
