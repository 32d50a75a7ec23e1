"""A small WebSocket client (RFC 6455) for checks, safe against hostile servers.

Raw sockets, stdlib only: every read has a timeout, every call a total deadline, the handshake
answer is capped at 16 KiB, and a frame whose declared length exceeds the message cap is
rejected from its header, before a byte of its payload is read. (websocket-client would try to
read whatever length a hostile frame claims.)

    from graders import ws_connect

    def test_echo(service_url):
        with ws_connect(service_url, "/ws", timeout_s=3) as ws:
            ws.send_text("ping")
            assert ws.recv_text() == "ping"

Failures raise :class:`graders.expect.CheckFailed` with what was sent and what came back.
"""

from __future__ import annotations

import base64
import hashlib
import json as jsonlib
import os
import select
import socket
import struct
import threading
import time
from collections import deque
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from graders.check_failed import CheckFailed, fail
from graders.http import excerpt

DEFAULT_TIMEOUT_S = 5.0
MAX_MESSAGE_BYTES = 1 << 20
MAX_HANDSHAKE_BYTES = 16 * 1024
# Data messages a ping() or expect_close() sets aside for later recv calls, at most.
MAX_PENDING_MESSAGES = 100_000
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
CONTROL = {OP_CLOSE, OP_PING, OP_PONG}
READ_CHUNK = 65536


