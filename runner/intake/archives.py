"""Submissions that arrive as a ``.zip``, ``.tar.gz``/``.tgz``/``.tar`` or a git URL, made into
a plain directory before anything else looks at them.

An archive is hostile. Its members are judged by what is on disk, not by their path text: the
extractor keeps its own map of every path it created (folder, file or link) and
- never creates, opens or follows anything through a link: every folder is entered with
  ``O_NOFOLLOW`` relative to its parent's descriptor, every file is created with
  ``O_CREAT|O_EXCL|O_NOFOLLOW``; a member whose parent path is a link (or a file) the archive
  made is refused, as is a member that appears twice (so no member can replace an earlier one);
- keeps symbolic links only when they stay inside the tree: each target is resolved against the
  map (following the archive's own links, as the kernel would) when it is created and again once
  every member is in (a later link can change what an earlier target means); absolute targets,
  targets that climb out, and loops are refused; hard links, devices and fifos are refused;
- bounds everything before a member is written and while it is written: members, folders (an
  inode bomb), depth, path and name length, link target length, bytes (counted as written, not
  as headers claim), the archive's own size, the zip directory, tar header blocks and the
  decompressed stream, and wall time. Members are streamed in 64 KiB chunks, never read whole.

Each refusal is a SubmissionError (exit 2): one line naming the archive, the rule, the member and
the fix; the half-unpacked tree is removed. An archive holding one folder (as a download of a
repository does) is graded from that folder.
"""

from __future__ import annotations

import bz2
import functools
import gzip
import lzma
import os
import shutil
import stat
import tarfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import IO, Any

from runner.errors import SubmissionError
from runner.intake import repos

MAX_FILES = 10_000  # members of any kind
MAX_BYTES = 200 * 1024 * 1024  # bytes written
MAX_ARCHIVE_BYTES = 200 * 1024 * 1024  # the archive's own size
MAX_DIRS = 5_000  # folders, made explicitly or implied by a member's path
MAX_DEPTH = 48  # components of a member's path
MAX_PATH = 1024  # bytes of a member's path
MAX_NAME = 255  # bytes of one component (the file system's own limit)
MAX_LINK = 1024  # bytes of a link's target
MAX_SECONDS = 120.0  # wall time of one unpacking
MAX_LINK_HOPS = 40  # links followed while resolving one target (the kernel's own limit)
MAX_HEADER_READ = 1 << 20  # one read of a tar header block (pax / GNU long name)
MAX_ZIP_DIRECTORY = 4 << 20  # a zip's central directory (bounds the memory its index costs)
STREAM_SLACK = 32 << 20  # tar headers and padding on top of MAX_BYTES of member data
_CHUNK = 1 << 16
ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_FIX_REPACK = "re-create the archive from the submission's folder (zip -r / tar czf)"
_FIX_LINK = "replace the link with the file itself"
_FIX_SMALLER = "leave out dependencies and build outputs (they are installed at build)"


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


class _Kind(Enum):
    DIR = "folder"
    FILE = "file"
    LINK = "link"


@dataclass(frozen=True)
class _Member:
    """One archive member, whatever the format."""

    name: str
    kind: str  # "dir", "file", "symlink", "hardlink" or "other"
    size: int = 0  # declared; the bytes written are counted separately
    executable: bool = False
    open: Callable[[], IO[bytes]] | None = None  # the member's data (file or zip link target)
    target: str = ""  # link target (tar)


class _Refused(Exception):
    """Internal: a rule broken; turned into one SubmissionError line by ``unpack``."""

    def __init__(self, rule: str, fix: str, member: str | None = None) -> None:
        super().__init__(rule)
        self.rule, self.fix, self.member = rule, fix, member


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n} bytes"


def _too_big(limit: int | None = None) -> _Refused:
    return _Refused(f"unpacks to more than {_size(limit or MAX_BYTES)}", _FIX_SMALLER)


class _Clock:
    def __init__(self) -> None:
        self.deadline = time.monotonic() + MAX_SECONDS

    def check(self) -> None:
        if time.monotonic() > self.deadline:
            raise _Refused(
                f"took more than {MAX_SECONDS:.0f} s to unpack", "send a smaller archive"
            )


