"""Completes the WebSocket handshake on /ws, then floods small text frames and pings endlessly,
never reading what the client sends (so its pongs back up too). Other routes are fine."""

import base64
import hashlib

import app

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
BURST = (b"\x81\x05flood" + b"\x89\x01x") * 2000


class Flood(app.Handler):
    def do_GET(self):
        if self.path != "/ws":
            return super().do_GET()
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.close_connection = True
        try:
            while True:
                self.wfile.write(BURST)
        except OSError:
            return


app.serve(Flood)