def accept_key(key: str) -> str:
    """The Sec-WebSocket-Accept a server must answer to ``key``."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def _mask(data: bytes, key: bytes) -> bytes:
    if not data:
        return b""
    n = len(data)
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def _split_url(base_url: str) -> tuple[str, int]:
    parts = urlsplit(base_url if "://" in base_url else "http://" + base_url)
    secure = parts.scheme in ("https", "wss")
    if secure:
        fail(f"{base_url}: TLS WebSockets are not supported by the grader's client")
    host = parts.hostname or "127.0.0.1"
    return host, parts.port or 80


class WebSocket:
    """One open client connection. One thread reads; sends from a second thread (a keep-alive
    pinger) are safe: whole frames are written under a lock."""

    def __init__(
        self,
        sock: socket.socket,
        path: str,
        *,
        timeout_s: float,
        max_message: int,
        buffered: bytes = b"",
    ) -> None:
        self._sock = sock
        self.path = path
        self.timeout_s = timeout_s
        self.max_message = max_message
        self._buf = bytearray(buffered)
        self.closed = False
        self.close_code: int | None = None
        self.close_reason = ""
        self.eof = False  # the TCP connection ended (with or without a close frame)
        self._budget = timeout_s
        self._pending: deque[tuple[int, bytes]] = deque()
        self._parts: list[bytes] = []
        self._first_op: int | None = None
        self._pongs: deque[bytes] = deque(maxlen=64)
        self._send_lock = threading.Lock()

    # -- low level ----------------------------------------------------------------------
    def _where(self) -> str:
        return f"WebSocket {self.path}"

    def _remaining(self, deadline: float, waiting_for: str) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            fail(f"{self._where()}: {waiting_for} within {self._budget:.3g} s")
        return left

    def _read_exact(self, n: int, deadline: float, waiting_for: str) -> bytes:
        while len(self._buf) < n:
            self._sock.settimeout(self._remaining(deadline, waiting_for))
            try:
                chunk = self._sock.recv(READ_CHUNK)
            except TimeoutError:
                fail(f"{self._where()}: {waiting_for} within {self._budget:.3g} s")
            except OSError as exc:
                self.closed = True
                fail(f"{self._where()}: connection failed while reading ({type(exc).__name__})")
            if not chunk:
                self.closed = self.eof = True
                fail(f"{self._where()}: the server closed the connection; {waiting_for}")
            self._buf += chunk
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def _send_frame(
        self,
        opcode: int,
        payload: bytes,
        deadline: float | None = None,
        doing: str = "send",
        *,
        fin: bool = True,
    ) -> None:
        if self.closed:
            fail(f"{self._where()}: cannot send, the connection is closed")
        if deadline is None:
            deadline = time.monotonic() + self.timeout_s
            self._budget = self.timeout_s
        n = len(payload)
        head = bytes([(0x80 if fin else 0) | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 1 << 16:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        key = os.urandom(4)
        frame = head + key + _mask(payload, key)
        try:
            with self._send_lock:
                self._sock.settimeout(self._remaining(deadline, f"could not {doing}"))
                self._sock.sendall(frame)
        except TimeoutError:
            fail(
                f"{self._where()}: could not {doing} within {self._budget:.3g} s "
                "(the server is not reading what the grader sends)"
            )
        except OSError as exc:
            self.closed = True
            fail(f"{self._where()}: connection failed while sending ({type(exc).__name__})")

    def _read_frame(
        self, deadline: float, waiting_for: str, so_far: int
    ) -> tuple[bool, int, bytes]:
        b0, b1 = self._read_exact(2, deadline, waiting_for)
        fin, opcode, masked, length = bool(b0 & 0x80), b0 & 0x0F, bool(b1 & 0x80), b1 & 0x7F
        if b0 & 0x70:
            fail(f"{self._where()}: the server set reserved bits (0x{b0 & 0x70:02x}) in a frame")
        if opcode not in CONTROL | {OP_CONT, OP_TEXT, OP_BINARY}:
            fail(f"{self._where()}: the server sent a frame with unknown opcode 0x{opcode:x}")
        if length == 126:
            (length,) = struct.unpack("!H", self._read_exact(2, deadline, waiting_for))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read_exact(8, deadline, waiting_for))
        if opcode in CONTROL and (length > 125 or not fin):
            fail(
                f"{self._where()}: the server sent an invalid control frame "
                f"(opcode 0x{opcode:x}, {length} bytes, fin={fin})"
            )
        if length > self.max_message or (
            opcode not in CONTROL and so_far + length > self.max_message
        ):
            what = "frame" if so_far == 0 else f"frame (after {so_far} bytes of fragments)"
            fail(
                f"{self._where()}: the server sent a {what} of {length} bytes; "
                f"it exceeds the {self.max_message}-byte cap and the grader stopped reading"
            )
        if masked:
            fail(f"{self._where()}: the server sent a masked frame (servers must not mask)")
        payload = self._read_exact(length, deadline, waiting_for) if length else b""
        return fin, opcode, payload

    # -- messages -----------------------------------------------------------------------
    def _step(self, deadline: float, waiting_for: str) -> tuple[int, bytes] | None:
        """Read one frame: a completed data message, or None (control frame, fragment, close)."""
        size = sum(len(p) for p in self._parts)
        fin, opcode, payload = self._read_frame(deadline, waiting_for, size)
        if opcode == OP_PING:
            self._send_frame(OP_PONG, payload, deadline, doing="answer a ping")
            return None
        if opcode == OP_PONG:
            self._pongs.append(payload)
            return None
        if opcode == OP_CLOSE:
            self._on_close(payload)
            return None
        if self._first_op is None:
            if opcode == OP_CONT:
                fail(f"{self._where()}: the server sent a continuation frame with no message")
            self._first_op = opcode
        elif opcode != OP_CONT:
            fail(f"{self._where()}: the server started a new message inside a fragmented one")
        self._parts.append(payload)
        if not fin:
            return None
        message = (self._first_op, b"".join(self._parts))
        self._parts, self._first_op = [], None
        return message

    def _closed_message(self, waiting_for: str) -> str:
        shown = f"code {self.close_code}" if self.close_code is not None else "no code"
        if self.close_reason:
            shown += f", reason {excerpt(self.close_reason, 120)!r}"
        return f"{self._where()}: the server closed the WebSocket ({shown}); {waiting_for}"

    def _set_aside(self, message: tuple[int, bytes]) -> None:
        if len(self._pending) >= MAX_PENDING_MESSAGES:
            fail(f"{self._where()}: more than {MAX_PENDING_MESSAGES} unread messages piled up")
        self._pending.append(message)

    def recv_message(self, timeout_s: float | None = None) -> tuple[int, bytes]:
        """The next whole data message as (opcode, payload); pings are answered on the way."""
        if self._pending:
            return self._pending.popleft()
        if self.closed:
            fail(f"{self._where()}: cannot receive, the connection is closed")
        self._budget = timeout_s if timeout_s is not None else self.timeout_s
        deadline = time.monotonic() + self._budget
        while True:
            waiting_for = (
                "the rest of a fragmented message did not arrive"
                if self._parts
                else "no message arrived"
            )
            message = self._step(deadline, waiting_for)
            if message is not None:
                return message
            if self.closed:
                fail(self._closed_message(waiting_for))

    def poll_message(self, timeout_s: float) -> tuple[int, bytes] | None:
        """The next data message if one starts arriving within ``timeout_s``, else None.

        A frame that has begun arriving must complete within the connection's own timeout. A
        close from the server fails, as in :meth:`recv_message`."""
        if self._pending:
            return self._pending.popleft()
        if self.closed:
            fail(f"{self._where()}: cannot receive, the connection is closed")
        deadline = time.monotonic() + timeout_s
        while True:
            if not self._buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                readable, _, _ = select.select([self._sock], [], [], left)
                if not readable:
                    return None
            self._budget = self.timeout_s
            message = self._step(time.monotonic() + self.timeout_s, "a frame stopped halfway")
            if message is not None:
                return message
            if self.closed:
                fail(self._closed_message("while polling for messages"))

    def send_ping(self, payload: bytes = b"") -> None:
        """Send a ping and return at once (the pong is read by later receive calls)."""
        if len(payload) > 125:
            fail(f"{self._where()}: a ping payload is at most 125 bytes")
        self._send_frame(OP_PING, payload)

    def ping(self, payload: bytes = b"assess", timeout_s: float | None = None) -> float:
        """Send a ping and wait for the pong carrying the same payload; the round trip in s.

        Data messages that arrive meanwhile are kept for the next receive calls."""
        self._budget = timeout_s if timeout_s is not None else self.timeout_s
        start = time.monotonic()
        deadline = start + self._budget
        self._pongs.clear()
        self._send_frame(OP_PING, payload, deadline, doing="send a ping")
        while payload not in self._pongs:
            waiting_for = f"no pong answered the ping {payload!r}"
            message = self._step(deadline, waiting_for)
            if message is not None:
                self._set_aside(message)
            elif self.closed:
                fail(self._closed_message(waiting_for))
        return time.monotonic() - start

    def expect_close(self, timeout_s: float) -> tuple[int | None, list[tuple[int, bytes]]]:
        """Read until the server's close frame: (its code, the data messages read before it).

        The code is None when the TCP connection ended without a close frame (or one without a
        code). Fails when neither happened within ``timeout_s``."""
        messages = list(self._pending)
        self._pending.clear()
        self._budget = timeout_s
        deadline = time.monotonic() + timeout_s
        while not self.closed:
            try:
                message = self._step(deadline, "the server did not close the connection")
            except CheckFailed:
                if self.eof:
                    break
                raise
            if message is not None:
                if len(messages) >= MAX_PENDING_MESSAGES:
                    fail(f"{self._where()}: more than {MAX_PENDING_MESSAGES} messages, no close")
                messages.append(message)
        return self.close_code, messages

    def send_frame(self, opcode: int, payload: bytes, *, fin: bool = True) -> None:
        """Send one raw frame (for checks of fragmentation, binary and oversized messages)."""
        self._send_frame(opcode, payload, fin=fin)

    def recv_text(self, timeout_s: float | None = None) -> str:
        """The next text message; fails on timeout, close, binary, oversize or bad frames."""
        opcode, payload = self.recv_message(timeout_s)
        if opcode != OP_TEXT:
            fail(
                f"{self._where()}: expected a text message, got a binary one of {len(payload)} "
                f"bytes: {excerpt(payload.hex(), 120)}"
            )
        try:
            return payload.decode("utf-8")
        except UnicodeDecodeError:
            fail(f"{self._where()}: a text message was not valid UTF-8: {excerpt(payload, 160)}")

    def recv_json(self, timeout_s: float | None = None) -> Any:
        text = self.recv_text(timeout_s)
        try:
            return jsonlib.loads(text)
        except (ValueError, RecursionError):
            fail(f"{self._where()}: expected a JSON message, got {excerpt(text) or 'nothing'}")

    def send_text(self, text: str) -> None:
        self._send_frame(OP_TEXT, text.encode("utf-8"))

    def send_json(self, obj: Any) -> None:
        self.send_text(jsonlib.dumps(obj))

    def _on_close(self, payload: bytes) -> None:
        if len(payload) >= 2:
            (self.close_code,) = struct.unpack("!H", payload[:2])
            self.close_reason = payload[2:].decode("utf-8", "replace")
        if not self.closed:
            try:  # echo the close, best effort, without waiting
                self._sock.settimeout(0.5)
                key = os.urandom(4)
                body = payload[:2]
                self._sock.sendall(bytes([0x88, 0x80 | len(body)]) + key + _mask(body, key))
            except OSError:
                pass
        self.closed = True
        self._sock.close()

    def close(self, code: int = 1000) -> None:
        """Send a close frame (best effort, without waiting for the answer) and drop the socket."""
        if not self.closed:
            self.closed = True
            try:
                self._sock.settimeout(0.5)
                key = os.urandom(4)
                body = struct.pack("!H", code)
                self._sock.sendall(bytes([0x88, 0x82]) + key + _mask(body, key))
            except OSError:
                pass
        self._sock.close()

    def __enter__(self) -> WebSocket:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _open(
    host: str, port: int, timeout_s: float, where: str, recv_buffer: int | None
) -> socket.socket:
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        fail(f"{where}: connection failed ({type(exc).__name__}: {excerpt(str(exc), 160)})")
    try:
        if recv_buffer is not None:
            # Before connect, so that the TCP window is negotiated small: a client that stops
            # reading then holds little in its kernel and the server's own buffering shows.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, recv_buffer)
        sock.settimeout(timeout_s)
        sock.connect(addr)
    except TimeoutError:
        sock.close()
        fail(f"{where}: could not connect within {timeout_s:g} s")
    except OSError as exc:
        sock.close()
        fail(f"{where}: connection failed ({type(exc).__name__}: {excerpt(str(exc), 160)})")
    return sock


def _exchange(
    sock: socket.socket, request: bytes, deadline: float, timeout_s: float, where: str
) -> tuple[str, dict[str, str], bytes, bytes]:
    """Send an HTTP request head, read the answer's head: (status, headers, head, the rest)."""
    data = bytearray()
    try:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        sock.sendall(request)
        while b"\r\n\r\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            sock.settimeout(left)
            chunk = sock.recv(4096)
            if not chunk:
                got = f": {excerpt(bytes(data))}" if data else ""
                fail(
                    f"{where}: the server closed the connection before a complete "
                    f"handshake answer ({len(data)} bytes{got})"
                )
            data += chunk
            if len(data) > MAX_HANDSHAKE_BYTES and b"\r\n\r\n" not in data[:MAX_HANDSHAKE_BYTES]:
                fail(
                    f"{where}: the handshake answer exceeded {MAX_HANDSHAKE_BYTES} bytes; "
                    f"it began {excerpt(bytes(data[:300]))}"
                )
    except TimeoutError:
        got = f"; got {len(data)} bytes: {excerpt(bytes(data))}" if data else ""
        fail(f"{where}: no handshake answer within {timeout_s:g} s{got}")
    except OSError as exc:
        fail(f"{where}: connection failed during the handshake ({type(exc).__name__})")
    head, _, rest = bytes(data).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status_parts = lines[0].split(" ", 2)
    status = status_parts[1] if len(status_parts) >= 2 and lines[0].startswith("HTTP/") else ""
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return status, headers, head, rest


