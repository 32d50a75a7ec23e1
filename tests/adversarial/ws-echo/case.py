"""A correct WebSocket echo on /ws (stdlib only) next to the tiny reference's routes."""

import base64
import hashlib
import struct

import app

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(opcode, payload):
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, n])
    elif n < 1 << 16:
        head = bytes([0x80 | opcode, 126]) + struct.pack("!H", n)
    else:
        head = bytes([0x80 | opcode, 127]) + struct.pack("!Q", n)
    return head + payload


class WsEcho(app.Handler):
    def do_GET(self):
        if self.path != "/ws" or self.headers.get("Upgrade", "").lower() != "websocket":
            return super().do_GET()
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        self.echo()

    def read(self, n):
        data = self.rfile.read(n)
        if len(data) < n:
            raise ConnectionError("client went away")
        return data

    def echo(self):
        message, first = b"", None
        try:
            while True:
                b0, b1 = self.read(2)
                n = b1 & 0x7F
                if n == 126:
                    (n,) = struct.unpack("!H", self.read(2))
                elif n == 127:
                    (n,) = struct.unpack("!Q", self.read(8))
                if n > 1 << 20:
                    return
                mask = self.read(4) if b1 & 0x80 else b"\0\0\0\0"
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self.read(n)))
                opcode = b0 & 0x0F
                if opcode == 0x8:
                    self.wfile.write(frame(0x8, payload[:2]))
                    return
                if opcode == 0x9:
                    self.wfile.write(frame(0xA, payload))
                    continue
                if opcode == 0xA:
                    continue
                if opcode != 0x0:
                    first = opcode
                message += payload
                if b0 & 0x80:
                    self.wfile.write(frame(first, message))
                    message = b""
        except (OSError, ConnectionError, ValueError):
            return


app.serve(WsEcho)
