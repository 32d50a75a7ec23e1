"""What every challenge sidecar shares: a small, bounded HTTP/1.1 server and a control token.

Sidecars (the cache's upstream, the monitoring challenge's inventory) run inside the pod, where
the candidate's service can reach every port; whatever they parse comes from it. So the server
caps the request head (``MAX_HEAD_BYTES``, through the stream reader's limit) and body
(``MAX_BODY_BYTES``), bounds open connections per port and the time to deliver a request
(``idle_timeout_s``), never quotes request data in its errors or logs (a token could be in it),
and compares the control token in constant time. Standard library only: the sidecar's container
gets this package copied next to its own files (``runner.grading.pipeline.sidecar_archive``).

A sidecar supplies two handlers, ``async (Request) -> Reply``, for its public and control
ports, and calls :func:`run`; a handler raises :class:`HttpError` for a problem+json answer or
:class:`NoAnswer` to close the connection without one (an injected hang).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024
CONTROL_MAX_CONNECTIONS = 64

REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    304: "Not Modified",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def env_int(name: str, default: int, who: str = "sidecar") -> int:
    raw = os.environ.get(name, "").strip()
    try:
        return int(raw) if raw else default
    except ValueError:
        sys.exit(f"{who}: {name} must be an integer, got {raw!r}")


def env_float(name: str, default: float, who: str = "sidecar") -> float:
    raw = os.environ.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError:
        sys.exit(f"{who}: {name} must be a number, got {raw!r}")


class NoAnswer(Exception):
    """Close the connection without answering (an injected hang)."""


class HttpError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass
class Request:
    method: str
    path: str
    version: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested absurdly deep
            raise HttpError(400, f"body is not JSON: {exc}") from None


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str | None = None


Handler = Callable[[Request], Awaitable[Reply]]


def json_reply(status: int, obj: Any, headers: list[tuple[str, str]] | None = None) -> Reply:
    return Reply(status, json.dumps(obj).encode(), headers or [], "application/json")


def problem(status: int, detail: str) -> Reply:
    body = {
        "type": "about:blank",
        "title": REASONS.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    return Reply(status, json.dumps(body).encode(), [], "application/problem+json")


class Token:
    """The control credential, compared in constant time (a wrong token of any length costs
    the same as the right one); an empty token authorises nothing."""

    def __init__(self, token: str) -> None:
        self.token = token
        self._digest = hashlib.sha256(f"Bearer {token}".encode()).digest()

    def authorizes(self, header: str) -> bool:
        got = hashlib.sha256(header.encode("utf-8", "surrogateescape")).digest()
        return hmac.compare_digest(got, self._digest) and bool(self.token)


# -- HTTP/1.1 plumbing ------------------------------------------------------------------------
async def read_request(
    reader: asyncio.StreamReader, max_body: int = MAX_BODY_BYTES
) -> Request | None:
    """One request, or None when the peer closed the connection between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise HttpError(400, "incomplete request head") from None
        return None
    except asyncio.LimitOverrunError:
        raise HttpError(431, "request head too large") from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HttpError(400, "malformed request line")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise HttpError(400, "malformed header line")
        key = name.strip().lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise HttpError(400, "chunked request bodies are not supported; send Content-Length")
    try:
        length = int(headers.get("content-length", "0") or "0")
    except ValueError:
        raise HttpError(400, "bad Content-Length") from None
    if length < 0 or length > max_body:
        raise HttpError(413, "request body too large")
    body = await reader.readexactly(length) if length else b""
    path = target.split("?", 1)[0]
    return Request(method, path, version, headers, body)


def encode_reply(reply: Reply, keep_alive: bool) -> bytes:
    lines = [f"HTTP/1.1 {reply.status} {REASONS.get(reply.status, 'Unknown')}"]
    if reply.content_type:
        lines.append(f"Content-Type: {reply.content_type}")
    for name, value in reply.headers:
        lines.append(f"{name}: {value}")
    if reply.status != 304:
        lines.append(f"Content-Length: {len(reply.body)}")
    if not keep_alive:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if reply.status == 304 else head + reply.body


def serve(
    handler: Handler,
    max_connections: int = 0,
    *,
    who: str = "sidecar",
    idle_timeout_s: float = 120.0,
    max_body: int = MAX_BODY_BYTES,
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """A connection handler; beyond ``max_connections`` open ones, new ones are closed at once."""
    open_connections = 0

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal open_connections
        if max_connections and open_connections >= max_connections:
            writer.close()
            return
        open_connections += 1
        try:
            while True:
                try:
                    request = await asyncio.wait_for(read_request(reader, max_body), idle_timeout_s)
                except HttpError as exc:
                    writer.write(encode_reply(problem(exc.status, exc.detail), False))
                    await writer.drain()
                    return
                if request is None:
                    return
                conn = request.headers.get("connection", "").lower()
                keep_alive = "close" not in conn and (
                    request.version == "HTTP/1.1" or "keep-alive" in conn
                )
                try:
                    reply = await handler(request)
                except HttpError as exc:
                    reply = problem(exc.status, exc.detail)
                except NoAnswer:
                    return
                except Exception as exc:  # a bug here must not kill the connection silently
                    # The type only: a message could quote request data (a token, say).
                    print(
                        f"{who}: internal error: {type(exc).__name__}", file=sys.stderr, flush=True
                    )
                    reply, keep_alive = problem(500, "internal error"), False
                writer.write(encode_reply(reply, keep_alive))
                await writer.drain()
                if not keep_alive:
                    return
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            open_connections -= 1
            writer.close()

    return on_connection


async def run(
    who: str,
    public: Handler,
    control: Handler,
    *,
    token: str,
    max_connections: int,
    idle_timeout_s: float,
    banner: Callable[[str, int, int], str],
) -> None:
    """Serve ``public`` on $PORT and ``control`` on $CONTROL_PORT until SIGTERM or SIGINT."""
    host = os.environ.get("HOST", "0.0.0.0")
    port = env_int("PORT", 9090, who)
    control_port = env_int("CONTROL_PORT", 9091, who)
    if not token:
        print(
            f"{who}: ASSESS_CONTROL_TOKEN is not set; control endpoints will answer 401",
            file=sys.stderr,
        )
    kw = {"who": who, "idle_timeout_s": idle_timeout_s}
    public_server = await asyncio.start_server(
        serve(public, max_connections, **kw),  # type: ignore[arg-type]
        host,
        port,
        limit=MAX_HEAD_BYTES,
        backlog=1024,
    )
    control_server = await asyncio.start_server(
        serve(control, CONTROL_MAX_CONNECTIONS, **kw),  # type: ignore[arg-type]
        host,
        control_port,
        limit=MAX_HEAD_BYTES,
    )
    print(banner(host, port, control_port), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with public_server, control_server:
        await stop.wait()
