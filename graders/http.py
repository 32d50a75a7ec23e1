"""A small HTTP client for checks: every request has a total deadline and a body size cap.

A hostile service may drip bytes, send endless bodies or never answer; none of that may hang
the grader. Each response remembers its request, so a failure message can say what was sent,
what was expected and what came back.
"""

from __future__ import annotations

import json as jsonlib
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import requests
import urllib3.exceptions
from requests.structures import CaseInsensitiveDict

DEFAULT_TIMEOUT_S = 5.0
MAX_BODY_BYTES = 1 << 20
EXCERPT_CHARS = 300

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
        from graders.expect import fail

        try:
            return jsonlib.loads(self.body)
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            fail(
                f"{self.request_line}: expected a JSON body, got {excerpt(self.body) or 'nothing'}"
            )

    def __repr__(self) -> str:
        return f"<Response {self.describe()}>"


class Client:
    """HTTP client bound to one base URL. Thread-safe: one session per thread."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_body: int = MAX_BODY_BYTES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.default_headers = dict(headers or {})
        self.timeout_s = timeout_s
        self.max_body = max_body
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # never route check traffic through a proxy
            self._local.session = session
        return session

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
        """Send one request; raise CheckFailed on timeout, refusal, oversize or bad HTTP."""
        from graders.expect import fail

        deadline_s = timeout_s if timeout_s is not None else self.timeout_s
        all_headers = {**self.default_headers, **(headers or {})}
        body: bytes | None
        if json is not None:
            body = jsonlib.dumps(json).encode()
            all_headers.setdefault("Content-Type", "application/json")
        elif isinstance(data, str):
            body = data.encode()
        else:
            body = data
        shown_path = path
        if params:
            shown_path += "?" + "&".join(f"{k}={v}" for k, v in params.items())
        start = time.monotonic()
        try:
            with self._session().request(
                method,
                self.base_url + path,
                data=body,
                headers=all_headers,
                params=params,
                timeout=(deadline_s, deadline_s),
                stream=True,
                allow_redirects=False,
            ) as raw:
                chunks: list[bytes] = []
                size = 0
                while True:
                    # read1 returns what has arrived (stream() would wait for 16 KiB): a
                    # dripping body meets the deadline check below after every byte.
                    chunk = raw.raw.read1(16384, decode_content=True)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > self.max_body:
                        fail(
                            f"{method} {shown_path}: response body exceeded "
                            f"{self.max_body} bytes; the grader stopped reading"
                        )
                    if time.monotonic() - start > deadline_s:
                        fail(f"{method} {shown_path}: response took longer than {deadline_s:g} s")
                    chunks.append(chunk)
                status, resp_headers = raw.status_code, dict(raw.headers)
        except (requests.Timeout, urllib3.exceptions.TimeoutError):
            fail(f"{method} {shown_path}: no response within {deadline_s:g} s")
        except urllib3.exceptions.HTTPError as exc:  # raised by the raw body reads
            fail(f"{method} {shown_path}: invalid HTTP response ({excerpt(str(exc), 160)})")
        except requests.ConnectionError as exc:
            fail(
                f"{method} {shown_path}: connection failed ({type(exc).__name__}: {excerpt(str(exc), 160)})"
            )
        except requests.RequestException as exc:
            fail(f"{method} {shown_path}: invalid HTTP response ({excerpt(str(exc), 160)})")
        return Response(
            method,
            shown_path,
            body,
            status,
            resp_headers,
            b"".join(chunks),
            time.monotonic() - start,
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
    """
    barrier = threading.Barrier(n)

    def run(i: int) -> T:
        barrier.wait(timeout=timeout_s)
        return fn(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        futures = [pool.submit(run, i) for i in range(n)]
        return [f.result(timeout=timeout_s) for f in futures]
