"""The base Locust user for challenge locustfiles: check-identical requests, capped answers.

Every load request goes out with the check client's headers (:data:`graders.http.DEFAULT_HEADERS`:
the same User-Agent, ``Accept``, ``Accept-Encoding: identity``), so a service cannot answer load
differently from checks. Every answer is read through :class:`graders.http.BodyReader`: a body
over :attr:`LoadUser.max_body` bytes *after decoding* (a gzip bomb, megabytes of padding) is a
failed request, never a grown generator. One total deadline (:attr:`LoadUser.request_timeout_s`,
a ``gevent.Timeout``) covers connect, headers and body, so a dripping service cannot hold a
user. A request that failed for either reason stays failed: a task's ``resp.success()`` (for
example on an expected 409) cannot turn it into a success.

A locustfile subclasses :class:`LoadUser` instead of ``locust.FastHttpUser``::

    from locust import task
    from graders.load.user import LoadUser

    class DeskBookingUser(LoadUser):
        @task
        def read_desk(self) -> None:
            with self.client.get("/desks/1", name="GET /desks/:id", catch_response=True) as resp:
                desk = self.json_or_fail(resp, "read desk")
                if desk is not None and desk.get("id") != "1":
                    resp.failure("read desk: wrong id")

``json_or_fail(resp, what)`` returns the parsed body, or ``None`` after marking the request
failed (a request that already failed keeps its own reason). ``stream=True`` is refused: it
would bypass the cap. Runs under gevent only (import it in the load process, after
``monkey.patch_all()``), as every ``FastHttpUser`` does.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, ClassVar

import gevent
from locust import FastHttpUser
from locust.contrib.fasthttp import FastHttpSession, FastResponse, ResponseContextManager
from locust.exception import LocustError

from graders.bounded import Unparseable, load_json
from graders.http import (
    DEFAULT_HEADERS,
    DEFAULT_TIMEOUT_S,
    MAX_BODY_BYTES,
    READ_CHUNK,
    BodyReader,
    BodyRejected,
    excerpt,
)

__all__ = ["LoadResponseError", "LoadUser", "RequestDeadline"]


class LoadResponseError(OSError):
    """An answer the generator refused (over the cap, undecodable).

    An ``OSError`` because Locust counts exactly its listed transport errors (``socket.error``
    among them) as failed requests; anything else would escape the request and kill the task.
    """


class RequestDeadline(LoadResponseError, TimeoutError):
    """The whole exchange did not finish within the request's deadline."""


class _CappedResponse(FastResponse):
    """Reads the body in chunks through BodyReader instead of all at once."""

    max_body: ClassVar[int] = MAX_BODY_BYTES

    def _content(self) -> bytes | None:  # type: ignore[override]
        if self.headers is None or self._response is None:
            return None
        try:
            reader = BodyReader(", ".join(self.headers.getlist("content-encoding")), self.max_body)
            while chunk := self._response.read(READ_CHUNK):
                reader.feed(chunk)
            body = reader.finish()
        except BodyRejected as exc:
            self.release()  # the body was not read to its end: the connection is closed, not pooled
            raise LoadResponseError(str(exc)) from None
        self.release()
        return body


class _StickyFailure(ResponseContextManager):
    """A request that failed on the cap or the deadline: the task cannot overrule that."""

    def success(self) -> None:
        pass

    def failure(self, exc: Any) -> None:
        pass


