"""Failed load requests grouped by request name, exception and message, like Locust's failures
table: how many, and the first message as it came. Pure (no gevent): the load generator's
windows use it, and tests import it alone.

The message may carry the service's words (a locustfile quoting a body, an HTTP reason): each is
one line, control characters dropped, capped; numbers are masked in the key so "order 41
missing" and "order 7 missing" are one group; at most MAX_GROUPS keys, the rest share a bucket.
"""

from __future__ import annotations

import re
from typing import Any

from graders.protocol import FailureGroup

MAX_GROUPS = 50
NAME_CHARS = 120
MESSAGE_CHARS = 200
OTHER_MESSAGES = "(other messages)"
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def clean_message(exception: Any) -> str:
    """A failure's message as one capped line."""
    text = exception if isinstance(exception, str) else str(exception)
    return _CONTROL.sub(" ", text)[:MESSAGE_CHARS].strip()


def mask(message: str) -> str:
    """The message with its numbers masked (the grouping key)."""
    return _NUMBER.sub("#", clean_message(message))


class FailureGroups:
    """(name, kind, masked message) -> [count, first message]."""

    def __init__(self) -> None:
        self.groups: dict[tuple[str, str, str], list[Any]] = {}

    def add(self, name: str, kind: str, message: str, n: int = 1) -> None:
        example = clean_message(message)
        key = (name[:NAME_CHARS], kind[:NAME_CHARS], mask(example))
        if key not in self.groups and len(self.groups) >= MAX_GROUPS:
            key = (key[0], key[1], OTHER_MESSAGES)
        entry = self.groups.setdefault(key, [0, example])
        entry[0] += n

    def merge(self, other: FailureGroups) -> None:
        for (name, kind, _), (n, example) in other.groups.items():
            self.add(name, kind, example, n)

    def to_wire(self) -> list[list[Any]]:
        return [[k[0], k[1], v[0], v[1]] for k, v in self.groups.items()]

    @classmethod
    def from_wire(cls, rows: Any) -> FailureGroups:
        out = cls()
        for name, kind, n, example in list(rows or [])[: 2 * MAX_GROUPS]:
            out.add(str(name), str(kind), str(example), max(0, int(n)))
        return out

    def result(self) -> tuple[FailureGroup, ...]:
        """Most frequent first."""
        return tuple(
            FailureGroup(name=k[0], kind=k[1], message=k[2], count=v[0], example=v[1])
            for k, v in sorted(self.groups.items(), key=lambda kv: (-kv[1][0], kv[0]))
        )
