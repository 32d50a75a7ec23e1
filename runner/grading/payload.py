"""What assess puts into its containers and takes out of them: the grader's files (our graders
package, the challenge without its solutions, the plan), a sidecar's files, the service's recent
output handed to a check, and the grader's results file read back."""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import tarfile
from pathlib import Path
from typing import Any

import graders
from graders.protocol import (
    GraderOutcome,
    Plan,
    dumps,
    loads,
)
from runner.challenges.registry import Challenge
from runner.grading.watchers import LogTap


def _add_tree(tar: tarfile.TarFile, src: Path, arc: str, skip: set[str]) -> None:
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if any(part in skip for part in rel.parts) or path.is_symlink():
            continue
        info = tar.gettarinfo(str(path), arcname=f"{arc}/{rel.as_posix()}")
        info.uid = info.gid = 0
        info.mode = 0o755 if path.is_dir() else 0o644
        if path.is_file():
            with open(path, "rb") as fh:
                tar.addfile(info, fh)
        else:
            tar.addfile(info)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def graders_code_hash() -> str:
    h = hashlib.sha256()
    root = Path(graders.__file__).parent
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def grader_archive(challenge: Challenge, plan: Plan) -> bytes:
    """The grader's files: our graders package, the challenge (never its solutions), the plan."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        _add_tree(tar, Path(graders.__file__).parent, "assess/lib/graders", {"__pycache__"})
        _add_tree(tar, challenge.root, "assess/challenge", {"solutions", "sidecars", "__pycache__"})
        _add_bytes(tar, "assess/plan.json", dumps(plan).encode())
        for name in ("assess/out", "assess/in"):
            d = tarfile.TarInfo(name)
            d.type = tarfile.DIRTYPE
            d.mode = 0o755
            tar.addfile(d)
    return buf.getvalue()


def sidecar_archive(challenge: Challenge, path: str) -> bytes:
    """A sidecar's files, with our graders package beside them (graders.sidecar: the bounded
    HTTP server and token check every sidecar shares; importable from the script's folder)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        _add_tree(tar, challenge.root / path, "sidecar", {"__pycache__"})
        _add_tree(tar, Path(graders.__file__).parent, "sidecar/graders", {"__pycache__"})
    return buf.getvalue()


LOG_TOKEN = re.compile(r"^[0-9a-f]{16}$")


def hand_over_log(grader: Any, log_tap: LogTap, log_dir: str, token: str) -> None:
    """Write the service's recent output into the grader, then a marker that it is complete."""
    if not LOG_TOKEN.fullmatch(token):
        return  # our plugin makes these; anything else is not a path we write
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        _add_bytes(tar, f"{token}.log", log_tap.recent_bytes())
        _add_bytes(tar, f"{token}.done", b"")
    with contextlib.suppress(Exception):  # the grader is gone: its check fails on its deadline
        grader.put_archive(log_dir, buf.getvalue())


def fetch_results(grader: Any) -> GraderOutcome | None:
    """The grader's results file, read out of its container (the candidate cannot reach it)."""
    with contextlib.suppress(Exception):
        grader.kill()
    try:
        stream, _ = grader.get_archive("/assess/out/grader.json")
        data = b"".join(stream)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            member = tar.next()
            fh = tar.extractfile(member) if member else None
            return loads(GraderOutcome, fh.read().decode()) if fh else None
    except Exception:
        return None
