"""Assertions for checks whose failure messages a candidate can act on.

``expect(response).status(201).header("Location")`` fails with what was sent, what was expected
and what came back, truncated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from graders.check_failed import CheckFailed, fail

if TYPE_CHECKING:
    from graders.http import Response

__all__ = ["CheckFailed", "Expectation", "expect", "fail"]


class Expectation:
    """Chainable expectations about one response."""

    def __init__(self, response: Response) -> None:
        self.r = response

    def _fail(self, expected: str) -> NoReturn:
        fail(
            f"{self.r.request_line}: expected {expected}; got {self.r.describe().split(' -> ', 1)[1]}"
        )

    def status(self, *codes: int) -> Expectation:
        if self.r.status not in codes:
            self._fail("status " + " or ".join(str(c) for c in codes))
        return self

    def header(
        self, name: str, value: str | None = None, *, contains: str | None = None
    ) -> Expectation:
        got = self.r.headers.get(name)
        if got is None:
            self._fail(f"the {name} header")
        if value is not None and got.strip() != value:
            self._fail(f"{name}: {value} (header was {got!r})")
        if contains is not None and contains.lower() not in got.lower():
            self._fail(f"{name} containing {contains!r} (header was {got!r})")
        return self

    def no_header(self, name: str) -> Expectation:
        if name in self.r.headers:
            self._fail(f"no {name} header (it was {self.r.headers[name]!r})")
        return self

    def content_type(self, media_type: str) -> Expectation:
        got = self.r.headers.get("Content-Type", "")
        if got.split(";")[0].strip().lower() != media_type.lower():
            self._fail(f"Content-Type {media_type} (it was {got or 'missing'!r})")
        return self

    def json_field(self, key: str, value: Any = ..., *, of_type: type | None = None) -> Expectation:
        """The JSON body is an object holding ``key`` (equal to ``value`` if given)."""
        body = self.r.json()
        if not isinstance(body, dict) or key not in body:
            self._fail(f"a JSON object with field {key!r}")
        if value is not ... and body[key] != value:
            self._fail(f"field {key!r} == {value!r} (it was {body[key]!r})")
        if of_type is not None and not isinstance(body[key], of_type):
            self._fail(f"field {key!r} of type {of_type.__name__} (it was {body[key]!r})")
        return self

    def problem(self, status: int) -> Expectation:
        """An RFC 9457 problem response: the status, its media type, and a JSON object body."""
        self.status(status).content_type("application/problem+json")
        if not isinstance(self.r.json(), dict):
            self._fail("a JSON object problem body")
        return self


def expect(response: Response) -> Expectation:
    return Expectation(response)
