"""Submissions that arrive as a ``.zip``, ``.tar.gz``/``.tgz``/``.tar`` or a git URL, made into
a plain directory before anything else looks at them.

An archive is hostile: every member is checked before a byte is written. No absolute paths or
``..`` (path traversal), no hard links, no symbolic link that points outside the submission, no
device or fifo, at most ``MAX_FILES`` members and ``MAX_BYTES`` unpacked (a zip bomb stops at the
cap, counted from what is actually written, not from what the header claims). Each violation is a
SubmissionError (exit 2) naming the archive and the member. An archive holding one folder (as a
download of a repository does) is graded from that folder.
"""

from __future__ import annotations

import shutil
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from runner.errors import SubmissionError
from runner.intake import repos

MAX_FILES = 10_000
MAX_BYTES = 200 * 1024 * 1024
_CHUNK = 1 << 16
ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


def _safe_name(archive: Path, name: str) -> PurePosixPath:
    rel = PurePosixPath(name.replace("\\", "/"))
    if rel.is_absolute() or ".." in rel.parts or (rel.parts and ":" in rel.parts[0]):
        raise SubmissionError(
            f"{archive}: member {name!r} points outside the submission (path traversal); "
            "re-create the archive from the submission's folder"
        )
    return rel


def _check_link(archive: Path, name: PurePosixPath, target: str) -> None:
    dest = PurePosixPath(target)
    inside = name.parent / dest
    depth = 0
    for part in inside.parts:
        depth += -1 if part == ".." else 0 if part == "." else 1
        if depth < 0:
            break
    if dest.is_absolute() or depth < 0:
        raise SubmissionError(
            f"{archive}: link {str(name)!r} -> {target!r} leads outside the submission; "
            "replace it with the file itself"
        )


class _Budget:
    def __init__(self, archive: Path) -> None:
        self.archive = archive
        self.files = 0
        self.bytes = 0

    def member(self) -> None:
        self.files += 1
        if self.files > MAX_FILES:
            raise SubmissionError(
                f"{self.archive}: more than {MAX_FILES} files; leave out dependencies and build "
                "outputs (they are installed at build)"
            )

    def copy(self, src, out: Path) -> None:  # type: ignore[no-untyped-def]
        with open(out, "wb") as fh:
            while chunk := src.read(_CHUNK):
                self.bytes += len(chunk)
                if self.bytes > MAX_BYTES:
                    raise SubmissionError(
                        f"{self.archive}: unpacks to more than {MAX_BYTES >> 20} MiB; leave out "
                        "dependencies and build outputs"
                    )
                fh.write(chunk)


def _unzip(archive: Path, dest: Path, budget: _Budget) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            budget.member()
            rel = _safe_name(archive, info.filename)
            out = dest / rel
            mode = info.external_attr >> 16
            if info.is_dir():
                out.mkdir(parents=True, exist_ok=True)
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            if stat.S_ISLNK(mode):
                target = zf.read(info)[:4096].decode("utf-8", "replace")
                _check_link(archive, rel, target)
                out.symlink_to(target)
                continue
            with zf.open(info) as src:
                budget.copy(src, out)
            if mode & 0o111:
                out.chmod(0o755)


def _untar(archive: Path, dest: Path, budget: _Budget) -> None:
    with tarfile.open(archive) as tf:
        for member in tf:
            budget.member()
            rel = _safe_name(archive, member.name)
            out = dest / rel
            if member.isdir():
                out.mkdir(parents=True, exist_ok=True)
            elif member.issym():
                _check_link(archive, rel, member.linkname)
                out.parent.mkdir(parents=True, exist_ok=True)
                out.symlink_to(member.linkname)
            elif member.islnk():
                raise SubmissionError(
                    f"{archive}: hard link {member.name!r}; archives may not hold hard links"
                )
            elif member.isfile():
                out.parent.mkdir(parents=True, exist_ok=True)
                src = tf.extractfile(member)
                assert src is not None
                budget.copy(src, out)
                if member.mode & 0o111:
                    out.chmod(0o755)
            else:
                raise SubmissionError(
                    f"{archive}: member {member.name!r} is a device or fifo; not allowed"
                )


def unpack(archive: Path, dest: Path) -> Path:
    """Unpack ``archive`` safely into ``dest``; return the submission's root inside it."""
    dest.mkdir(parents=True, exist_ok=True)
    budget = _Budget(archive)
    try:
        if archive.name.lower().endswith(".zip"):
            _unzip(archive, dest, budget)
        else:
            _untar(archive, dest, budget)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise SubmissionError(f"{archive}: not a readable archive ({exc})") from None
    entries = [p for p in dest.iterdir() if p.name not in ("__MACOSX",)]
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return dest


def materialize(source: str, workdir: Path, *, ref: str | None = None) -> Path:
    """The submission directory for ``source``: a directory as is, an archive unpacked, a git
    URL cloned (at ``ref``)."""
    if repos.is_git_url(source):
        return repos.clone(source, workdir / "submission", ref=ref, what="submission")
    if ref is not None:
        raise SubmissionError(f"--ref {ref} needs a git URL as the submission, not {source}")
    path = Path(source)
    if is_archive(path):
        target = workdir / "unpacked"
        shutil.rmtree(target, ignore_errors=True)
        return unpack(path, target)
    return path
