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
import io
import os
import socket
import tarfile
import threading
import time
import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from graders.procnet import (
    MAX_LISTEN_LINES,
    NETLINK_SOCK_DIAG,
    PROC_FILES,
    ListenSocket,
    TooManyListeners,
    diag_listen_sockets,
    parse_listen_sockets,
    parse_listeners,
    read_listen_sockets,
    socket_inodes,
)
from runner.attribution import RECHECK_DELAYS_S, decide, enough, findings
from runner.errors import InfraError
from runner.images import BASE_TAG, LABEL_MANAGED

LABEL_RUN = "assess.run"
LABEL_ROLE = "assess.role"
LABEL_PID = "assess.owner-pid"
LABEL_HOST = "assess.owner-host"
LOG_MAX_SIZE = "8m"  # the log driver drops the rest: a log flood cannot fill the disk
LOG_KEEP_BYTES = 16 * 1024
RECENT_BYTES = 1 << 20  # what a check may read of the service's own output (service_log)
MAX_INTEGRITY_NOTES = 10  # distinct uncertain findings kept per grading
CANDIDATE_FD_BUDGET = 20_000  # descriptors of the candidate read per listener_owners call


def docker_client() -> Any:
    """A docker-py client, or InfraError saying how to get an engine."""
    import docker
    import docker.errors

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except docker.errors.DockerException as exc:
        raise InfraError(engine_message(exc)) from None
    return client


def engine_message(exc: BaseException) -> str:
    """Why the engine is unreachable, naming the address tried and the ways to start one (a
    pip-installed user has no scripts/setup)."""
    where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock (the default)"
    cause = str(exc).splitlines()[0][:200] if str(exc) else exc.__class__.__name__
    return (
        f"cannot reach the Docker engine at {where}: {cause}; start one "
        "(Docker Desktop, `sudo systemctl start docker`, or `sudo dockerd &`), or point "
        "DOCKER_HOST at it; from a checkout, `scripts/setup` installs and starts one"
    )


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


# -- who the candidate runs as ---------------------------------------------------------------

NOBODY = 65534
MAX_ETC_FILE_BYTES = 1 << 20  # /etc/passwd and /etc/group: more than this is not a real one
MAX_ID = 2**32 - 2


def parse_passwd(text: str) -> list[tuple[str, int, int]]:
    """(name, uid, gid) of each well-formed /etc/passwd line, in file order."""
    out = []
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 4 and parts[2].isdigit() and parts[3].isdigit():
            out.append((parts[0], int(parts[2]), int(parts[3])))
    return out


def parse_group(text: str) -> list[tuple[str, int]]:
    """(name, gid) of each well-formed /etc/group line, in file order."""
    out = []
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 3 and parts[2].isdigit():
            out.append((parts[0], int(parts[2])))
    return out


def resolve_user_spec(spec: str, passwd: str | None, group: str | None) -> str:
    """The numeric ``uid:gid`` a Docker ``USER`` spec runs as, never 0 for either.

    Mirrors runc: a numeric user is looked up by uid, a name by name; without a group the
    passwd entry's gid is used, and a numeric uid with no entry gets gid 0. uid 0 or gid 0,
    however spelled (``root:root``, ``0:1000``, a ``toor`` alias of uid 0, a group of gid 0),
    become 65534; a name that cannot be resolved (missing or unreadable files) runs as
    65534:65534. An explicit numeric ``uid:gid`` also drops supplementary groups (runc adds
    them only for the implicit form), so membership of group 0 in /etc/group is dropped too.
    """
    spec = spec.strip()
    user_arg, _, group_arg = spec.partition(":")
    users = parse_passwd(passwd or "")
    entry: tuple[str, int, int] | None = None
    if user_arg.isdigit():
        uid = int(user_arg)
        entry = next((u for u in users if u[1] == uid), None)
    elif user_arg:
        entry = next((u for u in users if u[0] == user_arg), None)
        if entry is None:
            return f"{NOBODY}:{NOBODY}"
        uid = entry[1]
    else:
        uid = 0  # no USER: root
    gid = entry[2] if entry is not None else 0
    if group_arg.isdigit():
        gid = int(group_arg)
    elif group_arg:
        found = next((g for g in parse_group(group or "") if g[0] == group_arg), None)
        if found is None:
            return f"{NOBODY}:{NOBODY}"
        gid = found[1]
    uid = NOBODY if uid == 0 or uid > MAX_ID else uid
    gid = NOBODY if gid == 0 or gid > MAX_ID else gid
    return f"{uid}:{gid}"


