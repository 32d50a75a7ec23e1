"""A challenge's sidecars as host processes on 127.0.0.1, for grading a service with ``--url``.

The flow (simplest for a candidate whose service already runs outside assess):

1. ``assess sidecars CHALLENGE`` starts every sidecar on free loopback ports, prints the
   ``export NAME=http://127.0.0.1:PORT`` lines the service needs (the challenge's ``[env]``
   variable that names each sidecar's port) and the state file's path, and keeps running until
   Ctrl-C (which stops the sidecars and removes the state file).
2. The candidate starts the service with those variables.
3. ``assess run CHALLENGE --url URL --sidecars-from STATE`` grades it: the grader drives the
   sidecars through their control ports with the tokens in the state file (0600).

No typer here; every bad input is a UsageError, a sidecar that would not start an InfraError.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlparse

import graders
from graders.protocol import SidecarSpec
from runner.errors import InfraError, UsageError

HOST = "127.0.0.1"
LISTEN_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0
PORT_ATTEMPTS = 5
PORT_RANGE = (20000, 60999)
STATE_VERSION = 1


@dataclass(frozen=True)
class HostSidecar:
    spec: SidecarSpec
    env_var: str | None  # the challenge's [env] variable naming this sidecar's public URL
    proc: subprocess.Popen[bytes]

    @property
    def public_url(self) -> str:
        return f"http://{HOST}:{self.spec.port}"


def env_var_for(challenge: Any, port: int) -> str | None:
    """The challenge's ``[env]`` variable whose URL points at ``port`` (UPSTREAM_URL -> 9090)."""
    for name, value in challenge.config.env.items():
        parsed = urlparse(value)
        with contextlib.suppress(ValueError):
            if parsed.scheme in ("http", "https") and parsed.port == port:
                return str(name)
    return None


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((HOST, port)) == 0


def _free_pair(taken: set[int]) -> tuple[int, int]:
    """Two random ports nothing listens on now; the sidecar itself binds them (a race with
    another process is caught by the caller, which retries with a new pair)."""
    for _ in range(200):
        a, b = random.sample(range(*PORT_RANGE), 2)
        if a in taken or b in taken or _listening(a) or _listening(b):
            continue
        return a, b
    raise InfraError("found no free loopback ports for the sidecars")