class _Bounded:
    """A read-only file the archive libraries read through: each read is capped in size, every
    position in the decompressed stream is capped, and the clock is checked on each call. A tar
    pax or GNU long-name header claiming a gigabyte is refused before it is read into memory; a
    zip directory larger than ``MAX_ZIP_DIRECTORY`` likewise."""

    def __init__(
        self,
        raw: Any,
        clock: _Clock,
        *,
        max_read: int,
        limit: int,
        too_big: _Refused,
        size: int | None = None,
    ) -> None:
        self.raw, self.clock, self.max_read, self.limit = raw, clock, max_read, limit
        self.too_big, self.size = too_big, size

    def read(self, n: int = -1) -> bytes:
        self.clock.check()
        if (n is None or n < 0) and self.size is not None:
            n = max(0, self.size - self.raw.tell())  # zipfile reads the end record with read()
        if n is None or n < 0 or n > self.max_read:
            raise self.too_big
        if self.raw.tell() + n > self.limit:
            n = max(0, self.limit - self.raw.tell())
            data: bytes = self.raw.read(n + 1)
            if len(data) > n:
                raise _too_big()
            return data
        out: bytes = self.raw.read(n)
        return out

    def seek(self, pos: int, whence: int = 0) -> int:
        self.clock.check()
        if whence == os.SEEK_SET and pos > self.limit:
            raise _too_big()
        if whence == os.SEEK_CUR and self.raw.tell() + pos > self.limit:
            raise _too_big()
        return int(self.raw.seek(pos, whence))

    def tell(self) -> int:
        return int(self.raw.tell())

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        pass  # the owner closes ``raw``


def _posix(name: str) -> str:
    return name.replace("\\", "/")


