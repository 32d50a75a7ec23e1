"""A raw socket server: valid HTTP for /healthz, garbage for everything else."""
import os
import socket
import threading

GARBAGE = [
    b"HELLO THERE\r\n\r\n",
    b"HTTP/1.1 abc Nope\r\nContent-Length: 2\r\n\r\nhi",
    b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"X-Long: " + b"a" * 200_000 + b"\r\n\r\n",
    b"\x00\xff\xfe\x01" * 64,
]
count = 0


def handle(conn):
    global count
    with conn:
        data = b""
        while b"\r\n\r\n" not in data:
            part = conn.recv(4096)
            if not part:
                return
            data += part
        if data.startswith(b"GET /healthz "):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}")
            return
        reply = GARBAGE[count % len(GARBAGE)]
        count += 1
        try:
            conn.sendall(reply)
        except OSError:
            pass


srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", int(os.environ.get("PORT", "8080"))))
srv.listen(64)
while True:
    c, _ = srv.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