def _script(challenge: Any, sc: Any) -> Path:
    """The sidecar's script on the host: its command names it as /sidecar/<script>."""
    folder: Path = (challenge.root / sc.path).resolve()
    if getattr(sc, "dockerfile", None):
        raise UsageError(
            f"sidecar {sc.name} of {challenge.id} runs its own image ({sc.path}/{sc.dockerfile}), "
            "which only the sandbox starts: grade a submission directory instead of --url"
        )
    scripts = [a for a in sc.command if a.endswith(".py")]
    if not scripts:
        raise UsageError(f"sidecar {sc.name}: its command {sc.command} names no .py script")
    script = (folder / Path(scripts[0]).name).resolve()
    if not script.is_relative_to(folder) or not script.is_file():
        raise UsageError(f"sidecar {sc.name}: {script} does not exist")
    return script


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _start_one(challenge: Any, sc: Any, taken: set[int], log: TextIO | None) -> HostSidecar:
    script = _script(challenge, sc)
    root = str(Path(graders.__file__).resolve().parent.parent)
    pythonpath = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    for _ in range(PORT_ATTEMPTS):
        port, control_port = _free_pair(taken)
        token = secrets.token_hex(16)
        env = {
            **os.environ,
            "PYTHONPATH": pythonpath,
            **sc.env,
            "HOST": HOST,
            "PORT": str(port),
            "CONTROL_PORT": str(control_port),
            "ASSESS_CONTROL_TOKEN": token,
        }
        proc = subprocess.Popen(
            [sys.executable, str(script)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log or subprocess.DEVNULL,
            stderr=log or subprocess.DEVNULL,
        )
        deadline = time.monotonic() + LISTEN_TIMEOUT_S
        try:
            while proc.poll() is None and time.monotonic() < deadline:
                if _listening(port) and _listening(control_port):
                    taken |= {port, control_port}
                    spec = SidecarSpec(
                        name=sc.name,
                        url=f"http://{HOST}:{control_port}",
                        token=token,
                        port=port,
                        control_port=control_port,
                    )
                    return HostSidecar(spec, env_var_for(challenge, sc.port), proc)
                time.sleep(0.05)
        except BaseException:
            _stop([proc])
            raise
        exited = proc.poll() is not None
        _stop([proc])
        if not exited:
            raise InfraError(
                f"sidecar {sc.name} did not listen on {HOST}:{port} and :{control_port} "
                f"within {LISTEN_TIMEOUT_S:g} s"
            )
        # it exited: most likely a port was taken between our look and its bind; new pair
    raise InfraError(f"sidecar {sc.name} exited at start {PORT_ATTEMPTS} times (see its log)")


@contextlib.contextmanager
def running(challenge: Any, log: TextIO | None = None) -> Iterator[list[HostSidecar]]:
    """Every sidecar of ``challenge`` running on loopback; all stopped on every way out."""
    if not challenge.config.sidecars:
        raise UsageError(f"{challenge.id} has no sidecars; grade it with --url alone")
    for sc in challenge.config.sidecars:
        _script(challenge, sc)  # refuse before starting any (an own-image sidecar, a bad path)
    started: list[HostSidecar] = []
    try:
        taken: set[int] = set()
        for sc in challenge.config.sidecars:
            started.append(_start_one(challenge, sc, taken, log))
        yield started
    finally:
        _stop([s.proc for s in started])


def env_lines(sidecars: list[HostSidecar]) -> list[str]:
    """``NAME=URL`` for the service, one per sidecar the challenge's [env] names."""
    return [f"{s.env_var}={s.public_url}" for s in sidecars if s.env_var]


# -- the state file: written by `assess sidecars`, read by `assess run --sidecars-from` -------
def write_state(path: Path, challenge: Any, sidecars: list[HostSidecar]) -> None:
    data = {
        "version": STATE_VERSION,
        "challenge": challenge.id,
        "pid": os.getpid(),
        "env": dict(line.split("=", 1) for line in env_lines(sidecars)),
        "sidecars": [
            {
                "name": s.spec.name,
                "url": s.spec.url,
                "token": s.spec.token,
                "port": s.spec.port,
                "control_port": s.spec.control_port,
            }
            for s in sidecars
        ],
    }
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the tokens
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    os.replace(tmp, path)


def _bad(path: Path, why: str) -> UsageError:
    return UsageError(f"--sidecars-from {path}: {why}")


def read_state(path: Path, challenge: Any) -> tuple[SidecarSpec, ...]:
    """The sidecars a running ``assess sidecars`` left in ``path``, checked against the
    challenge and found listening (else a one-line UsageError naming the fix)."""
    restart = f"start them with `assess sidecars {challenge.id}`"
    if not challenge.config.sidecars:
        raise _bad(path, f"{challenge.id} has no sidecars; grade it with --url alone")
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise _bad(path, f"no such file; {restart}") from None
    except (OSError, ValueError) as exc:
        raise _bad(path, f"not a sidecars state file ({exc.__class__.__name__})") from None
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        raise _bad(path, f"not a sidecars state file; {restart}")
    if data.get("challenge") != challenge.id:
        raise _bad(path, f"its sidecars are {data.get('challenge')!r}'s, not {challenge.id}'s")
    try:
        specs = tuple(
            SidecarSpec(
                name=str(s["name"]),
                url=str(s["url"]),
                token=str(s["token"]),
                port=int(s["port"]),
                control_port=int(s["control_port"]),
            )
            for s in data["sidecars"]
        )
    except (KeyError, TypeError, ValueError):
        raise _bad(path, f"not a sidecars state file; {restart}") from None
    wanted = sorted(sc.name for sc in challenge.config.sidecars)
    if sorted(s.name for s in specs) != wanted:
        raise _bad(path, f"it lists {sorted(s.name for s in specs)}, the challenge needs {wanted}")
    for s in specs:
        if urlparse(s.url).hostname != HOST:
            raise _bad(path, f"sidecar {s.name} is not on {HOST}")
        if not (_listening(s.port) and _listening(s.control_port)):
            raise _bad(path, f"sidecar {s.name} is not running; {restart}")
    return specs
