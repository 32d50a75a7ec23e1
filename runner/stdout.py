"""Standard output that survives its reader going away (``assess run ... | head``).

When the reader of a pipe exits, every later write fails with EPIPE (Python ignores SIGPIPE).
A run must not die of it halfway: the results and report files are still written. The first
failed write points the stream's descriptor at /dev/null, so later writes, and the
interpreter's last flush at exit, go nowhere quietly.
"""

from __future__ import annotations

import errno
import io
import os
import sys
from typing import TextIO


class PipeSafe(io.TextIOBase):
    """A text stream that turns a closed reader into a no-op instead of an exception."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream
        self.broken = False

    def _gone(self) -> None:
        self.broken = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, io.UnsupportedOperation):
            pass  # not a real descriptor (a test's buffer): dropping writes is enough

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                self.stream.write(text)
                self.stream.flush()
            except BrokenPipeError:
                self._gone()
            except OSError as exc:
                if exc.errno != errno.EPIPE:
                    raise
                self._gone()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self.stream.flush()
            except (BrokenPipeError, ValueError):
                self._gone()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", "utf-8")

    def writable(self) -> bool:
        return True


def protect_stdout() -> PipeSafe:
    """Make ``sys.stdout`` pipe-safe (idempotent); return it."""
    if not isinstance(sys.stdout, PipeSafe):
        sys.stdout = PipeSafe(sys.stdout)
    return sys.stdout
