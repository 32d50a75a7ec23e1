"""A check that fails: the one exception every check helper raises, and the way to raise it.

Its own module so the HTTP and WebSocket clients can fail a check without importing the
assertions built on top of them (:mod:`graders.expect` re-exports both names).
"""

from __future__ import annotations

from typing import NoReturn


class CheckFailed(AssertionError):
    """A check's expectation was not met; the message is shown to the candidate as is."""


def fail(message: str) -> NoReturn:
    raise CheckFailed(message)
