"""graders.http against hostile loopback servers: bombs, drips, stalls, and the shared headers."""

from __future__ import annotations

import contextlib
import gzip
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator

import pytest

from graders import CheckFailed, Client, concurrently
from graders.http import DEFAULT_HEADERS, BodyReader, BodyRejected, BodyTooLarge

Handler = Callable[[socket.socket, dict[str, str]], None]
BOMB_BYTES = 1 << 30  # what the bomb inflates to


def gzip_bomb(size: int = BOMB_BYTES) -> bytes:
    """A gzip stream of ``size`` zero bytes, built in pieces (about 1 MB compressed per GiB)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    parts = [comp.compress(zeros) for _ in range(size >> 20)]
    parts.append(comp.flush())
    return b"".join(parts)


def read_request(conn: socket.socket) -> dict[str, str]:
    data = b""
    while b"\r\n\r\n" not in data:
        part = conn.recv(4096)
        if not part:
            raise ConnectionError("client went away")
        data += part
    head, _, _ = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {"": lines[0]}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers


@contextlib.contextmanager
def serve(handler: Handler) -> Iterator[str]:
    """A raw TCP server on 127.0.0.1: each connection runs ``handler`` on its own thread."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def one(conn: socket.socket) -> None:
        # OSError: the client gave up, as expected for most hostile handlers
        with conn, contextlib.suppress(OSError):
            handler(conn, read_request(conn))

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=one, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.close()


def answer(body: bytes, *, extra: str = "", status: str = "200 OK") -> Handler:
    def handler(conn: socket.socket, _: dict[str, str]) -> None:
        conn.sendall(
            f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body
        )

    return handler


def test_plain_json_round_trip_reuses_one_connection() -> None:
    seen: list[dict[str, str]] = []

    def handler(conn: socket.socket, first: dict[str, str]) -> None:
        request: dict[str, str] | None = first
        while request is not None:
            seen.append(request)
            body = b'{"ok": true}'
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )
            try:
                request = read_request(conn)
            except ConnectionError:
                request = None

    with serve(handler) as url:
        api = Client(url)
        assert api.get("/a", params={"q": "x y"}).json() == {"ok": True}
        assert api.get("/b").status == 200
    assert [r[""] for r in seen] == ["GET /a?q=x+y HTTP/1.1", "GET /b HTTP/1.1"]  # one connection
    for name, value in DEFAULT_HEADERS.items():
        assert seen[0][name.lower()] == value


def test_gzip_bomb_fails_fast_with_little_memory() -> None:
    bomb = gzip_bomb()
    assert len(bomb) < 2 << 20
    with serve(answer(bomb, extra="Content-Encoding: gzip\r\n")) as url:
        tracemalloc.start()
        start = time.monotonic()
        try:
            with pytest.raises(CheckFailed, match=r"exceeded 1048576 bytes"):
                Client(url).get("/")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert time.monotonic() - start < 3
    assert peak < 8 << 20, f"peak {peak} bytes while reading a gzip bomb"


@pytest.mark.parametrize("coding", ["deflate", "raw-deflate", "br"])
def test_other_encodings_are_capped_after_decoding(coding: str) -> None:
    data = bytes(32 << 20)
    if coding == "br":
        brotli = pytest.importorskip("brotli")
        packed = brotli.compress(data, quality=1)
    elif coding == "deflate":
        packed = zlib.compress(data, 9)
    else:
        comp = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        packed = comp.compress(data) + comp.flush()
    header = "br" if coding == "br" else "deflate"
    with (
        serve(answer(packed, extra=f"Content-Encoding: {header}\r\n")) as url,
        pytest.raises(CheckFailed, match="exceeded 1048576 bytes"),
    ):
        Client(url).get("/")


def test_small_compressed_bodies_are_decoded() -> None:
    with serve(answer(gzip.compress(b'{"a": 1}'), extra="Content-Encoding: gzip\r\n")) as url:
        assert Client(url).get("/").json() == {"a": 1}


def test_body_reader_rejects_unknown_and_broken_encodings() -> None:
    with pytest.raises(BodyRejected, match="unknown Content-Encoding"):
        BodyReader("zstd")
    reader = BodyReader("gzip")
    with pytest.raises(BodyRejected, match="invalid gzip"):
        reader.feed(b"not gzip at all")
    reader = BodyReader(None, cap=10)
    reader.feed(b"x" * 10)
    with pytest.raises(BodyTooLarge):
        reader.feed(b"y")


def test_oversized_identity_body_fails() -> None:
    with (
        serve(answer(b"x" * (2 << 20))) as url,
        pytest.raises(CheckFailed, match="exceeded 1048576 bytes"),
    ):
        Client(url).get("/")


def drip(conn: socket.socket, _: dict[str, str]) -> None:
    """The status line, then one header byte every 3 s."""
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    for byte in b"X-Slow: " + b"y" * 100:
        time.sleep(3)  # the hostile server's pace, not synchronisation
        conn.sendall(bytes([byte]))


def drip_body(conn: socket.socket, _: dict[str, str]) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    for _ in range(1000):
        time.sleep(0.3)
        conn.sendall(b"x")


@pytest.mark.parametrize("handler", [drip, drip_body], ids=["headers", "body"])
def test_one_deadline_covers_headers_and_body(handler: Handler) -> None:
    with serve(handler) as url:
        start = time.monotonic()
        with pytest.raises(CheckFailed, match=r"no response within 2 s"):
            Client(url, timeout_s=2).get("/")
        elapsed = time.monotonic() - start
    assert 1.9 <= elapsed <= 2.5


def test_body_shorter_than_its_content_length_fails() -> None:
    def short(conn: socket.socket, _: dict[str, str]) -> None:
        conn.sendall(b'HTTP/1.1 404 Not Found\r\nContent-Length: 5368709120\r\n\r\n{"hello"')

    with serve(short) as url, pytest.raises(CheckFailed, match="IncompleteRead"):
        Client(url).get("/nope")


def test_refused_connection_is_a_clear_failure() -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    with pytest.raises(CheckFailed, match="connection failed"):
        Client(f"http://127.0.0.1:{port}").get("/")


def test_concurrently_returns_at_its_deadline_when_threads_are_stuck() -> None:
    def stall_some(conn: socket.socket, request: dict[str, str]) -> None:
        if request[""].startswith("GET /stall"):
            threading.Event().wait(20)  # holds the connection open, says nothing
        answer(b"{}")(conn, request)

    with serve(stall_some) as url:
        api = Client(url, timeout_s=15)
        start = time.monotonic()
        with pytest.raises(
            CheckFailed, match=r"^3 of 10 concurrent calls did not finish within 1 s"
        ):
            concurrently(10, lambda i: api.get("/stall" if i < 3 else "/ok"), timeout_s=1)
        assert time.monotonic() - start < 1.5
        results = concurrently(4, lambda i: api.get(f"/ok{i}").status, timeout_s=5)
    assert results == [200, 200, 200, 200]


def test_concurrently_reraises_what_fn_raised() -> None:
    def boom(i: int) -> int:
        if i == 2:
            raise CheckFailed("call 2 failed")
        return i

    with pytest.raises(CheckFailed, match="call 2 failed"):
        concurrently(4, boom, timeout_s=5)