class _CappedSession(FastHttpSession):
    deadline_s: float = DEFAULT_TIMEOUT_S

    def _send_request_safe_mode(self, method: str, url: str, **kwargs: Any) -> FastResponse:
        resp = super()._send_request_safe_mode(method, url, **kwargs)
        # geventhttpclient wraps a timeout in RetriesExceeded(original=...): report our reason
        original = getattr(getattr(resp, "error", None), "original", None)
        if isinstance(original, LoadResponseError):
            resp.error = original  # type: ignore[attr-defined]  # Locust sets it the same way
        return resp

    def request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        name: str | None = None,
        data: Any = None,
        catch_response: bool = False,
        stream: bool = False,
        headers: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        if stream:
            raise LocustError("stream=True would bypass the response size cap; read resp.content")
        merged = {**DEFAULT_HEADERS, **(headers or {})}
        deadline = RequestDeadline(
            f"{method} {name or url}: no response within {self.deadline_s:g} s (the whole exchange)"
        )
        timer = gevent.Timeout(self.deadline_s, deadline)
        timer.start()
        try:
            resp = super().request(
                method,
                url,
                name=name,
                data=data,
                catch_response=catch_response,
                headers=merged,
                **kwargs,
            )
        finally:
            timer.close()
        if isinstance(resp, ResponseContextManager) and isinstance(
            resp.request_meta.get("exception"), LoadResponseError
        ):
            resp.__class__ = _StickyFailure
            resp._cached_content = b""
        return resp


class LoadUser(FastHttpUser):
    """Base class of every challenge's load user (see the module docstring)."""

    abstract = True
    max_body: int = MAX_BODY_BYTES
    request_timeout_s: float = DEFAULT_TIMEOUT_S
    # geventhttpclient's own per-operation timeouts: never longer than the total deadline
    network_timeout = DEFAULT_TIMEOUT_S
    connection_timeout = DEFAULT_TIMEOUT_S
    default_headers: ClassVar[dict[str, str]] = dict(DEFAULT_HEADERS)  # type: ignore[misc]

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        # FastHttpUser builds its session itself; re-typing it keeps all of Locust's set-up
        # (pool, cookies, base URL) and adds the deadline and the cap to every request.
        session = self.client
        session.__class__ = _CappedSession
        assert isinstance(session, _CappedSession)
        session.deadline_s = self.request_timeout_s
        capped: type[FastResponse] = type(
            "CappedResponse", (_CappedResponse,), {"max_body": self.max_body}
        )
        session.client.response_type = capped  # type: ignore[misc]  # per session, on purpose

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A locustfile's own ``on_stop`` still ends with the connections closed."""
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("on_stop")
        if own is not None and not getattr(own, "_assess_closes", False):

            @functools.wraps(own)
            def on_stop(self: LoadUser) -> None:
                try:
                    own(self)
                finally:
                    self.close_connections()

            on_stop._assess_closes = True  # type: ignore[attr-defined]
            cls.on_stop = on_stop  # type: ignore[method-assign]

    def on_stop(self) -> None:
        self.close_connections()

    on_stop._assess_closes = True  # type: ignore[attr-defined]

    def close_connections(self) -> None:
        """Close this user's keep-alive connections: a stopped user must not hold them.

        Locust stops users when a stage needs fewer; left open, their idle connections pin the
        service's resources (a thread each in a thread-per-connection server, whose 256 pids
        then serve ghosts: the rest-api reference fell from 4,000 to 1,500 req/s after one
        stage of 800 users and stayed there)."""
        with contextlib.suppress(Exception):
            self.client.client.close()

    def json_or_fail(self, resp: Any, what: str = "") -> Any:
        """The body parsed as JSON, or None after marking ``resp`` failed.

        ``resp`` comes from a request made with ``catch_response=True``. A request that
        already failed on the transport, the cap or the deadline keeps its own reason.
        """
        label = what or str(resp.request_meta.get("name", ""))
        content = resp.content
        if isinstance(resp, _StickyFailure) or content is None:
            if not isinstance(resp, _StickyFailure) and resp.request_meta.get("exception") is None:
                resp.failure(f"{label}: no response body")
            return None
        try:  # bounded in depth (the size is the client's body cap)
            return load_json(content, "the body", max_bytes=max(len(content), 1))
        except Unparseable:
            resp.failure(f"{label}: expected a JSON body, got {excerpt(content, 120) or 'nothing'}")
            return None
