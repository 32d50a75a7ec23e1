"""The pod: one network namespace, no route out, holding the candidate, sidecars and grader.

As in a Kubernetes pod, a tiny *holder* container owns the namespace (``network_mode=none``:
only ``lo``); the candidate, each sidecar and the grader join it with
``network_mode=container:<holder>``. So every request travels over loopback inside the sandbox,
the candidate can reach nothing else, and a crashed candidate does not take the namespace (and
the grader's view of it) down with it.

Everything carries ``assess.managed=true``, the run id, the owner's pid and host, and is
removed on every exit path; :func:`collect_garbage` removes what a killed run left.

The docker SDK (and its errors) is imported inside the functions that talk to the engine, as in
images.py and pipeline.py: ``assess run --url`` imports this module and never reaches the engine.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import threading
import time
import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime
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
from runner.errors import InfraError
from runner.grading.attribution import RECHECK_DELAYS_S, decide, enough, findings
from runner.grading.images import BASE_TAG
from runner.grading.labels import LABEL_HOST, LABEL_MANAGED, LABEL_PID, LABEL_ROLE, LABEL_RUN
from runner.grading.users import resolve_user, user_ids

LOG_MAX_SIZE = "8m"  # the log driver drops the rest: a log flood cannot fill the disk
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
        # What the integrity watch found suspicious but not certain (runner.grading.attribution):
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
        self,
        image: str,
        env: dict[str, str],
        limits: Limits,
        command: list[str] | None = None,
        volumes: dict[str, dict[str, str]] | None = None,
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
            **({"volumes": volumes} if volumes else {}),
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
        volumes: dict[str, dict[str, str]] | None = None,
    ) -> Any:
        """Start a grader or sidecar: our code, copied in before start (no host mounts), or a
        sidecar's own image (``archive`` None; ``command`` empty: the image's CMD)."""
        extra: dict[str, Any] = {"volumes": volumes} if volumes else {}
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
        of ours, is left out). :func:`runner.grading.attribution.decide` turns readings into verdicts.

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
        on a reserved port and re-checks made that certain (:mod:`runner.grading.attribution`: the
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

    # -- service control (a check's request, through the host: runner.grading.services) -----------
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
