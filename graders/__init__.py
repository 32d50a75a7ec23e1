"""The public check API that challenges import.

A check is a pytest test in ``challenges/<id>/checks/``. It talks to the candidate's service
through the ``api`` fixture (a :class:`Client`), asserts with :func:`expect` / :func:`fail`, and
is described by markers::

    import pytest
    from graders import expect

    @pytest.mark.points(2)
    @pytest.mark.skill("rest")
    def test_create_desk_returns_201(api):
        '''Creating a desk answers 201 with a Location header.'''
        r = api.post("/desks", json={"name": "A-1", "floor": 1})
        expect(r).status(201).header("Location")

Markers: ``points(n)`` (default from challenge.toml), ``skill(name)``, ``hidden`` (not shown or
run for candidates), ``after_load`` (runs after the load phase). The check id is the test
function's name without ``test_``; its title is the first line of the docstring.

Fixtures: ``api`` (client for the service), ``service_url``, ``sidecars`` (name -> control
client, already authorised), ``seed`` (the run's random seed).
"""

from __future__ import annotations

from graders.expect import CheckFailed, Expectation, expect, fail
from graders.http import Client, Response, concurrently
from graders.ws import WebSocket
from graders.ws import connect as ws_connect

__all__ = [
    "CheckFailed",
    "Client",
    "Expectation",
    "Response",
    "WebSocket",
    "concurrently",
    "expect",
    "fail",
    "ws_connect",
]
