#!/usr/bin/env python3
"""Reference solution of the ``cache`` challenge: Python standard library only.

One asyncio event loop serves HTTP/1.1 with keep-alive and talks to the upstream over a small
pool of keep-alive connections. The behaviours a flawed variant may want to change are
separate methods or attributes of :class:`CacheService` and :class:`LruStore`:

    freshness_lifetime()   how long a 200 stays fresh (Cache-Control max-age)
    coalesce               share one upstream request among concurrent requests for a key
    invalidate()           what POST /events does
    stale_allowed()        stale-if-error window
    LruStore               bounded LRU map (max_entries, touch(), evict())
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import urllib.parse
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

UPSTREAM_TIMEOUT_S = 2.0
MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024
MAX_UPSTREAM_BODY = 1 << 20
IDLE_TIMEOUT_S = 120.0

REASONS = {
    200: "OK", 204: "No Content", 400: "Bad Request", 404: "Not Found",
    405: "Method Not Allowed", 413: "Content Too Large", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 502: "Bad Gateway", 504: "Gateway Timeout",
}


def env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError:
        sys.exit(f"{name} must be a number, got {raw!r}")


@dataclass
class Config:
    port: int = 8080
    upstream_url: str = "http://127.0.0.1:9090"
    max_entries: int = 100
    stale_if_error_s: float = 5.0
    negative_ttl_s: float = 2.0
    upstream_timeout_s: float = UPSTREAM_TIMEOUT_S

    @classmethod
    def from_env(cls) -> Config:
        return cls(
            port=int(env_number("PORT", 8080)),
            upstream_url=os.environ.get("UPSTREAM_URL", "http://127.0.0.1:9090"),
            max_entries=max(1, int(env_number("CACHE_MAX_ENTRIES", 100))),
            stale_if_error_s=env_number("STALE_IF_ERROR_S", 5.0),
            negative_ttl_s=env_number("NEGATIVE_TTL_S", 2.0),
        )


# -- HTTP server plumbing ---------------------------------------------------------------------

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


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)


def problem(status: int, detail: str, x_cache: str | None = None) -> Reply:
    body = {"type": "about:blank", "title": REASONS.get(status, "Error"), "status": status,
            "detail": detail}
    headers = [("X-Cache", x_cache)] if x_cache else []
    return Reply(status, json.dumps(body).encode(), "application/problem+json", headers)


async def read_request(reader: asyncio.StreamReader) -> Request | None:
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
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, sep, value = line.partition(":")
            if not sep:
                raise HttpError(400, "malformed header line")
            headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise HttpError(400, "chunked request bodies are not supported")
    try:
        length = int(headers.get("content-length", "0") or "0")
    except ValueError:
        raise HttpError(400, "bad Content-Length") from None
    if length < 0 or length > MAX_BODY_BYTES:
        raise HttpError(413, "request body too large")
    body = await reader.readexactly(length) if length else b""
    return Request(parts[0], parts[1].split("?", 1)[0], parts[2], headers, body)


def encode_reply(reply: Reply, keep_alive: bool) -> bytes:
    lines = [f"HTTP/1.1 {reply.status} {REASONS.get(reply.status, 'Unknown')}"]
    if reply.content_type:
        lines.append(f"Content-Type: {reply.content_type}")
    lines.extend(f"{k}: {v}" for k, v in reply.headers)
    lines.append(f"Content-Length: {len(reply.body)}")
    if not keep_alive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + reply.body


def connection_handler(app: Any) -> Any:
    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    request = await asyncio.wait_for(read_request(reader), IDLE_TIMEOUT_S)
                except HttpError as exc:
                    writer.write(encode_reply(problem(exc.status, exc.detail), False))
                    await writer.drain()
                    return
                if request is None:
                    return
                conn = request.headers.get("connection", "").lower()
                keep_alive = "close" not in conn and (request.version == "HTTP/1.1"
                                                      or "keep-alive" in conn)
                try:
                    reply = await app.handle(request)
                except HttpError as exc:
                    reply = problem(exc.status, exc.detail)
                except Exception as exc:
                    print(f"internal error: {exc!r}", file=sys.stderr, flush=True)
                    reply, keep_alive = problem(500, "internal error"), False
                writer.write(encode_reply(reply, keep_alive))
                await writer.drain()
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    return on_connection


# -- upstream client ----------------------------------------------------------------------------

class UpstreamProtocolError(Exception):
    pass


@dataclass
class UpstreamResponse:
    status: int
    headers: dict[str, str]
    body: bytes


class UpstreamClient:
    """Minimal HTTP/1.1 client with a pool of keep-alive connections to one origin."""

    def __init__(self, base_url: str, max_idle: int = 64) -> None:
        url = urllib.parse.urlsplit(base_url)
        if url.scheme != "http" or not url.hostname:
            sys.exit(f"UPSTREAM_URL must be an http:// URL, got {base_url!r}")
        self.host = url.hostname
        self.port = url.port or 80
        self.prefix = url.path.rstrip("/")
        self.host_header = url.netloc
        self.max_idle = max_idle
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def get(self, path: str, headers: dict[str, str]) -> UpstreamResponse:
        """GET with pooled connections; a reused connection that turns out dead is retried."""
        while self.idle:
            conn = self.idle.pop()
            if conn[0].at_eof() or conn[1].is_closing():
                conn[1].close()
                continue
            try:
                return await self._exchange(conn, path, headers)
            except (ConnectionError, asyncio.IncompleteReadError, UpstreamProtocolError):
                continue  # the server closed an idle connection; try another one
        conn = await asyncio.open_connection(self.host, self.port, limit=MAX_HEAD_BYTES)
        return await self._exchange(conn, path, headers)

    async def _exchange(
        self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], path: str,
        headers: dict[str, str],
    ) -> UpstreamResponse:
        reader, writer = conn
        reusable = False
        try:
            lines = [f"GET {self.prefix}{path} HTTP/1.1", f"Host: {self.host_header}",
                     "Accept: application/json"]
            lines.extend(f"{k}: {v}" for k, v in headers.items())
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status_line, *rest = head.decode("latin-1").split("\r\n")
            parts = status_line.split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
                raise UpstreamProtocolError(f"bad status line {status_line!r}")
            status = int(parts[1])
            resp_headers: dict[str, str] = {}
            for line in rest:
                if line:
                    name, _, value = line.partition(":")
                    resp_headers[name.strip().lower()] = value.strip()
            if status in (204, 304) or 100 <= status < 200:
                body = b""
            elif "content-length" in resp_headers:
                length = int(resp_headers["content-length"])
                if length > MAX_UPSTREAM_BODY:
                    raise UpstreamProtocolError("upstream body too large")
                body = await reader.readexactly(length)
            else:
                body = await reader.read(MAX_UPSTREAM_BODY)
                resp_headers["connection"] = "close"
            reusable = "close" not in resp_headers.get("connection", "").lower()
            return UpstreamResponse(status, resp_headers, body)
        finally:
            if reusable and len(self.idle) < self.max_idle:
                self.idle.append(conn)
            else:
                writer.close()


# -- the cache -----------------------------------------------------------------------------------

@dataclass
class Entry:
    status: int  # 200, or 404 for a negative entry
    body: bytes
    content_type: str
    etag: str | None
    expires_at: float  # time.monotonic()


class LruStore:
    """At most ``max_entries`` entries; a full store evicts the least recently used one."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.entries: OrderedDict[str, Entry] = OrderedDict()

    def peek(self, key: str) -> Entry | None:
        return self.entries.get(key)

    def touch(self, key: str) -> None:
        """Mark a key as used (served from, inserted or refreshed)."""
        if key in self.entries:
            self.entries.move_to_end(key)

    def put(self, key: str, entry: Entry) -> None:
        if key not in self.entries:
            self.evict(self.max_entries - 1)
        self.entries[key] = entry
        self.touch(key)

    def evict(self, keep: int) -> None:
        while len(self.entries) > keep:
            self.entries.popitem(last=False)

    def delete(self, key: str) -> None:
        self.entries.pop(key, None)


