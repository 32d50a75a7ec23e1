"""A small HTTP client for checks: every request has one total deadline and a body size cap.

A hostile service may drip bytes, send endless or compressed bodies, or never answer; none of
that may hang the grader or exhaust its memory:

- one deadline covers connect, sending, the status line, the headers and the whole body: every
  socket operation waits only for what is left of it, so a byte every few seconds cannot keep a
  request alive;
- the body is capped *after* decoding: requests ask for ``Accept-Encoding: identity``, and a
  gzip, deflate or br body sent anyway is inflated incrementally and abandoned past the cap;
- the request headers are :data:`DEFAULT_HEADERS`, which the load generator's users
  (:mod:`graders.load.user`) send too, so a service cannot tell checks from load.

Each response remembers its request, so a failure message can say what was sent, what was
expected and what came back. Built on :mod:`http.client` over a socket whose reads honour the
deadline; one keep-alive connection per thread, as the load generator keeps its connections.
"""

from __future__ import annotations

import http.client
import io
import json as jsonlib
import select
import socket
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

from requests.structures import CaseInsensitiveDict

from graders.bounded import Unparseable, load_json
from graders.check_failed import fail

DEFAULT_TIMEOUT_S = 5.0
MAX_BODY_BYTES = 1 << 20
EXCERPT_CHARS = 300
READ_CHUNK = 16384
USER_AGENT = "assess-client/1"
# Sent with every check request and every load request (graders.load.user imports these).
DEFAULT_HEADERS: Mapping[str, str] = MappingProxyType(
    {"User-Agent": USER_AGENT, "Accept": "application/json", "Accept-Encoding": "identity"}
)

T = TypeVar("T")


def excerpt(data: bytes | str | None, limit: int = EXCERPT_CHARS) -> str:
    """Shorten a body for a message, saying how much was cut."""
    if data is None:
        return ""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = text.replace("\n", " ").strip()
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more chars)"


# -- bodies: decode incrementally, cap the decoded size ---------------------------------------
class BodyRejected(Exception):
    """The body cannot be accepted; ``str(exc)`` says why in a few words."""


class BodyTooLarge(BodyRejected):
    def __init__(self, cap: int) -> None:
        super().__init__(f"response body exceeded {cap} bytes (after decoding)")
        self.cap = cap