class _Tree:
    """The tree being unpacked into ``root`` (fresh and empty), and the map of everything in it.
    Nothing is ever looked up on disk by path: every path component is entered through its
    parent's descriptor, only when the map says the archive made it as a folder."""

    def __init__(self, root: Path, clock: _Clock, max_bytes: int) -> None:
        self.root_fd = os.open(root, _OPEN_DIR)
        self.clock = clock
        self.max_bytes = max_bytes
        self.kinds: dict[tuple[str, ...], _Kind] = {(): _Kind.DIR}
        self.links: dict[tuple[str, ...], str] = {}
        self.members = self.dirs = self.bytes = 0

    def close(self) -> None:
        os.close(self.root_fd)

    # -- names ---------------------------------------------------------------------------
    @staticmethod
    def parts(name: str) -> tuple[str, ...]:
        text = _posix(name)
        if "\0" in text:
            raise _Refused("a member name holds a NUL byte", _FIX_REPACK, name)
        if len(os.fsencode(text)) > MAX_PATH:
            raise _Refused(f"a member's path is longer than {MAX_PATH} bytes", _FIX_REPACK, name)
        parts = tuple(p for p in text.split("/") if p not in ("", "."))
        if text.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
            raise _Refused(
                "a member points outside the submission (absolute path or '..', path traversal)",
                _FIX_REPACK,
                name,
            )
        if len(parts) > MAX_DEPTH:
            raise _Refused(
                f"a member is nested deeper than {MAX_DEPTH} folders", _FIX_SMALLER, name
            )
        if any(len(os.fsencode(p)) > MAX_NAME for p in parts):
            raise _Refused(f"a member's name is longer than {MAX_NAME} bytes", _FIX_REPACK, name)
        return parts

    # -- links ---------------------------------------------------------------------------
    def resolve(self, parent: tuple[str, ...], target: str, name: str) -> tuple[str, ...] | None:
        """Where ``target``, read in folder ``parent``, leads: following the archive's own links
        component by component as the kernel would; None if it leaves the tree."""
        if target.startswith("/"):
            return None
        stack = list(parent)
        pending = list(reversed(target.split("/")))
        hops = 0
        while pending:
            comp = pending.pop()
            if comp in ("", "."):
                continue
            if comp == "..":
                if not stack:
                    return None
                stack.pop()
                continue
            stack.append(comp)
            link = self.links.get(tuple(stack))
            if link is not None:
                hops += 1
                if hops > MAX_LINK_HOPS:
                    raise _Refused("links form a loop", _FIX_LINK, name)
                stack.pop()
                if link.startswith("/"):
                    return None
                pending.extend(reversed(link.split("/")))
        return tuple(stack)

    def _check_link(self, parts: tuple[str, ...], target: str, name: str) -> None:
        if self.resolve(parts[:-1], target, name) is None:
            raise _Refused(f"link -> {target!r} leads outside the submission", _FIX_LINK, name)

    def recheck_links(self) -> None:
        """Once every member is in: a link made later may have changed where an earlier target
        leads (``a -> b/..`` then ``b -> .``), so every target is resolved again."""
        for parts, target in self.links.items():
            self._check_link(parts, target, "/".join(parts))

    # -- creation ------------------------------------------------------------------------
    def _count(self) -> None:
        self.clock.check()
        self.members += 1
        if self.members > MAX_FILES:
            raise _Refused(f"more than {MAX_FILES} members", _FIX_SMALLER)

    def _new_dir(self) -> None:
        self.dirs += 1
        if self.dirs > MAX_DIRS:
            raise _Refused(f"more than {MAX_DIRS} folders", _FIX_SMALLER)

    def _check_parents(self, parts: tuple[str, ...], name: str) -> None:
        """Each component of the member's parent path must be a folder of the archive's own
        (never a link or a file), and the member itself new: checked before anything is made
        or resolved for this member."""
        for i in range(1, len(parts)):
            kind = self.kinds.get(parts[:i])
            if kind is _Kind.LINK:
                raise _Refused(
                    f"member is inside link {'/'.join(parts[:i])!r}; archives may not write "
                    "through links",
                    _FIX_LINK,
                    name,
                )
            if kind is _Kind.FILE:
                raise _Refused(f"member is inside file {'/'.join(parts[:i])!r}", _FIX_REPACK, name)
        if parts in self.kinds:
            raise _Refused("member appears twice (a later one would replace it)", _FIX_REPACK, name)

    def _parent(self, parts: tuple[str, ...]) -> int:
        """A descriptor of the member's parent folder (checked by ``_check_parents``), its
        missing folders made on the way, each entered with O_NOFOLLOW from its parent's."""
        fd = os.dup(self.root_fd)
        try:
            for i, comp in enumerate(parts[:-1], start=1):
                if parts[:i] not in self.kinds:
                    self._new_dir()
                    os.mkdir(comp, 0o755, dir_fd=fd)
                    self.kinds[parts[:i]] = _Kind.DIR
                sub = os.open(comp, _OPEN_DIR, dir_fd=fd)
                os.close(fd)
                fd = sub
        except BaseException:
            os.close(fd)
            raise
        return fd

    def add(self, m: _Member) -> None:
        self._count()
        parts = self.parts(m.name)
        if m.kind == "hardlink":
            raise _Refused("hard link; archives may not hold hard links", _FIX_LINK, m.name)
        if m.kind == "other":
            raise _Refused(
                "member is a device or fifo (or socket); not allowed", _FIX_REPACK, m.name
            )
        if not parts:
            if m.kind == "dir":
                return  # "./": the root itself
            raise _Refused("a member has an empty name", _FIX_REPACK, m.name)
        if m.kind == "dir" and self.kinds.get(parts) is _Kind.DIR:
            return  # a folder listed again, or after members inside it
        if m.kind == "file" and self.bytes + max(0, m.size) > self.max_bytes:
            raise _too_big(self.max_bytes)
        self._check_parents(parts, m.name)
        target = self._target(m) if m.kind == "symlink" else ""
        if m.kind == "symlink":
            self._check_link(parts, target, m.name)
        fd = self._parent(parts)
        try:
            if m.kind == "dir":
                self._new_dir()
                os.mkdir(parts[-1], 0o755, dir_fd=fd)
                self.kinds[parts] = _Kind.DIR
            elif m.kind == "symlink":
                os.symlink(target, parts[-1], dir_fd=fd)
                self.kinds[parts] = _Kind.LINK
                self.links[parts] = target
            else:
                out = os.open(parts[-1], _CREATE, 0o755 if m.executable else 0o644, dir_fd=fd)
                self.kinds[parts] = _Kind.FILE
                try:
                    self._copy(m, out)
                finally:
                    os.close(out)
        finally:
            os.close(fd)

    def _target(self, m: _Member) -> str:
        if m.open is not None:  # zip: the target is the member's data
            with m.open() as src:
                raw = src.read(MAX_LINK + 1)
            target = os.fsdecode(raw)
        else:
            target = m.target
        if len(os.fsencode(target)) > MAX_LINK:
            raise _Refused(f"link target longer than {MAX_LINK} bytes", _FIX_LINK, m.name)
        if not target or "\0" in target:
            raise _Refused("link with an empty or NUL target", _FIX_LINK, m.name)
        return target

    def _copy(self, m: _Member, out: int) -> None:
        assert m.open is not None
        with m.open() as src:
            while chunk := src.read(_CHUNK):
                self.clock.check()
                self.bytes += len(chunk)
                if self.bytes > self.max_bytes:
                    raise _too_big(self.max_bytes)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(out, view) :]


