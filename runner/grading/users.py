"""Who a container runs as: a Docker ``USER`` spec resolved against the image's own /etc/passwd
and /etc/group (read through a container that never starts), never root for the candidate.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import tarfile
import uuid
from typing import Any

from runner.errors import InfraError
from runner.grading.labels import LABEL_HOST, LABEL_MANAGED, LABEL_PID, LABEL_ROLE, LABEL_RUN

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