class BodyReader:
    """Collects one response body, undoing its Content-Encoding, never holding more than the cap.

    ``feed()`` each chunk as it arrives, then ``finish()``; both raise :class:`BodyTooLarge`
    past ``cap`` decoded bytes and :class:`BodyRejected` for a body that cannot be decoded.
    Inflation is bounded per call (zlib's ``max_length``, brotli's ``output_buffer_limit``),
    so a 10 KB gzip bomb costs at most ``cap`` bytes of memory, not gigabytes.
    """

    def __init__(self, content_encoding: str | None, cap: int = MAX_BODY_BYTES) -> None:
        self.cap = cap
        self.size = 0
        self._chunks: list[bytes] = []
        codings = [
            c.strip().lower()
            for c in (content_encoding or "").split(",")
            if c.strip().lower() not in ("", "identity")
        ]
        if len(codings) > 1:
            raise BodyRejected(
                f"stacked Content-Encoding {content_encoding!r}; the request asked for identity"
            )
        self.coding = codings[0] if codings else "identity"
        self._zlib: Any = None
        self._brotli: Any = None
        self._started = False
        if self.coding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self.coding == "deflate":
            self._zlib = zlib.decompressobj()
        elif self.coding == "br":
            try:
                import brotli

                self._brotli = brotli.Decompressor()
                self._brotli.process(b"", output_buffer_limit=1)  # older brotli: TypeError
            except (ImportError, TypeError):
                raise BodyRejected(
                    "Content-Encoding br cannot be decoded safely here; "
                    "the request asked for identity"
                ) from None
        elif self.coding != "identity":
            raise BodyRejected(
                f"unknown Content-Encoding {content_encoding!r}; the request asked for identity"
            )

    def _keep(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.cap:
            self._chunks.clear()
            raise BodyTooLarge(self.cap)
        if data:
            self._chunks.append(data)

    def _room(self) -> int:
        return self.cap - self.size + 1  # one byte past the cap proves the body is too large

    def feed(self, data: bytes) -> None:
        if not data:
            return
        if self._zlib is not None:
            self._feed_zlib(data)
        elif self._brotli is not None:
            self._feed_brotli(data)
        else:
            self._keep(data)

    def _feed_zlib(self, data: bytes) -> None:
        if self._zlib.eof:
            return  # trailing bytes after the stream: ignored, as urllib3 does
        try:
            if not self._started and self.coding == "deflate":
                # "deflate" should be zlib-wrapped; some servers send raw deflate
                probe = zlib.decompressobj()
                try:
                    self._keep(probe.decompress(data, self._room()))
                    self._zlib = probe
                except zlib.error:
                    self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                    self._keep(self._zlib.decompress(data, self._room()))
            else:
                self._keep(self._zlib.decompress(data, self._room()))
            self._started = True
            while self._zlib.unconsumed_tail and not self._zlib.eof:
                self._keep(self._zlib.decompress(self._zlib.unconsumed_tail, self._room()))
        except zlib.error as exc:
            raise BodyRejected(f"invalid {self.coding} body ({exc})") from None

    def _feed_brotli(self, data: bytes) -> None:
        import brotli

        try:
            self._keep(self._brotli.process(data, output_buffer_limit=self._room()))
            while not self._brotli.can_accept_more_data():
                self._keep(self._brotli.process(b"", output_buffer_limit=self._room()))
        except brotli.error as exc:
            raise BodyRejected(f"invalid br body ({exc})") from None

    def finish(self) -> bytes:
        if self._zlib is not None and self._started and not self._zlib.eof:
            raise BodyRejected(f"truncated {self.coding} body")
        if self._brotli is not None and self.size and not self._brotli.is_finished():
            raise BodyRejected("truncated br body")
        return b"".join(self._chunks)


# -- the transport: a socket whose every read and write honours one deadline ----------------
class _Deadline(TimeoutError):
    pass


class _Connection:
    """One keep-alive TCP connection; the shape http.client expects of a socket."""

    def __init__(self, host: str, port: int, deadline: float) -> None:
        self.deadline = deadline
        self.sock = socket.create_connection((host, port), timeout=self.left())
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reusable = True

    def left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _Deadline("deadline reached")
        return left

    def sendall(self, data: bytes) -> None:
        self.sock.settimeout(self.left())  # since 3.5 the timeout bounds the whole sendall
        self.sock.sendall(data)

    def makefile(self, mode: str, *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self), READ_CHUNK)

    def close(self) -> None:
        # http.client calls this when a response says "Connection: close": not reusable, but
        # the response may still be reading from the socket, so the owner closes it after.
        self.reusable = False

    def really_close(self) -> None:
        self.reusable = False
        self.sock.close()

    def __del__(self) -> None:
        # a thread's idle keep-alive connection dies with the thread or the Client: close it
        # here rather than leave the socket to warn (ResourceWarning) when it is collected
        sock = getattr(self, "sock", None)
        if sock is not None:
            sock.close()

    def looks_alive(self) -> bool:
        """An idle keep-alive connection is readable only if the server closed it (or babbles)."""
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable


class _DeadlineReader(io.RawIOBase):
    def __init__(self, conn: _Connection) -> None:
        self.conn = conn

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self.conn.sock.settimeout(self.conn.left())
        return self.conn.sock.recv_into(buffer)


class Response:
    """What came back, plus the request that caused it."""

    def __init__(
        self,
        method: str,
        path: str,
        sent: bytes | None,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        elapsed_s: float,
    ) -> None:
        self.method = method
        self.path = path
        self.sent = sent
        self.status = status
        self.headers: CaseInsensitiveDict[str] = CaseInsensitiveDict(headers)
        self.body = body
        self.elapsed_s = elapsed_s

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def request_line(self) -> str:
        line = f"{self.method} {self.path}"
        if self.sent:
            line += f" with body {excerpt(self.sent, 160)}"
        return line

    def describe(self) -> str:
        got = f"{self.status}"
        ctype = self.headers.get("Content-Type")
        if ctype:
            got += f" ({ctype})"
        if self.body:
            got += f" body {excerpt(self.body)}"
        return f"{self.request_line} -> {got}"

    def json(self) -> Any:
        """The body parsed as JSON; a check fails (not errors) if it is not JSON."""
        try:  # bounded in depth (the size is the client's body cap)
            return load_json(self.body, "the body", max_bytes=max(len(self.body), 1))
        except Unparseable as exc:
            fail(
                f"{self.request_line}: expected a JSON body, got {excerpt(self.body) or 'nothing'}"
                + (f" ({exc})" if "nested" in str(exc) else "")
            )

    def __repr__(self) -> str:
        return f"<Response {self.describe()}>"


