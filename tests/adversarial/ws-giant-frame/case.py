"""Completes the WebSocket handshake on /ws, then answers with a frame declaring 8 GiB and
streams zeros after it for as long as anyone reads. Other routes are fine."""

import base64
import hashlib
import struct

import app

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
ZEROS = b"\0" * 65536


class GiantFrame(app.Handler):
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
            self.rfile.read(2)  # the start of the client's first frame
            self.wfile.write(b"\x81\x7f" + struct.pack("!Q", 8 << 30))
            while True:
                self.wfile.write(ZEROS)
        except OSError:
            return


app.serve(GiantFrame)
