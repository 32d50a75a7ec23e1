"""Listening TCP sockets, read from ``/proc/net/tcp`` and ``tcp6`` of a network namespace.

Both the grader (inside the pod) and the runner (through the pod's holder) ask who listens on
which port: the runner to know sidecars are up and to catch a candidate posing as them, the
grader before it binds the load generator's port.
"""

from __future__ import annotations

from pathlib import Path

TCP_LISTEN = "0A"
PROC_FILES = ("/proc/net/tcp", "/proc/net/tcp6")


def parse_listeners(text: str) -> dict[int, set[int]]:
    """Port -> uids of the sockets listening on it, from the text of /proc/net/tcp{,6}."""
    out: dict[int, set[int]] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) > 7 and parts[3] == TCP_LISTEN and parts[7].isdigit():
            out.setdefault(int(parts[1].rsplit(":", 1)[1], 16), set()).add(int(parts[7]))
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