class Client:
    """HTTP client bound to one base URL. Thread-safe: one connection per thread."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_body: int = MAX_BODY_BYTES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme != "http" or not parts.hostname:
            fail(f"{base_url}: the check client speaks plain http:// to a host only")
        self._host = parts.hostname
        self._port = parts.port or 80
        self._prefix = parts.path
        self.default_headers = {**DEFAULT_HEADERS, **(headers or {})}
        self.timeout_s = timeout_s
        self.max_body = max_body
        self._local = threading.local()

    def _connection(self, deadline: float) -> _Connection:
        conn: _Connection | None = getattr(self._local, "conn", None)
        if conn is not None and conn.reusable and conn.looks_alive():
            conn.deadline = deadline
            return conn
        if conn is not None:
            conn.really_close()
        conn = _Connection(self._host, self._port, deadline)
        self._local.conn = conn
        return conn

    def _drop_connection(self) -> None:
        conn: _Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.really_close()
            self._local.conn = None

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> Response:
        """Send one request; raise CheckFailed on timeout, refusal, oversize or bad HTTP.

        ``timeout_s`` (default: the client's) bounds the whole exchange, body included.
        """
        deadline_s = timeout_s if timeout_s is not None else self.timeout_s
        all_headers = {**self.default_headers, **(headers or {})}
        body: bytes | None
        if json is not None:
            body = jsonlib.dumps(json).encode()
            if not any(k.lower() == "content-type" for k in all_headers):
                all_headers["Content-Type"] = "application/json"
        elif isinstance(data, str):
            body = data.encode()
        else:
            body = data
        query = urlencode(params, doseq=True) if params else ""
        shown_path = path + (f"?{query}" if query else "")
        target = self._prefix + shown_path
        start = time.monotonic()
        deadline = start + deadline_s
        where = f"{method} {shown_path}"
        done = False
        try:
            conn = self._connection(deadline)
            http_conn = http.client.HTTPConnection(self._host, self._port)
            http_conn.sock = conn  # duck-typed: sendall + makefile is all http.client uses
            http_conn.auto_open = 0
            http_conn.request(method, target, body=body, headers=all_headers)
            raw = http_conn.getresponse()
            reader = BodyReader(raw.getheader("Content-Encoding"), self.max_body)
            while chunk := raw.read1(READ_CHUNK):
                reader.feed(chunk)
            if raw.length:  # http.client's read1 ends quietly at EOF: a short body is an error
                raise http.client.IncompleteRead(b"", raw.length)
            content = reader.finish()
            status = raw.status
            resp_headers: dict[str, str] = {}
            for name, value in raw.getheaders():
                key = next((k for k in resp_headers if k.lower() == name.lower()), name)
                resp_headers[key] = (
                    f"{resp_headers[key]}, {value}" if key in resp_headers else value
                )
            done = not raw.will_close and raw.isclosed()
        except (_Deadline, TimeoutError):
            fail(f"{where}: no response within {deadline_s:g} s (the whole exchange)")
        except BodyTooLarge:
            fail(
                f"{where}: response body exceeded {self.max_body} bytes; the grader stopped reading"
            )
        except BodyRejected as exc:
            fail(f"{where}: invalid response body ({exc})")
        except http.client.RemoteDisconnected:
            fail(f"{where}: the server closed the connection without a response")
        except http.client.HTTPException as exc:
            fail(f"{where}: invalid HTTP response ({type(exc).__name__}: {excerpt(str(exc), 160)})")
        except (OSError, ValueError) as exc:
            fail(f"{where}: connection failed ({type(exc).__name__}: {excerpt(str(exc), 160)})")
        finally:
            if not done:
                self._drop_connection()
        return Response(
            method, shown_path, body, status, resp_headers, content, time.monotonic() - start
        )

    def get(self, path: str, **kw: Any) -> Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Response:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Response:
        return self.request("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> Response:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> Response:
        return self.request("DELETE", path, **kw)


def concurrently(n: int, fn: Callable[[int], T], *, timeout_s: float = 30.0) -> list[T]:
    """Run ``fn(i)`` for i in range(n) on n threads released together by a barrier.

    Returns the results in order. Use it for races: 50 bookings of one desk-day at once.
    Returns by ``timeout_s`` whatever the threads do: if some have not finished, the check
    fails naming how many. Those threads are daemons and are abandoned, never joined (each of
    their requests ends at its own deadline). An exception raised by ``fn`` is re-raised as is.
    """
    if n < 1:
        return []
    deadline = time.monotonic() + timeout_s
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException | None] = [None] * n

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=max(deadline - time.monotonic(), 0.001))
            results[i] = fn(i)
        except BaseException as exc:  # handed to the caller below
            errors[i] = exc

    threads = [
        threading.Thread(target=run, args=(i,), name=f"concurrently-{i}", daemon=True)
        for i in range(n)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(deadline - time.monotonic(), 0.0))
    stuck = sum(t.is_alive() for t in threads)
    if stuck:
        fail(f"{stuck} of {n} concurrent calls did not finish within {timeout_s:g} s")
    for exc in errors:
        if exc is not None and not isinstance(exc, threading.BrokenBarrierError):
            raise exc
    for exc in errors:
        if exc is not None:
            raise exc
    return results
