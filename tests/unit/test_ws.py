"""graders.ws against small in-process servers: a correct echo server and hostile ones."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from graders import CheckFailed, fail, ws_connect
from graders import ws as graders_ws
from graders.ws import accept_key

Handler = Callable[[socket.socket, threading.Event], None]
GIANT = 8 << 30  # 8 GiB


# -- a tiny server toolkit ------------------------------------------------------------------
def read_request(conn: socket.socket) -> dict[str, str]:
    data = b""
    while b"\r\n\r\n" not in data:
        part = conn.recv(4096)
        if not part:
            raise ConnectionError("client went away")
        data += part
    headers = {}
    for line in data.split(b"\r\n\r\n")[0].decode().split("\r\n")[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers


def handshake(conn: socket.socket) -> None:
    headers = read_request(conn)
    assert headers["sec-websocket-version"] == "13"
    assert headers["upgrade"].lower() == "websocket"
    want = base64.b64encode(
        hashlib.sha1(
            (headers["sec-websocket-key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()
        ).digest()
    ).decode()
    conn.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + want.encode() + b"\r\n\r\n"
    )


def frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 1 << 16:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


def exact(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        part = conn.recv(n - len(data))
        if not part:
            raise ConnectionError("client went away")
        data += part
    return data


def read_client_frame(conn: socket.socket) -> tuple[int, bytes]:
    b0, b1 = exact(conn, 2)
    assert b1 & 0x80, "client frames must be masked"
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", exact(conn, 2))
    elif n == 127:
        (n,) = struct.unpack("!Q", exact(conn, 8))
    key = exact(conn, 4)
    payload = bytes(b ^ key[i % 4] for i, b in enumerate(exact(conn, n)))
    return b0 & 0x0F, payload


def idle(stop: threading.Event) -> None:
    stop.wait(30)


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], str]]:
    """serve(handler) -> base URL of a server running handler(conn, stop) per connection."""
    stop = threading.Event()
    listeners: list[socket.socket] = []
    conns: list[socket.socket] = []
    threads: list[threading.Thread] = []

    def run(handler: Handler, conn: socket.socket) -> None:
        with contextlib.suppress(OSError, AssertionError):
            handler(conn, stop)

    def accept_loop(srv: socket.socket, handler: Handler) -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            conns.append(conn)
            t = threading.Thread(target=run, args=(handler, conn), daemon=True)
            threads.append(t)
            t.start()

    def start(handler: Handler) -> str:
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        srv.settimeout(0.2)
        listeners.append(srv)
        t = threading.Thread(target=accept_loop, args=(srv, handler), daemon=True)
        threads.append(t)
        t.start()
        return f"http://127.0.0.1:{srv.getsockname()[1]}"

    yield start
    stop.set()
    for t in threads:
        t.join(timeout=5)
    for s in listeners + conns:
        s.close()


# -- servers ------------------------------------------------------------------------------
pongs: list[bytes] = []


def echo_server(conn: socket.socket, stop: threading.Event) -> None:
    handshake(conn)
    while True:
        opcode, payload = read_client_frame(conn)
        if opcode == 0x8:
            conn.sendall(frame(0x8, payload))
            return
        if opcode == 0xA:
            pongs.append(payload)
        elif payload == b"fragment-me":
            conn.sendall(
                frame(0x1, b"hello ", fin=False)
                + frame(0x9, b"are you there")
                + frame(0x0, b"wide ", fin=False)
                + frame(0x0, b"world")
            )
        elif payload == b"close-me":
            conn.sendall(frame(0x8, struct.pack("!H", 1001) + b"going away"))
        else:
            conn.sendall(frame(opcode, payload))


def silent_server(conn: socket.socket, stop: threading.Event) -> None:
    read_request(conn)
    idle(stop)


def dripping_server(conn: socket.socket, stop: threading.Event) -> None:
    read_request(conn)
    for byte in b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" * 100:
        if stop.wait(0.05):
            return
        conn.sendall(bytes([byte]))


def huge_header_server(conn: socket.socket, stop: threading.Event) -> None:
    read_request(conn)
    conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nX-Pad: " + b"a" * 40_000)
    idle(stop)


def ok_200_server(conn: socket.socket, stop: threading.Event) -> None:
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello")
    idle(stop)


def wrong_accept_server(conn: socket.socket, stop: threading.Event) -> None:
    read_request(conn)
    conn.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    idle(stop)


def giant_frame_server(conn: socket.socket, stop: threading.Event) -> None:
    handshake(conn)
    read_client_frame(conn)
    conn.sendall(bytes([0x81, 127]) + struct.pack("!Q", GIANT) + b"x" * 10)
    idle(stop)


def flood_server(conn: socket.socket, stop: threading.Event) -> None:
    handshake(conn)
    conn.settimeout(0.2)
    burst = frame(0x1, b"flood") * 1000
    while not stop.is_set():
        try:
            conn.sendall(burst)
        except TimeoutError:
            continue


# -- tests --------------------------------------------------------------------------------
def test_accept_key_matches_the_rfc_example() -> None:
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_echo_round_trip_text_and_json(serve: Callable[[Handler], str]) -> None:
    with ws_connect(serve(echo_server), "/ws", timeout_s=2) as ws:
        ws.send_text("ping")
        assert ws.recv_text() == "ping"
        ws.send_text("héllo ✓" * 100)  # 16-bit length, multi-byte UTF-8
        assert ws.recv_text() == "héllo ✓" * 100
        ws.send_json({"a": [1, 2, {"b": None}]})
        assert ws.recv_json() == {"a": [1, 2, {"b": None}]}
        big = "x" * 70_000  # 64-bit length
        ws.send_text(big)
        assert ws.recv_text() == big


def test_fragmented_message_with_a_ping_inside(serve: Callable[[Handler], str]) -> None:
    pongs.clear()
    with ws_connect(serve(echo_server), "/ws", timeout_s=2) as ws:
        ws.send_text("fragment-me")
        assert ws.recv_text() == "hello wide world"
        ws.send_text("after")
        assert ws.recv_text() == "after"
    assert pongs == [b"are you there"]


def test_server_close_fails_with_its_code(serve: Callable[[Handler], str]) -> None:
    with ws_connect(serve(echo_server), "/ws", timeout_s=2) as ws:
        ws.send_text("close-me")
        with pytest.raises(CheckFailed, match=r"closed the WebSocket \(code 1001"):
            ws.recv_text()
        assert ws.closed


def test_no_handshake_answer_fails_within_the_timeout(serve: Callable[[Handler], str]) -> None:
    url = serve(silent_server)
    start = time.monotonic()
    with pytest.raises(CheckFailed, match=r"/ws \(WebSocket upgrade\): no handshake answer within"):
        ws_connect(url, "/ws", timeout_s=0.5)
    assert time.monotonic() - start < 1.5


def test_dripped_handshake_is_bounded_by_the_deadline(serve: Callable[[Handler], str]) -> None:
    url = serve(dripping_server)
    start = time.monotonic()
    with pytest.raises(CheckFailed, match=r"no handshake answer within 0.6 s; got \d+ bytes"):
        ws_connect(url, "/ws", timeout_s=0.6)
    assert time.monotonic() - start < 1.5


def test_oversized_handshake_answer_is_capped(serve: Callable[[Handler], str]) -> None:
    with pytest.raises(CheckFailed, match="handshake answer exceeded 16384 bytes"):
        ws_connect(serve(huge_header_server), "/ws", timeout_s=2)


def test_200_instead_of_101_fails(serve: Callable[[Handler], str]) -> None:
    with pytest.raises(CheckFailed) as info:
        ws_connect(serve(ok_200_server), "/chat", timeout_s=2)
    message = str(info.value)
    assert "GET /chat (WebSocket upgrade): expected 101 Switching Protocols" in message
    assert "HTTP/1.1 200 OK" in message


def test_wrong_accept_key_fails(serve: Callable[[Handler], str]) -> None:
    with pytest.raises(CheckFailed) as info:
        ws_connect(serve(wrong_accept_server), "/ws", timeout_s=2)
    message = str(info.value)
    assert "sent Sec-WebSocket-Key" in message
    assert "expected Sec-WebSocket-Accept" in message
    assert "dGhlIHNhbXBsZSBub25jZQ==" in message


def test_refused_connection_fails() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        with pytest.raises(CheckFailed, match="connection failed"):
            ws_connect(f"http://127.0.0.1:{port}", "/ws", timeout_s=1)


def test_giant_frame_fails_fast_at_the_cap(serve: Callable[[Handler], str]) -> None:
    with ws_connect(serve(giant_frame_server), "/ws", timeout_s=5) as ws:
        ws.send_text("hi")
        start = time.monotonic()
        with pytest.raises(CheckFailed) as info:
            ws.recv_text()
        # Failing from the header: reading the payload would wait out the 5 s deadline.
        assert time.monotonic() - start < 1
    assert f"frame of {GIANT} bytes" in str(info.value)
    assert "exceeds the 1048576-byte cap" in str(info.value)


def test_fragments_adding_up_past_the_cap_fail(serve: Callable[[Handler], str]) -> None:
    def server(conn: socket.socket, stop: threading.Event) -> None:
        handshake(conn)
        conn.sendall(frame(0x1, b"a" * 600, fin=False) + frame(0x0, b"b" * 600))
        idle(stop)

    with (
        ws_connect(serve(server), "/ws", timeout_s=2, max_message=1000) as ws,
        pytest.raises(CheckFailed, match="exceeds the 1000-byte cap"),
    ):
        ws.recv_text()


def test_flood_returns_the_first_message_and_a_bounded_wait_fails(
    serve: Callable[[Handler], str],
) -> None:
    url = serve(flood_server)
    with ws_connect(url, "/ws", timeout_s=2) as ws:
        assert ws.recv_text() == "flood"

    def check_echo(timeout_s: float) -> None:
        """What a check reading "until the echo" does: one deadline for the whole wait."""
        with ws_connect(url, "/ws", timeout_s=timeout_s) as ws:
            ws.send_text("ping")
            deadline = time.monotonic() + timeout_s
            seen = 0
            while (left := deadline - time.monotonic()) > 0:
                if ws.recv_text(timeout_s=left) == "ping":
                    return
                seen += 1
            fail(f"no echo of 'ping' within {timeout_s:g} s ({seen} other messages)")

    start = time.monotonic()
    with pytest.raises(CheckFailed, match=r"within 1 s"):
        check_echo(1.0)
    assert time.monotonic() - start < 2


def test_recv_times_out_on_a_quiet_server(serve: Callable[[Handler], str]) -> None:
    def server(conn: socket.socket, stop: threading.Event) -> None:
        handshake(conn)
        idle(stop)

    with ws_connect(serve(server), "/ws", timeout_s=2) as ws:
        start = time.monotonic()
        with pytest.raises(CheckFailed, match=r"no message arrived within 0\.3 s"):
            ws.recv_text(timeout_s=0.3)
        assert time.monotonic() - start < 1


def test_masked_or_binary_frames_fail(serve: Callable[[Handler], str]) -> None:
    def server(conn: socket.socket, stop: threading.Event) -> None:
        handshake(conn)
        _, payload = read_client_frame(conn)
        if payload == b"binary":
            conn.sendall(frame(0x2, b"\x00\x01"))
        else:
            conn.sendall(bytes([0x81, 0x82]) + b"abcd" + b"xy")
        idle(stop)

    url = serve(server)
    with ws_connect(url, "/ws", timeout_s=2) as ws:
        ws.send_text("binary")
        with pytest.raises(CheckFailed, match="expected a text message, got a binary one"):
            ws.recv_text()
    with ws_connect(url, "/ws", timeout_s=2) as ws:
        ws.send_text("masked")
        with pytest.raises(CheckFailed, match="masked frame"):
            ws.recv_text()


# -- helpers for the realtime checks: ping, poll, expect_close, raw frames, raw handshakes --------
def pubsub_server(conn: socket.socket, stop: threading.Event) -> None:
    """Echoes text; answers pings after sending a data message first; 'close:N' closes with N;
    'stall' sends nothing for 1 s and then one message."""
    handshake(conn)
    while True:
        opcode, payload = read_client_frame(conn)
        if opcode == 0x8:
            return
        if opcode == 0x9:
            conn.sendall(frame(0x1, b"before-pong") + frame(0xA, payload))
        elif payload.startswith(b"close:"):
            code = int(payload[6:])
            conn.sendall(frame(0x1, b"last words") + frame(0x8, struct.pack("!H", code)))
            return
        elif payload == b"stall":
            if stop.wait(1.0):
                return
            conn.sendall(frame(0x1, b"late"))
        elif payload == b"hangup":
            conn.sendall(frame(0x1, b"bye"))
            conn.shutdown(socket.SHUT_RDWR)
            return
        elif payload == b"silent-ping":
            pass  # never answers
        else:
            conn.sendall(frame(0x1, b"echo:" + bytes([opcode]) + payload))


def test_ping_waits_for_its_pong_and_keeps_data_for_later(serve):
    with ws_connect(serve(pubsub_server), "/ws", timeout_s=2) as ws:
        rtt = ws.ping(b"p1")
        assert 0 <= rtt < 2
        assert ws.recv_text() == "before-pong"


def mute_server(conn: socket.socket, stop: threading.Event) -> None:
    handshake(conn)
    idle(stop)


def test_ping_without_pong_fails_in_bounded_time(serve):
    with ws_connect(serve(mute_server), "/ws", timeout_s=2) as ws:
        start = time.monotonic()
        with pytest.raises(CheckFailed, match="no pong answered the ping"):
            ws.ping(b"x", timeout_s=0.4)
        assert time.monotonic() - start < 1.5


def test_poll_message_returns_none_when_nothing_arrives_and_the_message_when_one_does(serve):
    with ws_connect(serve(pubsub_server), "/ws", timeout_s=3) as ws:
        ws.send_text("stall")
        start = time.monotonic()
        assert ws.poll_message(0.3) is None
        assert 0.25 < time.monotonic() - start < 1.0
        got = ws.poll_message(2.0)
        assert got == (0x1, b"late")


def test_expect_close_returns_the_code_and_the_messages_before_it(serve):
    with ws_connect(serve(pubsub_server), "/ws", timeout_s=2) as ws:
        ws.send_text("close:4008")
        code, messages = ws.expect_close(2)
        assert code == 4008
        assert messages == [(0x1, b"last words")]
        assert ws.closed


def test_expect_close_reports_none_for_a_hang_up_without_close_frame(serve):
    with ws_connect(serve(pubsub_server), "/ws", timeout_s=2) as ws:
        ws.send_text("hangup")
        code, messages = ws.expect_close(2)
        assert code is None
        assert messages == [(0x1, b"bye")]


def test_expect_close_fails_in_bounded_time_when_the_server_keeps_it_open(serve):
    with ws_connect(serve(pubsub_server), "/ws", timeout_s=2) as ws:
        ws.send_text("silent-ping")
        start = time.monotonic()
        with pytest.raises(CheckFailed, match="did not close the connection"):
            ws.expect_close(0.4)
        assert time.monotonic() - start < 1.5


def test_send_frame_sends_fragments_and_binary(serve):
    with ws_connect(serve(pubsub_server), "/ws", timeout_s=2) as ws:
        ws.send_frame(0x2, b"\x00\x01")
        assert ws.recv_message() == (0x1, b"echo:\x02\x00\x01")


def test_handshake_answer_reports_status_and_headers(serve):
    url = serve(ok_200_server)
    status, headers = graders_ws.handshake_answer(url, "/ws", {"Connection": "keep-alive"})
    assert status == 200
    assert headers["content-length"] == "5"


def test_handshake_answer_is_bounded_by_its_deadline(serve):
    url = serve(silent_server)
    start = time.monotonic()
    with pytest.raises(CheckFailed, match="no handshake answer within"):
        graders_ws.handshake_answer(url, "/ws", {}, timeout_s=0.4)
    assert time.monotonic() - start < 1.5


def test_recv_buffer_is_set_before_connecting(serve):
    with ws_connect(serve(pubsub_server), "/ws", timeout_s=2, recv_buffer=4096) as ws:
        got = ws._sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        assert got <= 16384  # Linux doubles the request; the default is far larger
