"""The pod: one network namespace, no route out, holding the candidate, sidecars and grader.

As in a Kubernetes pod, a tiny *holder* container owns the namespace (``network_mode=none``:
only ``lo``); the candidate, each sidecar and the grader join it with
``network_mode=container:<holder>``. So every request travels over loopback inside the sandbox,
the candidate can reach nothing else, and a crashed candidate does not take the namespace (and
the grader's view of it) down with it.

Everything carries ``assess.managed=true``, the run id, the owner's pid and host, and is
removed on every exit path; :func:`collect_garbage` removes what a killed run left.
"""

from __future__ import annotations

import collections
import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from graders.procnet import PROC_FILES, parse_listeners
from runner.errors import InfraError
from runner.images import BASE_TAG, LABEL_MANAGED

LABEL_RUN = "assess.run"
LABEL_ROLE = "assess.role"
LABEL_PID = "assess.owner-pid"
LABEL_HOST = "assess.owner-host"
LOG_MAX_SIZE = "8m"  # the log driver drops the rest: a log flood cannot fill the disk
LOG_KEEP_BYTES = 16 * 1024


def docker_client() -> Any:
    """A docker-py client, or InfraError saying how to get an engine."""
    import docker
    import docker.errors

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except docker.errors.DockerException as exc:
        raise InfraError(
            f"cannot reach the Docker engine ({exc.__class__.__name__}); "
            "start it with `scripts/setup` or `dockerd &`"
        ) from None
    return client


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


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
        self._stream: Any = None
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="log-tap", daemon=True)

    def start(self) -> LogTap:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self._stream = self.container.logs(stream=True, follow=True, stdout=True, stderr=True)
            if self._closed.is_set():
                self._stream.close()
            for chunk in self._stream:
                self._add(chunk)
        except Exception:  # closed under us, or the container is gone
            pass

    def _add(self, chunk: bytes) -> None:
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
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start_thread(self) -> None:
        self._thread = threading.Thread(target=self._run, name="stats", daemon=True)
        self._thread.start()

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


@dataclass(frozen=True)
class Limits:
    cpus: float = 1.0
    memory_mb: int = 512
    pids: int = 256
    tmpfs_mb: int = 64


