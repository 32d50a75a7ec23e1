"""The responder answers: otherwise the ceiling measured would be nobody's."""

from __future__ import annotations

import pytest

from graders.http import Client


@pytest.mark.skill("http")
def test_health(api: Client) -> None:
    assert api.get("/healthz").status == 200