def connect(
    base_url: str,
    path: str,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_message: int = MAX_MESSAGE_BYTES,
    recv_buffer: int | None = None,
) -> WebSocket:
    """Open a WebSocket to ``base_url`` + ``path``; the handshake has a total deadline.

    ``recv_buffer`` sets the socket's receive buffer (SO_RCVBUF) before connecting."""
    host, port = _split_url(base_url)
    where = f"GET {path} (WebSocket upgrade)"
    deadline = time.monotonic() + timeout_s
    key = base64.b64encode(os.urandom(16)).decode()
    host_header = host if port == 80 else f"{host}:{port}"
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    sock = _open(host, port, timeout_s, where, recv_buffer)
    try:
        status, headers, head, rest = _exchange(sock, request, deadline, timeout_s, where)
        shown = excerpt(head)
        if status != "101":
            fail(f"{where}: expected 101 Switching Protocols; got {shown}")
        if headers.get("upgrade", "").lower() != "websocket":
            fail(f"{where}: expected the header Upgrade: websocket; got {shown}")
        if "upgrade" not in headers.get("connection", "").lower():
            fail(f"{where}: expected the header Connection: Upgrade; got {shown}")
        want = accept_key(key)
        if headers.get("sec-websocket-accept") != want:
            fail(
                f"{where}: sent Sec-WebSocket-Key {key}, expected Sec-WebSocket-Accept {want}; "
                f"got {shown}"
            )
    except BaseException:
        sock.close()
        raise
    return WebSocket(sock, path, timeout_s=timeout_s, max_message=max_message, buffered=rest)


def handshake_answer(
    base_url: str,
    path: str,
    headers: dict[str, str],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> tuple[int, dict[str, str]]:
    """Send ``GET path`` with exactly these headers (besides Host); the answer's status, headers.

    For checks of invalid upgrade requests: the connection is closed after the answer's head,
    whatever it was (a 101 included). Status 0 means the answer had no HTTP status line."""
    host, port = _split_url(base_url)
    where = f"GET {path} ({', '.join(headers) or 'no headers'})"
    deadline = time.monotonic() + timeout_s
    host_header = host if port == 80 else f"{host}:{port}"
    lines = [f"GET {path} HTTP/1.1", f"Host: {host_header}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    sock = _open(host, port, timeout_s, where, None)
    try:
        status, got, _, _ = _exchange(sock, request, deadline, timeout_s, where)
    finally:
        sock.close()
    return (int(status) if status.isdigit() else 0), got
