"""What the host watches of a running container: its output (LogTap, capture_logs) and its
CPU, memory and pids (StatsSampler). The pod's OOM counter stands in pod.py, beside the cgroup
readings it shares with the socket ownership checks.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any

LOG_KEEP_BYTES = 16 * 1024
RECENT_BYTES = 1 << 20  # what a check may read of the service's own output (service_log)


@dataclass
class CapturedLog:
    """Head and tail of a container's output, and how much was dropped between them."""

    head: str = ""
    tail: str = ""
    total_bytes: int = 0
    dropped_bytes: int = 0

    @property
    def text(self) -> str:
        if not self.dropped_bytes:
            return self.head + self.tail
        return f"{self.head}\n[... {self.dropped_bytes} bytes dropped ...]\n{self.tail}"


def capture_logs(container: Any, keep: int = LOG_KEEP_BYTES) -> CapturedLog:
    head = bytearray()
    tail: collections.deque[bytes] = collections.deque()
    tail_size = total = 0
    try:
        for chunk in container.logs(stream=True, follow=False, stdout=True, stderr=True):
            total += len(chunk)
            if len(head) < keep:
                take = chunk[: keep - len(head)]
                head += take
                chunk = chunk[len(take) :]
            if chunk:
                tail.append(chunk)
                tail_size += len(chunk)
                while tail and tail_size - len(tail[0]) >= keep:
                    tail_size -= len(tail.popleft())
    except Exception:  # the container may be gone: a log is best effort
        pass
    tail_bytes = b"".join(tail)[-keep:]
    dropped = max(0, total - len(head) - len(tail_bytes))
    return CapturedLog(
        head.decode("utf-8", "replace"), tail_bytes.decode("utf-8", "replace"), total, dropped
    )


class LogTap:
    """Follows a container's output from its start: the true head, a rolling tail, a count.

    The log driver keeps only the last LOG_MAX_SIZE, so after a flood a capture at the end
    would have lost the head (the service's first words) and could not tell how much was
    written. The count is a lower bound when the engine rotates faster than we read.
    """

    def __init__(self, container: Any, keep: int = LOG_KEEP_BYTES) -> None:
        self.container = container
        self.keep = keep
        self.head = bytearray()
        self.tail: collections.deque[bytes] = collections.deque()
        self.tail_size = 0
        self.total = 0
        # The last RECENT_BYTES, for checks that read the service's own logs (service_log).
        self.recent: collections.deque[bytes] = collections.deque()
        self.recent_size = 0
        self._lock = threading.Lock()
        self._stream: Any = None
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="log-tap", daemon=True)

    def start(self) -> LogTap:
        self._thread.start()
        return self

    def resume(self, since: float) -> None:
        """Follow again after the container was restarted (its old stream ended with it);
        ``since`` (host clock) keeps the output before the restart from being read twice."""
        self._thread.join(2.0)
        if self._closed.is_set():
            return
        self._thread = threading.Thread(
            target=self._run, args=(since,), name="log-tap", daemon=True
        )
        self._thread.start()

    def _run(self, since: float | None = None) -> None:
        try:
            kw: dict[str, Any] = {"since": since} if since else {}
            self._stream = self.container.logs(
                stream=True, follow=True, stdout=True, stderr=True, **kw
            )
            if self._closed.is_set():
                self._stream.close()
            for chunk in self._stream:
                self._add(chunk)
        except Exception:  # closed under us, or the container is gone
            pass

    def recent_bytes(self) -> bytes:
        """The service's latest output, at most RECENT_BYTES (whole lines where it was cut)."""
        with self._lock:
            data = b"".join(self.recent)[-RECENT_BYTES:]
        if len(data) == RECENT_BYTES and b"\n" in data:
            data = data[data.index(b"\n") + 1 :]
        return data

    def _add(self, chunk: bytes) -> None:
        with self._lock:
            self.recent.append(chunk)
            self.recent_size += len(chunk)
            while self.recent and self.recent_size - len(self.recent[0]) >= RECENT_BYTES:
                self.recent_size -= len(self.recent.popleft())
        self.total += len(chunk)
        if len(self.head) < self.keep:
            take = chunk[: self.keep - len(self.head)]
            self.head += take
            chunk = chunk[len(take) :]
        if chunk:
            self.tail.append(chunk)
            self.tail_size += len(chunk)
            while self.tail and self.tail_size - len(self.tail[0]) >= self.keep:
                self.tail_size -= len(self.tail.popleft())

    def finish(self) -> CapturedLog:
        """Stop following; the whole log when it is small, else head + tail + the count."""
        self._thread.join(0.5)  # an exited container's stream drains and ends by itself
        self._closed.set()
        with contextlib.suppress(Exception):
            if self._stream is not None:
                self._stream.close()
        self._thread.join(2.0)
        if self.total <= 2 * self.keep:
            return capture_logs(self.container, self.keep)  # exact and complete
        tail_bytes = b"".join(list(self.tail))[-self.keep :]
        head = bytes(self.head)
        dropped = max(0, self.total - len(head) - len(tail_bytes))
        return CapturedLog(
            head.decode("utf-8", "replace"),
            tail_bytes.decode("utf-8", "replace"),
            self.total,
            dropped,
        )


@dataclass
class Sample:
    t: float
    cpu_s: float
    mem_mb: float
    pids: int


@dataclass
class StatsSampler:
    """Samples a container's CPU, memory and pids from the stats API about once a second."""

    container: Any
    start: float = field(default_factory=time.monotonic)
    samples: list[Sample] = field(default_factory=list)
    peak_mem_mb: float = 0.0
    peak_pids: int = 0
    _raw_cpu: float = 0.0  # the engine's last figure (ns), and the CPU of earlier processes
    _cpu_offset: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start_thread(self) -> None:
        self._thread = threading.Thread(target=self._run, name="stats", daemon=True)
        self._thread.start()

    def resume(self) -> None:
        """Sample again after the container was restarted (the stats stream ends with it).
        The new cgroup counts CPU from 0: :meth:`record` adds what came before."""
        if self._thread is not None and self._thread.is_alive():
            return
        self.start_thread()

    def _run(self) -> None:
        try:
            for stat in self.container.stats(stream=True, decode=True):
                self.record(stat)
                if self._stop.is_set():
                    return
        except Exception:  # the container stopped: sampling ends with it
            return

    def record(self, stat: dict[str, Any]) -> None:
        mem = stat.get("memory_stats") or {}
        cpu = ((stat.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage")
        if cpu is None:
            return
        if cpu < self._raw_cpu:  # restarted: a new cgroup counts from 0
            self._cpu_offset += self._raw_cpu
        self._raw_cpu = float(cpu)
        cpu = float(cpu) + self._cpu_offset
        usage = float(mem.get("usage", 0))
        peak = float(mem.get("max_usage", usage))  # cgroup v1 keeps the true peak
        pids = int((stat.get("pids_stats") or {}).get("current", 0) or 0)
        self.peak_mem_mb = max(self.peak_mem_mb, peak / 2**20)
        self.peak_pids = max(self.peak_pids, pids)
        self.samples.append(
            Sample(
                round(time.monotonic() - self.start, 2), cpu / 1e9, round(usage / 2**20, 2), pids
            )
        )

    def stop(self) -> None:
        self._stop.set()

    @property
    def cpu_s(self) -> float:
        return self.samples[-1].cpu_s if self.samples else 0.0
