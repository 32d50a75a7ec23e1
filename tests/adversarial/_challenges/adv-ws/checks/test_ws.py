import time

import pytest

from graders import fail, ws_connect

ECHO_S = 3.0


@pytest.mark.points(2)
@pytest.mark.skill("basics")
def test_ws_echo(service_url):
    """A WebSocket on /ws echoes a text message."""
    with ws_connect(service_url, "/ws", timeout_s=ECHO_S) as ws:
        ws.send_text("ping")
        # Other messages may come first; the whole wait for the echo has one deadline.
        deadline = time.monotonic() + ECHO_S
        others = 0
        last = ""
        while (left := deadline - time.monotonic()) > 0:
            message = ws.recv_text(timeout_s=left)
            if message == "ping":
                return
            others += 1
            last = message
        fail(
            f"WebSocket /ws: sent 'ping', no echo within {ECHO_S:g} s "
            f"({others} other messages, the last {last[:80]!r})"
        )