class Pod:
    """The sandbox of one run. Use as a context manager: teardown happens on every exit."""

    def __init__(
        self, client: Any, run_id: str | None = None, *, runtime: str | None = None
    ) -> None:
        self.client = client
        self.run_id = run_id or new_run_id()
        self.runtime = runtime
        self.containers: dict[str, Any] = {}

    def __enter__(self) -> Pod:
        return self

    def __exit__(self, *exc: object) -> None:
        self.teardown()

    def labels(self, role: str) -> dict[str, str]:
        return {
            LABEL_MANAGED: "true",
            LABEL_RUN: self.run_id,
            LABEL_ROLE: role,
            LABEL_PID: str(os.getpid()),
            LABEL_HOST: socket.gethostname(),
        }

    def _run(self, role: str, image: str, **kw: Any) -> Any:
        import docker.errors

        kw.setdefault(
            "log_config",
            {"type": "json-file", "config": {"max-size": LOG_MAX_SIZE, "max-file": "1"}},
        )
        if self.runtime:
            kw.setdefault("runtime", self.runtime)
        try:
            container = self.client.containers.create(
                image,
                name=f"assess-{self.run_id}-{role}",
                labels=self.labels(role),
                detach=True,
                **kw,
            )
        except docker.errors.ImageNotFound:
            raise InfraError(f"image {image} is missing; run `assess images build`") from None
        except docker.errors.APIError as exc:
            raise InfraError(
                f"cannot create the {role} container: {exc.explanation or exc}"
            ) from None
        self.containers[role] = container
        return container

    @property
    def netns(self) -> str:
        return f"container:{self.containers['holder'].id}"

    def start_holder(self) -> Any:
        holder = self._run(
            "holder",
            BASE_TAG,
            command=["sleep", "infinity"],
            network_mode="none",
            mem_limit="16m",
            pids_limit=8,
            cap_drop=["ALL"],
            read_only=True,
            security_opt=["no-new-privileges"],
            user="65534:65534",
        )
        holder.start()
        return holder

    def start_candidate(
        self, image: str, env: dict[str, str], limits: Limits, command: list[str] | None = None
    ) -> Any:
        config_user = (self.client.images.get(image).attrs.get("Config") or {}).get("User") or ""
        user = config_user if config_user not in ("", "root", "0", "0:0") else "65534:65534"
        mem = f"{limits.memory_mb}m"
        candidate = self._run(
            "candidate",
            image,
            command=command,
            network_mode=self.netns,
            environment=env,
            mem_limit=mem,
            memswap_limit=mem,
            nano_cpus=int(limits.cpus * 1e9),
            pids_limit=limits.pids,
            read_only=True,
            tmpfs={"/tmp": f"rw,nosuid,nodev,size={limits.tmpfs_mb}m,mode=1777"},
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            user=user,
            ulimits=[{"Name": "nofile", "Soft": 4096, "Hard": 4096}],
        )
        candidate.start()
        return candidate

    def start_helper(
        self,
        role: str,
        image: str,
        *,
        command: list[str],
        archive: bytes,
        env: dict[str, str],
        cpus: float = 1.0,
        memory_mb: int = 1024,
    ) -> Any:
        """Start a grader or sidecar: our code, copied in before start (no host mounts)."""
        container = self._run(
            role,
            image,
            command=command,
            network_mode=self.netns,
            environment=env,
            mem_limit=f"{memory_mb}m",
            memswap_limit=f"{memory_mb}m",
            nano_cpus=int(cpus * 1e9),
            pids_limit=512,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
        )
        container.put_archive("/", archive)
        container.start()
        return container

    def listeners(self) -> dict[int, set[int]]:
        """Listening TCP ports of the pod and the uids owning them (our helpers run as 0, the
        candidate never does): how an impersonator is told apart from the real listener."""
        holder = self.containers["holder"]
        result = holder.exec_run(["cat", *PROC_FILES], user="65534:65534")
        return parse_listeners(result.output.decode(errors="replace"))

    def listening_ports(self) -> set[int]:
        return set(self.listeners())

    def state(self, role: str) -> dict[str, Any]:
        container = self.containers[role]
        try:
            container.reload()
        except Exception:
            return {"Status": "removed"}
        return dict(container.attrs.get("State") or {})

    def teardown(self) -> None:
        errors = []
        for role, container in reversed(list(self.containers.items())):
            try:
                container.remove(force=True, v=True)
            except Exception as exc:
                if "No such container" not in str(exc) and "already in progress" not in str(exc):
                    errors.append(f"{role}: {exc}")
        self.containers.clear()
        # Anything else of this run (a container created while we were interrupted).
        remove_by_label(self.client, f"{LABEL_RUN}={self.run_id}")
        if errors:
            raise InfraError("teardown failed: " + "; ".join(errors))


def remove_by_label(client: Any, label: str) -> int:
    removed = 0
    for container in client.containers.list(
        all=True, ignore_removed=True, filters={"label": label}
    ):
        try:
            container.remove(force=True, v=True)
            removed += 1
        except Exception:
            pass
    for network in client.networks.list(filters={"label": label}):
        with contextlib.suppress(Exception):
            network.remove()
    for volume in client.volumes.list(filters={"label": label}):
        with contextlib.suppress(Exception):
            volume.remove(force=True)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def leftovers(client: Any, *, all_runs: bool = False) -> Iterator[Any]:
    """Containers of runs whose owner process is gone (all of ours with ``all_runs``)."""
    here = socket.gethostname()
    for c in client.containers.list(
        all=True, ignore_removed=True, filters={"label": f"{LABEL_MANAGED}=true"}
    ):
        labels = c.labels or {}
        if LABEL_RUN not in labels:
            # A legacy build's step container inherits the build's labels but no run id: it
            # may be a live build of another process, so only --all takes it.
            if all_runs:
                yield c
            continue
        pid = labels.get(LABEL_PID, "")
        dead = labels.get(LABEL_HOST) == here and pid.isdigit() and not _alive(int(pid))
        if all_runs or dead:
            yield c


def collect_garbage(client: Any, *, all_runs: bool = False) -> int:
    """Remove leftovers of crashed or killed runs; return how many containers went."""
    removed = 0
    for c in list(leftovers(client, all_runs=all_runs)):
        try:
            c.remove(force=True, v=True)
            removed += 1
        except Exception:
            pass
    if all_runs:
        remove_by_label(client, f"{LABEL_MANAGED}=true")
    return removed
