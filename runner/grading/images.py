"""The images assess builds: a Debian base, runtime presets, the grader, and submissions.

No registry may be reachable, so the base is pulled when possible and otherwise bootstrapped
from Debian's packages with debootstrap and imported. Each image carries the hash of its inputs
(Dockerfile, files, parent image id) in the ``assess.inputs`` label and is rebuilt only when
that hash changes.

Stable tags (candidates' Dockerfiles may name them):
  assess/base:bookworm    Debian bookworm, minimal
  assess/python:3.11      + Debian's python3 (3.11) and a venv at /opt/venv on PATH
  assess/node:18          + Debian's nodejs (18) and npm
  assess/grader:latest    + pytest, Locust, requests (the versions installed on the host)
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from runner.errors import InfraError
from runner.grading.labels import LABEL_MANAGED

BASE_TAG = "assess/base:bookworm"
PYTHON_TAG = "assess/python:3.11"
NODE_TAG = "assess/node:18"
GRADER_TAG = "assess/grader:latest"
SIDECAR_REPO = "assess-sidecar"
RUNTIME_TAGS = {"python": PYTHON_TAG, "node": NODE_TAG}
PULL_BASE = "debian:bookworm-slim"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
LABEL_INPUTS = "assess.inputs"
GRADER_PACKAGES = ("pytest", "locust", "requests", "websocket-client", "pika")
DOCKERFILES = Path(__file__).parent.parent / "dockerfiles"
BUILD_LOG_TAIL = 60

Progress = Callable[[str], None]


def _noop(_: str) -> None:
    pass


@dataclass(frozen=True)
class BuildResult:
    ok: bool
    image_id: str | None
    log: list[str]
    seconds: float
    cached: bool = False
    reason: str = ""  # why assess stopped it (time limit, disk), if it did
    missing_base: str = ""  # a FROM image not on this machine, with no registry to pull it from

    @property
    def log_tail(self) -> str:
        return "\n".join(self.log[-BUILD_LOG_TAIL:])


def _hash(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()[:24]


def host_ca_bytes() -> bytes:
    env = os.environ.get("ASSESS_CA_BUNDLE")
    path = Path(env) if env else HOST_CA
    try:
        return path.read_bytes()
    except OSError:
        return b""


def grader_pins() -> str:
    pins = []
    for name in GRADER_PACKAGES:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pins.append(name)
    return " ".join(pins)


def _image_labels(client: Any, tag: str) -> dict[str, str] | None:
    import docker.errors

    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        return None
    return dict(image.labels or {})


def image_id(client: Any, tag: str) -> str:
    return str(client.images.get(tag).id)


def stream_build(
    client: Any,
    context: bytes,
    *,
    tag: str,
    dockerfile: str = "Dockerfile",
    labels: dict[str, str] | None = None,
    timeout_s: float = 1800,
    progress: Progress = _noop,
) -> BuildResult:
    """Build from an in-memory tar context; never raises for a failed build.

    ``timeout_s`` is a wall-clock limit: a chatty build never trips a read timeout, so the
    deadline is checked on every line too. Leaving the stream closes the connection, and the
    engine then cancels the build and removes its step container. A :class:`DiskGuard` stops
    a build that eats the disk.
    """

    start = time.monotonic()
    overdue = f"build exceeded its time limit of {timeout_s:g} s"
    log: list[str] = []
    with DiskGuard(client, min_free_disk_mb()) as guard:
        image, failure = _stream(
            client, context, tag, dockerfile, labels, timeout_s, progress, log, guard.note
        )
    seconds = time.monotonic() - start
    if guard.tripped:
        log.append(guard.tripped)
        return BuildResult(False, None, log, seconds, reason=guard.tripped)
    if failure:
        if failure == OVERDUE:
            failure = overdue
            log.append(overdue)
        missing = missing_base_image(client, log)
        if missing:
            failure = missing_base_message(missing)
            log.append(failure)
        return BuildResult(False, None, log, seconds, reason=failure, missing_base=missing)
    return BuildResult(True, image or image_id(client, tag), log, seconds)


def _stream(
    client: Any,
    context: bytes,
    tag: str,
    dockerfile: str,
    labels: dict[str, str] | None,
    timeout_s: float,
    progress: Progress,
    log: list[str],
    on_line: Progress = _noop,
) -> tuple[str | None, str]:
    """Run the build, appending its output to ``log``: (image id if seen, failure or "").

    Each step runs under :func:`build_limits`. ``on_line`` sees every output line (the disk
    guard learns the ids of this build's step containers from them)."""
    import docker.errors
    import requests.exceptions
    import urllib3.exceptions

    deadline = time.monotonic() + timeout_s
    image: str | None = None
    try:
        chunks: Iterator[dict[str, Any]] = client.api.build(
            fileobj=io.BytesIO(context),
            custom_context=True,
            tag=tag,
            dockerfile=dockerfile,
            rm=True,
            forcerm=True,  # a failed legacy build would otherwise leave its container behind
            decode=True,
            labels={LABEL_MANAGED: "true", **(labels or {})},
            timeout=timeout_s,
            container_limits=build_limits(),
        )
        for chunk in chunks:
            if "stream" in chunk:
                for line in str(chunk["stream"]).splitlines():
                    if line.strip():
                        log.append(line.rstrip())
                        on_line(line)
                        progress(line.rstrip())
            if time.monotonic() > deadline:
                return None, OVERDUE
            if "aux" in chunk and isinstance(chunk["aux"], dict):
                image = chunk["aux"].get("ID", image)
            if "error" in chunk:
                log.append(str(chunk["error"]).rstrip())
                return None, str(chunk["error"]).strip().splitlines()[0][:300]
    except (
        requests.exceptions.ReadTimeout,
        requests.exceptions.ConnectionError,
        urllib3.exceptions.HTTPError,  # a silent build: raised from the raw stream, unwrapped
    ):
        return None, OVERDUE
    except docker.errors.APIError as exc:
        log.append(f"build failed: {exc.explanation or exc}")
        return None, f"build failed: {exc.explanation or exc}"[:300]
    return image, ""


OVERDUE = "overdue"

# How the engine says it could not reach a registry (as opposed to a registry saying "no such
# image", which is the Dockerfile's fault and stays build_failed).
_UNREACHABLE = (
    "no such host",
    "dial tcp",
    "connection refused",
    "i/o timeout",
    "tls handshake timeout",
    "client.timeout",
    "network is unreachable",
    "temporary failure in name resolution",
    "server misbehaving",
)
_STEP_FROM = re.compile(r"^Step \d+/\d+ : FROM\s+(.*)$", re.IGNORECASE)


def missing_base_image(client: Any, log: list[str]) -> str:
    """The image of the FROM step a failed build stopped at, when it is not on this machine and
    no registry answered; "" for any other failure."""
    import docker.errors

    steps = [i for i, line in enumerate(log) if line.startswith("Step ")]
    if not steps:
        return ""
    match = _STEP_FROM.match(log[steps[-1]])
    after = " ".join(log[steps[-1] + 1 :]).lower()
    if match is None or not any(marker in after for marker in _UNREACHABLE):
        return ""
    words = [w for w in match.group(1).split() if not w.startswith("--")]
    if not words:
        return ""
    image = words[0]
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        return image[:200]
    except docker.errors.APIError:
        return ""
    return ""


def missing_base_message(image: str) -> str:
    """One line: what is missing, and the ways out."""
    return (
        f"base image {image} is not on this machine and no registry is reachable: "
        f"`docker load` it from a saved tar, pull it where a registry is reachable "
        f"(`docker pull {image}`), or build FROM assess/python:3.11 (or use an assess.toml "
        'preset: runtime = "python" | "node")'
    )


def build_limits() -> dict[str, int]:
    """Limits of each build step's container, as the legacy builder takes them.

    Memory (``ASSESS_BUILD_MEMORY_MB``, default 2048) with no swap beyond it, and half the
    default CPU weight (``cpushares`` 512: under contention a build yields to running pods;
    alone it may use every core). The legacy builder has no pids limit and no CPU quota (the
    engine's build API lacks both in docker-py), so a fork bomb in a ``RUN`` step is bounded
    only by that memory and the build's deadline; BuildKit, when available, is the way to
    more. Disk is watched by :class:`DiskGuard`.
    """
    memory = int(os.environ.get("ASSESS_BUILD_MEMORY_MB", "2048")) * 2**20
    return {"memory": memory, "memswap": memory, "cpushares": 512}


def min_free_disk_mb() -> int:
    """The free-space floor for builds: ASSESS_MIN_FREE_DISK_MB, else 2 GiB."""
    return int(os.environ.get("ASSESS_MIN_FREE_DISK_MB", "2048"))


def docker_root(client: Any) -> str:
    try:
        return str(client.info().get("DockerRootDir") or "/var/lib/docker")
    except Exception:
        return "/var/lib/docker"


# The legacy builder's line announcing a step's container. Output of a RUN step can print
# the same text, so an id is only ever matched as a whole against real containers: a forged
# line can name only containers the build could not know the (random, 256-bit) ids of.
_RUNNING_IN = re.compile(r"^\s*---> Running in ([0-9a-f]{12}|[0-9a-f]{64})\s*$")


def own_step_containers(containers: list[Any], step_ids: set[str], started: float) -> list[Any]:
    """Of ``containers``, the step containers of one build: those whose id the build's own
    stream announced ("Running in <id>") and that were created after it started.

    Labels are not looked at: a Dockerfile ``LABEL`` can set any, and step containers inherit
    them. Containers of other builds (concurrent ones included) are never selected."""
    out = []
    for c in containers:
        cid = str(c.id)
        if not any(cid == s or (len(s) == 12 and cid.startswith(s)) for s in step_ids):
            continue
        try:
            raw = str(c.attrs["Created"])
            created = datetime.fromisoformat(raw[:26].rstrip("Z") + "+00:00").timestamp()
        except (KeyError, ValueError):
            continue
        if created >= started:
            out.append(c)
    return out


class DiskGuard:
    """Stops a build that eats the disk: below the floor, kill this build's step containers.

    Docker cannot cap a container's disk on overlay2 over ext4 (``--storage-opt size`` needs
    xfs with pquota), so a build that writes without end would fill the host. The guard polls
    free space on Docker's root; below the floor it kills the step containers this build's
    output announced (:meth:`note` is fed every line), which fails the build. Other builds'
    containers are never touched, whatever their labels.
    """

    def __init__(self, client: Any, floor_mb: int, interval_s: float = 0.25) -> None:
        self.client = client
        self.floor_mb = floor_mb
        self.interval_s = interval_s
        self.path = docker_root(client)
        self.started = time.time() - 1
        self.tripped = ""
        self.step_ids: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="disk-guard", daemon=True)

    def __enter__(self) -> DiskGuard:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def note(self, line: str) -> None:
        """Feed one line of the build's output; remembers announced step containers."""
        m = _RUNNING_IN.match(line)
        if m:
            with self._lock:
                self.step_ids.add(m.group(1))

    def free_mb(self) -> float:
        return shutil.disk_usage(self.path).free / 2**20

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                if self.free_mb() >= self.floor_mb:
                    continue
                self.tripped = (
                    f"build stopped: free disk fell below {self.floor_mb} MiB "
                    f"(ASSESS_MIN_FREE_DISK_MB) while it ran"
                )
                with self._lock:
                    ids = set(self.step_ids)
                if not ids:
                    continue
                listed = self.client.containers.list(all=True, ignore_removed=True)
                for c in own_step_containers(listed, ids, self.started):
                    with contextlib.suppress(Exception):
                        c.kill()
            except Exception:  # best effort: the build's own limits still apply
                continue