# -- formats ---------------------------------------------------------------------------------
def _zip_members(zf: zipfile.ZipFile) -> Iterator[_Member]:
    infos = zf.infolist()
    if len(infos) > MAX_FILES:
        raise _Refused(f"more than {MAX_FILES} members", _FIX_SMALLER)
    declared = 0
    for info in infos:  # everything the directory says is checked before a byte is written
        if info.filename.strip("/."):
            _Tree.parts(info.filename)
        if info.flag_bits & 0x1:
            raise _Refused(
                "member is encrypted", "send an archive without a password", info.filename
            )
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _Refused(
                f"member uses compression method {info.compress_type}; only stored and deflate "
                "are accepted",
                "re-create the archive with plain zip",
                info.filename,
            )
        declared += info.file_size
        if declared > MAX_BYTES:
            raise _too_big()
    for info in infos:
        mode = info.external_attr >> 16 if info.create_system == 3 else 0
        fmt = stat.S_IFMT(mode)
        kind = (
            "dir"
            if info.filename.endswith("/") or fmt == stat.S_IFDIR
            else "symlink"
            if fmt == stat.S_IFLNK
            else "file"
            if fmt in (0, stat.S_IFREG)
            else "other"
        )
        yield _Member(
            name=info.filename,
            kind=kind,
            size=info.file_size,
            executable=bool(mode & 0o111),
            open=functools.partial(zf.open, info),
        )


def _extract(tf: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    src = tf.extractfile(member)
    assert src is not None  # a regular file always has a reader
    return src


def _tar_members(tf: tarfile.TarFile) -> Iterator[_Member]:
    for member in tf:
        kind = (
            "dir"
            if member.isdir()
            else "symlink"
            if member.issym()
            else "hardlink"
            if member.islnk()
            else "file"
            if member.isfile()
            else "other"
        )
        yield _Member(
            name=member.name,
            kind=kind,
            size=member.size,
            executable=bool(member.mode & 0o111),
            open=functools.partial(_extract, tf, member) if kind == "file" else None,
            target=member.linkname,
        )


def _decompressed(fh: IO[bytes]) -> Any:
    magic = fh.read(6)
    fh.seek(0)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=fh, mode="rb")
    if magic.startswith(b"BZh"):
        return bz2.BZ2File(fh)
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(fh)
    return fh


_PARSE_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    tarfile.TarError,
    EOFError,
    OSError,
    zlib.error,
    lzma.LZMAError,
    ValueError,
    NotImplementedError,
    RuntimeError,
)


def unpack(archive: Path, dest: Path) -> Path:
    """Unpack ``archive`` into ``dest`` (made here, must not exist); return the submission's
    root inside it. Every refusal is a one-line SubmissionError and leaves no tree behind."""
    extract(archive, dest)
    entries = [p for p in dest.iterdir() if p.name not in ("__MACOSX",)]
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return dest