@dataclass
class Flight:
    future: asyncio.Future[Reply]
    invalidated: bool = False


def product_reply(entry: Entry, x_cache: str) -> Reply:
    headers = [("X-Cache", x_cache)]
    if entry.etag:
        headers.append(("ETag", entry.etag))
    return Reply(entry.status, entry.body, entry.content_type, headers)


def max_age(headers: dict[str, str]) -> float:
    for directive in headers.get("cache-control", "").split(","):
        name, _, value = directive.strip().partition("=")
        if name.strip().lower() == "max-age":
            try:
                return max(0.0, float(int(value.strip().strip('"'))))
            except ValueError:
                return 0.0
    return 0.0


class CacheService:
    coalesce = True
    store_class = LruStore

    def __init__(self, config: Config) -> None:
        self.config = config
        self.store = self.store_class(config.max_entries)
        self.upstream = UpstreamClient(config.upstream_url)
        self.flights: dict[str, Flight] = {}

    # -- routing
    async def handle(self, req: Request) -> Reply:
        if req.path == "/healthz":
            if req.method != "GET":
                return Reply(405, b"", None, [("Allow", "GET")])
            return Reply(200, b'{"status": "ok"}', "application/json")
        if req.path.startswith("/products/") and req.path.count("/") == 2:
            if req.method != "GET":
                return Reply(405, b"", None, [("Allow", "GET")])
            key = req.path[len("/products/"):]
            if not (key.isascii() and key.isdigit()) or len(key) > 12 or int(key) < 1:
                return problem(404, f"no product with id {key}", "MISS")
            return await self.get_product(str(int(key)))
        if req.path == "/events":
            if req.method != "POST":
                return Reply(405, b"", None, [("Allow", "POST")])
            return self.post_event(req)
        return problem(404, f"no route for {req.path}")

    # -- POST /events
    def post_event(self, req: Request) -> Reply:
        try:
            event = json.loads(req.body)
        except ValueError:
            return problem(400, "the body must be a JSON object")
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return problem(400, 'the body must be a JSON object with a string "type"')
        if event["type"] != "product.updated":
            return Reply(204)
        pid = event.get("id")
        if not isinstance(pid, int) or isinstance(pid, bool) or pid < 1:
            return problem(400, '"id" must be a positive integer')
        self.invalidate(str(pid))
        return Reply(204)

    def invalidate(self, key: str) -> None:
        self.store.delete(key)
        flight = self.flights.pop(key, None)
        if flight is not None:
            flight.invalidated = True  # its answer may predate the update: do not store it

    # -- GET /products/{id}
    async def get_product(self, key: str) -> Reply:
        entry = self.store.peek(key)
        if entry is not None and time.monotonic() < entry.expires_at:
            self.store.touch(key)
            return product_reply(entry, "HIT")
        if not self.coalesce:
            return await self.fetch(key, entry, Flight(asyncio.get_running_loop().create_future()))
        flight = self.flights.get(key)
        if flight is not None:
            return await asyncio.shield(flight.future)
        flight = Flight(asyncio.get_running_loop().create_future())
        self.flights[key] = flight
        try:
            reply = await self.fetch(key, entry, flight)
        except BaseException:
            reply = problem(502, "internal error while fetching", "MISS")
            raise
        finally:
            if self.flights.get(key) is flight:
                del self.flights[key]
            if not flight.future.done():
                flight.future.set_result(reply)
        return reply

    def freshness_lifetime(self, headers: dict[str, str]) -> float:
        return max_age(headers)

    def stale_allowed(self, entry: Entry | None, now: float) -> bool:
        return (entry is not None and entry.status == 200
                and now <= entry.expires_at + self.config.stale_if_error_s)

    def keep(self, key: str, entry: Entry, flight: Flight) -> None:
        if not flight.invalidated:
            self.store.put(key, entry)

    async def fetch(self, key: str, entry: Entry | None, flight: Flight) -> Reply:
        conditional = entry is not None and entry.status == 200 and entry.etag is not None
        headers = {"If-None-Match": entry.etag} if conditional and entry and entry.etag else {}
        try:
            r = await asyncio.wait_for(self.upstream.get(f"/products/{key}", headers),
                                       self.config.upstream_timeout_s)
        except asyncio.TimeoutError:
            return self.upstream_failed(key, entry, 504, "the upstream did not answer in time")
        except (OSError, asyncio.IncompleteReadError, UpstreamProtocolError, ValueError) as exc:
            return self.upstream_failed(key, entry, 502, f"the upstream failed: {exc!r}")
        now = time.monotonic()
        if r.status == 304 and conditional and entry is not None:
            refreshed = Entry(200, entry.body, entry.content_type, r.headers.get("etag",
                              entry.etag), now + self.freshness_lifetime(r.headers))
            self.keep(key, refreshed, flight)
            return product_reply(refreshed, "REVALIDATED")
        if r.status == 200:
            fresh = Entry(200, r.body, r.headers.get("content-type", "application/json"),
                          r.headers.get("etag"), now + self.freshness_lifetime(r.headers))
            self.keep(key, fresh, flight)
            return product_reply(fresh, "MISS")
        if r.status == 404:
            negative = Entry(404, r.body, r.headers.get("content-type",
                             "application/problem+json"), None, now + self.config.negative_ttl_s)
            self.keep(key, negative, flight)
            return product_reply(negative, "MISS")
        return self.upstream_failed(key, entry, 502, f"the upstream answered {r.status}")

    def upstream_failed(self, key: str, entry: Entry | None, status: int, detail: str) -> Reply:
        if entry is not None and self.stale_allowed(entry, time.monotonic()):
            self.store.touch(key)
            return product_reply(entry, "STALE")
        return problem(status, detail, "MISS")


def main(service_class: type[CacheService] = CacheService) -> None:
    config = Config.from_env()

    async def run() -> None:
        app = service_class(config)
        server = await asyncio.start_server(connection_handler(app), "0.0.0.0", config.port,
                                            limit=MAX_HEAD_BYTES, backlog=1024)
        print(f"cache listening on :{config.port}, upstream {config.upstream_url}, "
              f"max {config.max_entries} entries", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with server:
            await stop.wait()

    asyncio.run(run())


if __name__ == "__main__":
    main()