def _context(dockerfile_text: str, files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in {"Dockerfile": dockerfile_text.encode(), **files}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Images:
    """Ensures assess's own images exist and are current; builds submissions."""

    def __init__(self, client: Any, progress: Progress = _noop) -> None:
        self.client = client
        self.progress = progress

    # -- base -----------------------------------------------------------------------------
    def ensure_base(self, *, force: bool = False) -> str:
        if not force and _image_labels(self.client, BASE_TAG) is not None:
            return image_id(self.client, BASE_TAG)
        if not os.environ.get("ASSESS_NO_PULL") and self._try_pull_base():
            return image_id(self.client, BASE_TAG)
        self._bootstrap_base()
        return image_id(self.client, BASE_TAG)

    def _try_pull_base(self) -> bool:
        import docker.errors

        self.progress(f"pulling {PULL_BASE}")
        try:
            image = self.client.images.pull(PULL_BASE)
        except (docker.errors.APIError, docker.errors.DockerException):
            self.progress("no registry reachable; bootstrapping the base from Debian's packages")
            return False
        image.tag(BASE_TAG)
        return True

    def _bootstrap_base(self) -> None:
        if shutil.which("debootstrap") is None:
            raise InfraError(
                "no registry reachable and debootstrap is not installed; "
                "run `apt-get install -y debootstrap` (or scripts/setup)"
            )
        with tempfile.TemporaryDirectory(prefix="assess-rootfs-") as tmp:
            rootfs = Path(tmp) / "rootfs"
            self.progress("debootstrap --variant=minbase bookworm (about 35 s)")
            proc = subprocess.run(
                ["debootstrap", "--variant=minbase", "bookworm", str(rootfs), DEBIAN_MIRROR],
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            if proc.returncode != 0:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
                raise InfraError(f"debootstrap failed: {' | '.join(tail)}")
            tar_path = Path(tmp) / "rootfs.tar"
            subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tar_path), "."], check=True)
            self.progress(f"importing the rootfs as {BASE_TAG}")
            repo, tag = BASE_TAG.split(":")
            self.client.api.import_image_from_file(
                str(tar_path),
                repository=repo,
                tag=tag,
                changes=[f"LABEL {LABEL_MANAGED}=true", 'CMD ["/bin/bash"]'],
            )

    # -- derived images -------------------------------------------------------------------
    def _ensure_derived(
        self, tag: str, dockerfile: str, files: dict[str, bytes], force: bool
    ) -> str:
        inputs = _hash(dockerfile, *[k.encode() + v for k, v in sorted(files.items())])
        labels = _image_labels(self.client, tag)
        if not force and labels is not None and labels.get(LABEL_INPUTS) == inputs:
            return image_id(self.client, tag)
        self.progress(f"building {tag}")
        result = stream_build(
            self.client,
            _context(dockerfile, files),
            tag=tag,
            labels={LABEL_INPUTS: inputs},
            progress=self.progress,
        )
        if not result.ok or result.image_id is None:
            raise InfraError(f"building {tag} failed: {result.log[-1] if result.log else '?'}")
        return result.image_id

    def ensure_runtime(self, runtime: str, *, force: bool = False) -> str:
        base_id = self.ensure_base()
        text = (DOCKERFILES / f"{runtime}.Dockerfile").read_text().replace("{base}", BASE_TAG)
        files = {"host-ca.pem": host_ca_bytes()}
        # The parent's id is an input: a rebuilt base rebuilds its children.
        return self._ensure_derived(
            RUNTIME_TAGS[runtime], text + f"# parent {base_id}\n", files, force
        )

    def ensure_grader(self, *, force: bool = False) -> str:
        parent = self.ensure_runtime("python")
        text = (
            (DOCKERFILES / "grader.Dockerfile")
            .read_text()
            .replace("{python}", PYTHON_TAG)
            .replace("{pins}", grader_pins())
        )
        return self._ensure_derived(GRADER_TAG, text + f"# parent {parent}\n", {}, force)

    def ensure_all(self, *, force: bool = False) -> dict[str, str]:
        out = {BASE_TAG: self.ensure_base(force=force)}
        for runtime, tag in RUNTIME_TAGS.items():
            out[tag] = self.ensure_runtime(runtime, force=force)
        out[GRADER_TAG] = self.ensure_grader(force=force)
        return out

    # -- sidecars with their own image ----------------------------------------------------
    def ensure_sidecar(
        self, challenge_id: str, name: str, folder: Path, dockerfile: str, *, force: bool = False
    ) -> str:
        """The image of a challenge's sidecar, built from its folder (the context) when its
        files or the base changed; tagged by content hash, labelled ``assess.kind=sidecar``."""
        base_id = self.ensure_base()
        files: dict[str, bytes] = {}
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink() and "__pycache__" not in path.parts:
                files[path.relative_to(folder).as_posix()] = path.read_bytes()
        inputs = _hash(base_id, dockerfile, *[k.encode() + b"\0" + v for k, v in files.items()])
        tag = f"{SIDECAR_REPO}/{challenge_id}-{name}:{inputs[:16]}"
        labels = _image_labels(self.client, tag)
        if not force and labels is not None and labels.get(LABEL_INPUTS) == inputs:
            return image_id(self.client, tag)
        self.progress(f"building {tag}")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for rel, data in files.items():
                info = tarfile.TarInfo(rel)
                info.size = len(data)
                info.mode = 0o755 if os.access(folder / rel, os.X_OK) else 0o644
                tar.addfile(info, io.BytesIO(data))
        result = stream_build(
            self.client,
            buf.getvalue(),
            tag=tag,
            dockerfile=dockerfile,
            labels={LABEL_INPUTS: inputs, "assess.kind": "sidecar"},
            progress=self.progress,
        )
        if not result.ok or result.image_id is None:
            tail = result.reason or (result.log[-1] if result.log else "?")
            raise InfraError(
                f"building the {name!r} sidecar of {challenge_id} failed: {tail}; "
                f"see {folder / dockerfile}"
            )
        return result.image_id

    def status(self) -> list[tuple[str, str | None]]:
        rows = []
        for tag in (BASE_TAG, *RUNTIME_TAGS.values(), GRADER_TAG):
            labels = _image_labels(self.client, tag)
            rows.append((tag, image_id(self.client, tag)[7:19] if labels is not None else None))
        return rows