def extract(archive: Path, dest: Path, *, max_bytes: int | None = None) -> None:
    """Unpack ``archive`` into ``dest`` (made here, must not exist) under every rule above, at
    most ``max_bytes`` written (default MAX_BYTES); ``dest`` is the tree's root as it is (no
    single-folder descent)."""
    max_bytes = MAX_BYTES if max_bytes is None else max_bytes
    if not archive.is_file():
        raise SubmissionError(f"{archive}: not a file")
    if archive.stat().st_size > MAX_ARCHIVE_BYTES:
        raise SubmissionError(
            f"{archive}: refused: archive larger than {_size(MAX_ARCHIVE_BYTES)}; {_FIX_SMALLER}"
        )
    dest.mkdir(parents=True)
    clock = _Clock()
    try:
        tree = _Tree(dest, clock, max_bytes)
        try:
            with open(archive, "rb") as fh:
                if archive.name.lower().endswith(".zip"):
                    directory_too_big = _Refused(
                        f"zip directory larger than {MAX_ZIP_DIRECTORY >> 20} MiB", _FIX_SMALLER
                    )
                    raw = _Bounded(
                        fh,
                        clock,
                        max_read=MAX_ZIP_DIRECTORY,
                        limit=1 << 62,
                        too_big=directory_too_big,
                        size=archive.stat().st_size,
                    )
                    with zipfile.ZipFile(raw) as zf:
                        for m in _zip_members(zf):
                            tree.add(m)
                else:
                    header_too_big = _Refused(
                        f"a tar header block larger than {MAX_HEADER_READ >> 20} MiB", _FIX_REPACK
                    )
                    with _decompressed(fh) as plain:
                        stream = _Bounded(
                            plain,
                            clock,
                            max_read=MAX_HEADER_READ,
                            limit=max_bytes + STREAM_SLACK,
                            too_big=header_too_big,
                        )
                        with tarfile.TarFile(fileobj=stream, mode="r") as tf:  # type: ignore[arg-type]
                            for m in _tar_members(tf):
                                tree.add(m)
            tree.recheck_links()
        finally:
            tree.close()
    except _Refused as exc:
        shutil.rmtree(dest, ignore_errors=True)
        where = f" {exc.member!r}" if exc.member is not None else ""
        raise SubmissionError(f"{archive}: refused{where}: {exc.rule}; {exc.fix}") from None
    except _PARSE_ERRORS as exc:
        shutil.rmtree(dest, ignore_errors=True)
        detail = " ".join(str(exc).split())[:200]
        raise SubmissionError(
            f"{archive}: not a readable archive ({type(exc).__name__}: {detail}); {_FIX_REPACK}"
        ) from None


def links_stay_inside(root: Path, what: str) -> None:
    """Every symbolic link under ``root`` resolves inside it. A git repository can hold any link
    (``Dockerfile -> /etc/shadow``, ``assess.toml -> ~/.ssh/id_rsa``); reading the submission
    must never read the grading host. Links to folders are not entered."""
    real_root = root.resolve()
    for here, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(here) / name
            if not path.is_symlink():
                continue
            resolved = Path(os.path.realpath(path))
            if resolved != real_root and real_root not in resolved.parents:
                rel = path.relative_to(root).as_posix()
                raise SubmissionError(
                    f"{what}: refused {rel!r}: link -> {os.readlink(path)!r} leads outside the "
                    f"submission; {_FIX_LINK}"
                )


def materialize(source: str, workdir: Path, *, ref: str | None = None) -> Path:
    """The submission directory for ``source``: a directory as is, an archive unpacked, a git
    URL cloned (at ``ref``)."""
    if repos.is_git_url(source):
        root = repos.clone(source, workdir / "submission", ref=ref, what="submission")
        links_stay_inside(root, source)
        return root
    if ref is not None:
        raise SubmissionError(f"--ref {ref} needs a git URL as the submission, not {source}")
    path = Path(source)
    if is_archive(path):
        target = workdir / "unpacked"
        shutil.rmtree(target, ignore_errors=True)
        return unpack(path, target)
    return path
