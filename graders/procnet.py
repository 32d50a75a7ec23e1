"""Listening TCP sockets, read from ``/proc/net/tcp`` and ``tcp6`` of a network namespace.

Both the grader (inside the pod) and the runner (through the pod's holder) ask who listens on
which port: the runner to know sidecars are up and to tell which container owns each listening
socket (by matching socket inodes to processes' ``socket:[inode]`` descriptors), the grader
before it binds the load generator's port.
"""

from __future__ import annotations

import itertools
import os
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

TCP_LISTEN = "0A"
PROC_FILES = ("/proc/net/tcp", "/proc/net/tcp6")
# A service with more listening sockets than this is flooding the table to hide a squatter.
MAX_LISTEN_LINES = 20_000
MAX_LINE_BYTES = 512


@dataclass(frozen=True)
class ListenSocket:
    port: int
    uid: int
    inode: int


class TooManyListeners(Exception):
    """More than MAX_LISTEN_LINES listening sockets in one table."""


def parse_listen_sockets(text: str) -> list[ListenSocket]:
    """Every LISTEN row of /proc/net/tcp{,6} text: port, owning uid, socket inode."""
    out = []
    for line in text.splitlines():
        sock = _listen_row(line)
        if sock is not None:
            out.append(sock)
    return out


def _listen_row(line: str) -> ListenSocket | None:
    parts = line.split()
    if len(parts) > 9 and parts[3] == TCP_LISTEN and parts[7].isdigit() and parts[9].isdigit():
        port = int(parts[1].rsplit(":", 1)[1], 16)
        return ListenSocket(port, int(parts[7]), int(parts[9]))
    return None


def parse_listeners(text: str) -> dict[int, set[int]]:
    """Port -> uids of the sockets listening on it, from the text of /proc/net/tcp{,6}."""
    out: dict[int, set[int]] = {}
    for sock in parse_listen_sockets(text):
        out.setdefault(sock.port, set()).add(sock.uid)
    return out


def read_listen_sockets(paths: Iterable[str | Path]) -> list[ListenSocket]:
    """The LISTEN rows of the given /proc/net/tcp{,6} files, read cheaply and bounded.

    The kernel lists the listening hash before any other socket, so reading stops at the first
    row that is not LISTEN: a service holding a million connections costs nothing here. More
    than MAX_LISTEN_LINES listening rows raises TooManyListeners (a flood that would hide a
    squatter past any cap). A missing file (no IPv6) is skipped.
    """
    out: list[ListenSocket] = []
    for path in paths:
        try:
            fh = open(path, "rb")  # noqa: SIM115 - closed below; the with form hides the break
        except FileNotFoundError:
            continue
        with fh:
            fh.readline(MAX_LINE_BYTES)  # header
            rows = 0
            while True:
                raw = fh.readline(MAX_LINE_BYTES)
                if not raw:
                    break
                sock = _listen_row(raw.decode("ascii", "replace"))
                if sock is None:
                    break
                rows += 1
                if rows > MAX_LISTEN_LINES:
                    raise TooManyListeners(f"more than {MAX_LISTEN_LINES} listening sockets")
                out.append(sock)
    return out


NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST_DUMP = 0x1 | 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
TCP_LISTEN_STATE = 10
_NLMSG = struct.Struct("=IHHII")
_REQ = struct.Struct("=BBBBI48s")  # inet_diag_req_v2: family, protocol, ext, pad, states, id
_MSG = struct.Struct("=BBBB2s2s16s16sI8sIIIII")  # inet_diag_msg
_SEQ = itertools.count(1)  # a reply to an abandoned request is told apart by its number


def diag_listen_sockets(sock: socket.socket) -> list[ListenSocket]:
    """The LISTEN TCP sockets (IPv4 and IPv6) of the netlink ``sock``'s network namespace.

    ``sock`` is a NETLINK_SOCK_DIAG socket created in that namespace. Asking for LISTEN only,
    the kernel walks the listening hash alone: unlike reading /proc/net/tcp, whose every read
    walks the whole (machine-wide) established hash, the cost does not grow with the machine.
    Raises OSError on a netlink error or a reply that does not arrive within the socket's
    timeout, TooManyListeners past MAX_LISTEN_LINES.
    """
    out: list[ListenSocket] = []
    for family in (socket.AF_INET, socket.AF_INET6):
        seq = next(_SEQ) & 0xFFFFFFFF
        req = _REQ.pack(family, socket.IPPROTO_TCP, 0, 0, 1 << TCP_LISTEN_STATE, b"")
        sock.send(
            _NLMSG.pack(_NLMSG.size + len(req), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST_DUMP, seq, 0)
            + req
        )
        done = False
        while not done:
            data = sock.recv(1 << 16)
            offset = 0
            while offset + _NLMSG.size <= len(data):
                length, kind, _, rseq, _ = _NLMSG.unpack_from(data, offset)
                if length < _NLMSG.size:
                    raise OSError("sock_diag: malformed reply")
                body = offset + _NLMSG.size
                offset += (length + 3) & ~3
                if rseq != seq:
                    continue  # a late reply to an earlier, abandoned request
                if kind == NLMSG_DONE:
                    done = True
                    break
                if kind == NLMSG_ERROR:
                    (errno,) = struct.unpack_from("=i", data, body)
                    raise OSError(-errno, "sock_diag request failed")
                if kind != SOCK_DIAG_BY_FAMILY or body + _MSG.size > len(data):
                    continue
                fields = _MSG.unpack_from(data, body)
                if fields[1] != TCP_LISTEN_STATE:
                    continue
                port = int.from_bytes(fields[4], "big")
                out.append(ListenSocket(port, fields[13], fields[14]))
                if len(out) > 2 * MAX_LISTEN_LINES:
                    raise TooManyListeners(f"more than {2 * MAX_LISTEN_LINES} listening sockets")
    return out


def socket_inodes(pid: int, proc: str = "/proc", budget: list[int] | None = None) -> set[int]:
    """Inodes of the sockets process ``pid`` holds open (``/proc/<pid>/fd`` links).

    ``budget`` is a one-item list of how many descriptors may still be read; it is decremented
    and reading stops at zero, so a process with thousands of descriptors cannot make a caller
    polling twice a second slow. A process that vanished meanwhile holds nothing.
    """
    out: set[int] = set()
    fd_dir = f"{proc}/{pid}/fd"
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return out
    for name in names:
        if budget is not None:
            if budget[0] <= 0:
                break
            budget[0] -= 1
        try:
            link = os.readlink(f"{fd_dir}/{name}")
        except OSError:
            continue
        if link.startswith("socket:[") and link.endswith("]"):
            out.add(int(link[8:-1]))
    return out


def local_listeners() -> dict[int, set[int]]:
    """The listeners of this process's own network namespace."""
    text = ""
    for name in PROC_FILES:
        try:
            text += Path(name).read_text()
        except OSError:
            continue
    return parse_listeners(text)