def _read_image_file(container: Any, path: str, hops: int = 3) -> str | None:
    """A small regular file of a created (never started) container, following symlinks as the
    container would see them; None when absent, too big, or not a file."""
    import docker.errors

    for _ in range(hops + 1):
        try:
            stream, stat = container.get_archive(path)
        except docker.errors.APIError:  # absent (a scratch image), or unreadable: unresolved
            return None
        if int(stat.get("size") or 0) > MAX_ETC_FILE_BYTES:
            return None
        buf = bytearray()
        for chunk in stream:
            buf += chunk
            if len(buf) > MAX_ETC_FILE_BYTES + 64 * 1024:  # the file and its tar headers
                return None
        with tarfile.open(fileobj=io.BytesIO(bytes(buf))) as tar:
            member = tar.next()
            if member is None:
                return None
            if member.issym():
                target = member.linkname
                path = target if target.startswith("/") else f"{os.path.dirname(path)}/{target}"
                continue
            if not member.isreg() or member.size > MAX_ETC_FILE_BYTES:
                return None
            fh = tar.extractfile(member)
            return fh.read().decode("utf-8", "replace") if fh is not None else None
    return None


def resolve_user(client: Any, image_id: str) -> str:
    """The numeric ``uid:gid`` to run ``image_id``'s candidate as; uid and gid are never 0.

    Reads the image's ``USER`` and its /etc/passwd and /etc/group (through a container that is
    created, never started, and removed at once; each file capped at 1 MiB), then applies
    :func:`resolve_user_spec`. :meth:`Pod.start_candidate` calls it; pass the result as the
    container's ``user``. Costs one create/archive/remove round trip (about 0.1 s).
    """
    import docker.errors

    spec = (client.images.get(image_id).attrs.get("Config") or {}).get("User") or ""
    labels = {
        LABEL_MANAGED: "true",
        LABEL_RUN: f"resolve-user-{uuid.uuid4().hex[:8]}",
        LABEL_ROLE: "resolve-user",
        LABEL_PID: str(os.getpid()),
        LABEL_HOST: socket.gethostname(),
    }
    try:
        probe = client.containers.create(
            image_id,
            command=["/nonexistent"],
            entrypoint=[],
            network_disabled=True,
            labels=labels,
            user=f"{NOBODY}:{NOBODY}",
        )
    except docker.errors.APIError as exc:
        raise InfraError(
            f"cannot inspect the image's users: {exc.explanation or exc}; "
            "check the engine with `docker info`"
        ) from None
    try:
        passwd = _read_image_file(probe, "/etc/passwd")
        group = _read_image_file(probe, "/etc/group")
    finally:
        with contextlib.suppress(Exception):
            probe.remove(force=True, v=True)
    return resolve_user_spec(spec, passwd, group)


def user_ids(client: Any, image: str, spec: str) -> tuple[int, int]:
    """The numeric (uid, gid) a container of our own ``image`` runs as for the Docker user
    ``spec`` ("" = the image's USER), root included (our sidecars may run as root; the
    candidate never does: see :func:`resolve_user`). Unresolvable names give (0, 0)."""
    spec = spec or (client.images.get(image).attrs.get("Config") or {}).get("User") or ""
    user_arg, _, group_arg = spec.partition(":")
    if user_arg.isdigit() and (not group_arg or group_arg.isdigit()):
        return int(user_arg), int(group_arg or 0)
    if not user_arg:
        return 0, 0
    probe = client.containers.create(
        image,
        command=["/nonexistent"],
        entrypoint=[],
        network_disabled=True,
        labels={
            LABEL_MANAGED: "true",
            LABEL_RUN: f"user-ids-{uuid.uuid4().hex[:8]}",
            LABEL_ROLE: "resolve-user",
            LABEL_PID: str(os.getpid()),
            LABEL_HOST: socket.gethostname(),
        },
    )
    try:
        passwd = _read_image_file(probe, "/etc/passwd") or ""
        group = _read_image_file(probe, "/etc/group") or ""
    finally:
        with contextlib.suppress(Exception):
            probe.remove(force=True, v=True)
    entry = next(
        (u for u in parse_passwd(passwd) if u[0] == user_arg or str(u[1]) == user_arg), None
    )
    uid, gid = (entry[1], entry[2]) if entry else (0, 0)
    if group_arg:
        found = next(
            (g for g in parse_group(group) if g[0] == group_arg or str(g[1]) == group_arg), None
        )
        gid = found[1] if found else gid
    return uid, gid


# -- who owns which listening socket ---------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """Something wrong with the pod's integrity: ``tampered`` (the candidate, or anything but
    the owner, holds a reserved port) or ``error`` (a sidecar died, restarted or lost its port)."""

    kind: Literal["tampered", "error"]
    message: str


@dataclass
class _HostView:
    """How the runner sees one container's processes from the Docker host."""

    pid: int
    start_ticks: str  # field 22 of /proc/<pid>/stat: tells a restart from the same process
    procs_file: str | None  # the container's cgroup.procs, else container.top() is asked


def _proc_start_ticks(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read(4096).decode("ascii", "replace")
    except OSError:
        return None
    # comm (field 2) may hold spaces and parentheses: split after its last ")"
    fields = raw[raw.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def _cgroups(pid: int, container_id: str) -> list[tuple[str, str]]:
    """(controllers, path) of the cgroups of ``pid`` that name the container ("" controllers:
    cgroup v2). Empty when the pid is not this container's as seen from here."""
    try:
        with open(f"/proc/{pid}/cgroup", "rb") as fh:
            lines = fh.read(65536).decode("utf-8", "replace").splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3 and container_id in parts[2]:
            out.append((parts[1], parts[2]))
    return out


def _cgroup_procs_file(pid: int, container_id: str) -> str | None:
    """The cgroup.procs file listing every process of the container ``pid`` belongs to."""
    candidates = []
    for controllers, path in _cgroups(pid, container_id):
        if controllers == "":
            candidates += [f"/sys/fs/cgroup{path}", f"/sys/fs/cgroup/unified{path}"]
        elif {"pids", "memory", "cpuacct", "freezer"} & set(controllers.split(",")):
            candidates.append(f"/sys/fs/cgroup/{controllers}{path}")
    files = (f"{c}/cgroup.procs" for c in candidates)
    return next((f for f in files if os.path.exists(f)), None)


def _memory_oom_file(pid: int, container_id: str) -> str | None:
    """Where the container's cgroup counts OOM kills: v1 memory.oom_control, v2 memory.events."""
    candidates = []
    for controllers, path in _cgroups(pid, container_id):
        if "memory" in controllers.split(","):
            candidates.append(f"/sys/fs/cgroup/{controllers}{path}/memory.oom_control")
        elif controllers == "":
            candidates.append(f"/sys/fs/cgroup{path}/memory.events")
    return next((f for f in candidates if os.path.exists(f)), None)


CLONE_NEWNET = 0x40000000


def netns_diag_socket(pid: int) -> socket.socket | None:
    """A NETLINK_SOCK_DIAG socket in the network namespace of host process ``pid``, or None.

    A socket belongs to the namespace it was created in, so a throwaway thread enters the
    namespace (setns affects only the calling thread; needs root), creates the socket and
    leaves; the socket then answers for that namespace from any thread.
    """
    import ctypes

    out: list[socket.socket] = []

    def work() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        own = target = -1
        try:
            own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
            target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
            if libc.setns(target, CLONE_NEWNET) != 0:
                return
            try:
                sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG)
                sock.settimeout(2.0)
                out.append(sock)
            finally:
                libc.setns(own, CLONE_NEWNET)  # the thread ends right after in any case
        except OSError:
            return
        finally:
            for fd in (own, target):
                if fd >= 0:
                    os.close(fd)

    thread = threading.Thread(target=work, name="netns-diag", daemon=True)
    thread.start()
    thread.join(5.0)
    return out[0] if out else None


class OomCounter:
    """Counts OOM kills of any process in a container, the container living on or not.

    Docker sets ``OOMKilled`` only when the container's main process dies of it; a child killed
    while the parent serves on leaves it false. This counts the engine's ``oom`` events for the
    container (from ``since``, by default its creation, so nothing before the subscription is
    missed) and reads the cgroup's own counter (v1 ``memory.oom_control`` ``oom_kill``, v2
    ``memory.events``) while it exists; ``count`` is the larger of the two.

    Use: ``with OomCounter(client, candidate) as oom: ...; oom.count`` (or ``start()`` /
    ``stop()``); create it right after :meth:`Pod.start_candidate`. Reading ``count`` is cheap
    (one small file read), so a 0.5 s wait loop may poll it; it keeps its value after the
    container is gone.
    """

    def __init__(self, client: Any, container: Any, since: float | None = None) -> None:
        self.client = client
        self.container = container
        self.since = since if since is not None else _created_ts(container) - 1
        self.events = 0
        self.cgroup_kills = 0
        self._cgroup_file: str | None = None
        self._stream: Any = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> OomCounter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> OomCounter:
        # Subscribed here, in the caller's thread: once start() returns no event can be missed.
        self._stream = self.client.events(
            decode=True,
            since=int(self.since),
            filters={"type": "container", "container": self.container.id, "event": "oom"},
        )
        self._thread = threading.Thread(target=self._run, name="oom-events", daemon=True)
        self._thread.start()
        self._locate_cgroup()
        return self

    def _run(self) -> None:
        try:
            for ev in self._stream:
                if isinstance(ev, dict) and (ev.get("Action") or ev.get("status")) == "oom":
                    self.events += 1
        except Exception:  # closed by stop(), or the engine went away
            pass

    def _locate_cgroup(self) -> None:
        with contextlib.suppress(Exception):
            self.container.reload()
            pid = int((self.container.attrs.get("State") or {}).get("Pid") or 0)
            if pid > 0:
                self._cgroup_file = _memory_oom_file(pid, self.container.id)

    def _read_cgroup(self) -> None:
        if self._cgroup_file is None:
            return
        try:
            with open(self._cgroup_file, "rb") as fh:
                text = fh.read(4096).decode("ascii", "replace")
        except OSError:  # the container is gone, and its cgroup with it
            return
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name == "oom_kill" and value.strip().isdigit():
                self.cgroup_kills = max(self.cgroup_kills, int(value))

    @property
    def count(self) -> int:
        self._read_cgroup()
        return max(self.events, self.cgroup_kills)

    def stop(self) -> int:
        """Stop following; returns the final count."""
        self._read_cgroup()
        # The engine sends an event a moment after the kill: give a just-killed child's event
        # a short chance to arrive before closing.
        deadline = time.monotonic() + 0.3
        while self.events < self.cgroup_kills and time.monotonic() < deadline:
            time.sleep(0.02)
        with contextlib.suppress(Exception):
            if self._stream is not None:
                self._stream.close()
        if self._thread is not None:
            self._thread.join(2.0)
        return self.count


def _created_ts(container: Any) -> float:
    from datetime import datetime

    try:
        raw = str(container.attrs["Created"])
        return datetime.fromisoformat(raw[:26].rstrip("Z") + "+00:00").timestamp()
    except Exception:
        return time.time() - 60


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
        self._views: dict[str, _HostView] = {}
        self._diag: socket.socket | None = None
        # Roles a check stopped on purpose (graders.services): not a crash, not a lost sidecar.
        self.down: set[str] = set()
        # uids our own non-root sidecars run as (the uid rule without a host view, below)
        self.helper_uids: set[int] = set()
        # What the integrity watch found suspicious but not certain (runner.attribution):
        # recorded in the results, never a verdict.
        self.integrity_notes: list[str] = []
        self._sleep = time.sleep  # between re-checks; a seam for the unit tests

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
        self._remember("holder")
        return holder

    def start_candidate(
        self, image: str, env: dict[str, str], limits: Limits, command: list[str] | None = None
    ) -> Any:
        user = resolve_user(self.client, image)
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
        self._remember("candidate")
        return candidate

    def start_helper(
        self,
        role: str,
        image: str,
        *,
        command: list[str],
        archive: bytes | None,
        env: dict[str, str],
        cpus: float = 1.0,
        memory_mb: int = 1024,
        pids: int = 512,
        user: str = "",
        tmpfs: dict[str, int] | None = None,
        cap_add: list[str] | None = None,
    ) -> Any:
        """Start a grader or sidecar: our code, copied in before start (no host mounts), or a
        sidecar's own image (``archive`` None; ``command`` empty: the image's CMD)."""
        extra: dict[str, Any] = {}
        if user:
            extra["user"] = user
        if tmpfs:
            # Owned by the user the sidecar runs as: the engine remounts a tmpfs on a restart
            # as root 0755, whatever its mode (seen on Docker 20.10), so mode=1777 alone would
            # leave a restarted non-root server unable to write there.
            uid, gid = user_ids(self.client, image, user)
            extra["tmpfs"] = {
                mount: f"rw,nosuid,nodev,size={mb}m,mode=1777,uid={uid},gid={gid}"
                for mount, mb in tmpfs.items()
            }
        container = self._run(
            role,
            image,
            command=command or None,
            network_mode=self.netns,
            environment=env,
            mem_limit=f"{memory_mb}m",
            memswap_limit=f"{memory_mb}m",
            nano_cpus=int(cpus * 1e9),
            pids_limit=pids,
            cap_drop=["ALL"],
            cap_add=cap_add or None,
            security_opt=["no-new-privileges"],
            **extra,
        )
        if archive is not None:
            container.put_archive("/", archive)
        container.start()
        self._remember(role)
        return container

    # -- who owns what: see listener_owners and integrity ---------------------------------
    def _remember(self, role: str) -> None:
        """Note a just-started container's main process as the host sees it (when it can)."""
        if self.runtime not in (None, "runc"):
            return  # gVisor keeps sockets in its own kernel: the host's /proc does not see them
        container = self.containers[role]
        try:
            container.reload()
            pid = int((container.attrs.get("State") or {}).get("Pid") or 0)
        except Exception:
            return
        ticks = _proc_start_ticks(pid) if pid > 0 else None
        procs = _cgroup_procs_file(pid, container.id) if ticks is not None else None
        # The pid must be this container's in *our* pid namespace: its cgroup names the
        # container. Otherwise (a remote engine, a runner in a container) there is no host view.
        if ticks is not None and procs is not None:
            self._views[role] = _HostView(pid, ticks, procs)

    @property
    def host_view(self) -> bool:
        """True when the runner sees the pod's processes (local engine, runner as root)."""
        return "holder" in self._views

    def _pids(self, role: str) -> list[int] | None:
        """The role's processes, or None when they could not be listed (the container is
        gone, or the engine did not answer on a busy host): then nothing is known about them."""
        view = self._views.get(role)
        if view is not None and view.procs_file is not None:
            try:
                with open(view.procs_file, "rb") as fh:
                    text = fh.read(1 << 20).decode("ascii", "replace")
                return [int(x) for x in text.split() if x.isdigit()]
            except OSError:
                return None
        try:
            top = self.containers[role].top(ps_args="-eo pid")
            return [int(row[0]) for row in top.get("Processes") or [] if row and row[0].isdigit()]
        except Exception:
            return None

    def _listen_sockets(self) -> list[ListenSocket]:
        view = self._views.get("holder")
        if view is not None:
            if self._diag is None:
                self._diag = netns_diag_socket(view.pid)
            if self._diag is not None:
                try:
                    return diag_listen_sockets(self._diag)
                except OSError:  # drop it (unread replies); /proc answers this time
                    self._close_diag()
            return read_listen_sockets(f"/proc/{view.pid}{name[5:]}" for name in PROC_FILES)
        holder = self.containers["holder"]
        result = holder.exec_run(["cat", *PROC_FILES], user="65534:65534")
        socks = parse_listen_sockets(result.output.decode(errors="replace"))
        if len(socks) > 2 * MAX_LISTEN_LINES:
            raise TooManyListeners(f"more than {MAX_LISTEN_LINES} listening sockets")
        return socks

    def listener_owners(self, ports: Collection[int] | None = None) -> dict[int, set[str]]:
        """Port -> roles owning its LISTEN sockets: "candidate", "grader", "sidecar-<name>",
        "holder", "unknown" (no process of the pod holds it) or "unverified" (nobody was found
        holding it, but the process list of one of our own containers could not be read).

        One consistent reading: an unattributed socket counts only when the table lists it
        again after the descriptors were read (one that closed meanwhile, a short-lived socket
        of ours, is left out). :func:`runner.attribution.decide` turns readings into verdicts.

        Socket inodes from the holder's /proc/<pid>/net/tcp{,6} are matched to the
        ``socket:[inode]`` descriptors of each container's processes (from its cgroup's
        cgroup.procs), so a squatter is caught whatever uid it runs as. Our containers are
        scanned first; the candidate's only for sockets still unattributed, and at most
        CANDIDATE_FD_BUDGET of its descriptors (a socket past that stays "unknown").
        ``ports`` restricts the answer (and the work) to those ports.

        Without a host view (remote engine, runner not root: ``host_view`` is False) it falls
        back to the uid rule: uid 0 is "helper" (one of ours: the candidate never runs as 0,
        see :func:`resolve_user`), any other uid "candidate".
        Raises TooManyListeners on a flood of listening sockets.
        """
        sockets = self._listen_sockets()
        if ports is not None:
            wanted = set(ports)
            sockets = [s for s in sockets if s.port in wanted]
        owners: dict[int, set[str]] = {}
        if not self.host_view:
            for s in sockets:
                ours = s.uid == 0 or s.uid in self.helper_uids
                owners.setdefault(s.port, set()).add("helper" if ours else "candidate")
            return owners
        port_of = {s.inode: s.port for s in sockets}
        found: set[int] = set()
        unread = False
        roles = [r for r in self.containers if r != "candidate"]
        if "candidate" in self.containers:
            roles.append("candidate")
        for role in roles:
            budget = None
            if role == "candidate":
                if not port_of.keys() - found:
                    break
                budget = [CANDIDATE_FD_BUDGET]
            pids = self._pids(role)
            if pids is None:
                unread = unread or role != "candidate"
                continue
            for pid in pids:
                for inode in socket_inodes(pid, budget=budget) & port_of.keys():
                    owners.setdefault(port_of[inode], set()).add(role)
                    found.add(inode)
        if port_of.keys() - found:
            still = {s.inode for s in self._listen_sockets()}
            for inode, port in port_of.items():
                if inode not in found and inode in still:
                    owners.setdefault(port, set()).add("unverified" if unread else "unknown")
        return owners

    def _helper_gone(self, role: str) -> str | None:
        """Why a helper container is no longer the process we started, or None."""
        view = self._views.get(role)
        if view is not None and _proc_start_ticks(view.pid) == view.start_ticks:
            return None
        state = self.state(role) if role in self.containers else {"Status": "removed"}
        status = state.get("Status", "?")
        if view is None and status == "running" and not state.get("Restarting"):
            return None  # no host view: the engine's word is all there is
        if status == "running":
            return f"the {role} container restarted"
        code = state.get("ExitCode")
        oom = " (OOM-killed)" if state.get("OOMKilled") else ""
        return (
            f"the {role} container {status}{f' with code {code}' if code is not None else ''}{oom}"
        )

    def integrity(self, reserved: dict[int, str]) -> Problem | None:
        """A Problem if a reserved port is held by anyone but its owner, or a sidecar is gone.

        ``reserved`` maps port -> the role that must hold it: each sidecar's ``port`` and
        ``control_port`` to ``f"sidecar-{name}"``, the grader's ports (Locust's master, 5557
        and 5558) to "grader". Returns ``Problem("tampered", ...)`` when another role listens
        on a reserved port and re-checks made that certain (:mod:`runner.attribution`: the
        candidate in two readings in a row, a socket nobody holds in every reading over
        RECHECK_DELAYS_S); what stayed uncertain goes to ``integrity_notes``, not a verdict;
        ``Problem("error", ...)`` when a sidecar's container exited or restarted, or nobody
        holds one of its ports any more (a grader port nobody holds is fine: it binds them
        only in distributed mode). Tampering wins over error (a candidate that starved a
        sidecar and took its port is tampering). None when all is well.

        Call it after the sidecars listen (the end of _start_sidecars) and then on every turn
        of the wait loop (it costs a few ms; see docs/security.md); end the run with verdict
        ``tampered`` or ``error`` and the message on the first Problem.
        """
        owners: dict[int, set[str]] = {}
        readings = []
        delays = iter(RECHECK_DELAYS_S)
        while True:
            try:
                owners = self.listener_owners(reserved.keys())
            except TooManyListeners as exc:
                return Problem("tampered", f"the pod holds {exc} (a flood hides squatters)")
            except Exception as exc:
                return Problem("error", f"cannot read the pod's listening sockets: {exc}")
            readings.append(findings(owners, reserved))
            if enough(readings):
                break
            self._sleep(next(delays))
        decision = decide(readings)
        notes = self.integrity_notes
        if decision.note and decision.note not in notes and len(notes) < MAX_INTEGRITY_NOTES:
            notes.append(decision.note)
        if decision.confirmed:
            port, owner = decision.confirmed[0].port, decision.confirmed[0].owner
            others = set(decision.confirmed[0].others)
            ports = ", ".join(str(f.port) for f in decision.confirmed)
            if "candidate" in others:
                return Problem(
                    "tampered",
                    f"the service listens on port {ports}, reserved for {owner} (impersonation)",
                )
            return Problem(
                "tampered",
                f"port {port}, reserved for {owner}, is held by {', '.join(sorted(others))}",
            )
        # A sidecar a check stopped on purpose is down, not lost (its ports stay reserved: a
        # candidate that takes one meanwhile is still caught above).
        for role in sorted({r for r in reserved.values() if r.startswith("sidecar-")}):
            gone = None if role in self.down else self._helper_gone(role)
            if gone:
                return Problem("error", gone)
        for port, owner in sorted(reserved.items()):
            if owner in self.down:
                continue
            if owner.startswith("sidecar-") and not owners.get(port):
                return Problem("error", f"{owner} no longer listens on its port {port}")
        return None

    # -- service control (a check's request, through the host: runner.services) -----------
    def kill_service(self, role: str) -> int | None:
        """SIGKILL the role's container; wait until it is down; its exit code."""
        self.down.add(role)
        container = self.containers[role]
        with contextlib.suppress(Exception):
            container.kill()
        return self._wait_down(role, 10.0)

    def stop_service(self, role: str, grace_s: float) -> tuple[int | None, bool]:
        """SIGTERM, up to ``grace_s`` for it to exit, then SIGKILL: (exit code, exited in grace)."""
        self.down.add(role)
        container = self.containers[role]
        with contextlib.suppress(Exception):
            container.kill(signal="SIGTERM")
        code = self._wait_down(role, grace_s)
        if code is not None:
            return code, True
        with contextlib.suppress(Exception):
            container.kill()
        return self._wait_down(role, 10.0), False

    def _wait_down(self, role: str, within_s: float) -> int | None:
        """The exit code once the container stopped, or None if it still runs at the deadline."""
        deadline = time.monotonic() + within_s
        while True:
            state = self.state(role)
            if state.get("Status") in ("exited", "dead", "removed"):
                code = state.get("ExitCode")
                return int(code) if isinstance(code, int) else None
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)

    def start_service(self, role: str) -> None:
        """Start the role's container again (same image, config and pod) and note its new
        main process, so the integrity watch knows it as the same role, not a stranger."""
        self.containers[role].start()
        self.down.discard(role)
        self._remember(role)

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

    def _close_diag(self) -> None:
        if self._diag is not None:
            with contextlib.suppress(OSError):
                self._diag.close()
            self._diag = None

    def teardown(self) -> None:
        self._close_diag()
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
