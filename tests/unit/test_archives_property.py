"""Property tests of runner.intake.archives: generated hostile archives (tar and zip; files, folders,
symbolic links chained through each other, hard links, absolute and ``..`` names, links aimed at
a sentinel tree around the destination, deep and wide trees) never change anything outside the
destination, leave no link that resolves outside it, end in a one-line SubmissionError when they
fail, and cost bounded memory. Honest archives (no traversal, links inside) unpack whole.

The sentinel: each example unpacks into ``<tmp>/box/work/unpacked`` while ``<tmp>/outside``,
``<tmp>/box`` and ``<tmp>/box/work`` hold files and folders; every path under ``<tmp>`` except the
destination is fingerprinted (type, mode, size, content, link target) before and after.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
import tempfile
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from runner.errors import SubmissionError
from runner.intake import archives

EXAMPLES = 600
MAX_PEAK = 16 << 20  # bytes traced while unpacking one generated archive

# Components chosen so that chains are likely: a few names reused, "..", ".", and a marker
# replaced by the absolute path of the sentinel folder when the archive is built.
COMPONENTS = st.sampled_from(["a", "a", "a", "b", "b", "c", "..", ".", "", "OUT"])
OUT = "OUT"


@st.composite
def composed_names(draw: st.DrawFn) -> str:
    parts = draw(st.lists(COMPONENTS, min_size=1, max_size=draw(st.sampled_from([1, 2, 3, 5]))))
    lead = draw(st.sampled_from(["", "", "", "/", "./"]))
    return lead + "/".join(parts)


# Most names come from a small pool, so that one member often lands where an earlier link is:
# the chains below need two or three members to agree on names.
POOL = ["a", "b", "c", "a/b", "b/c", "b/x", "a/b/x", "c/x", "a/x", "x", "b/a", "a/a"]
NAMES = st.one_of(st.sampled_from(POOL), st.sampled_from(POOL), composed_names())
TARGETS = st.one_of(
    st.sampled_from([".", "..", "../..", "a", "b", "a/..", "a/b/../..", "b/../..", "OUT", "/"]),
    composed_names(),
)


@st.composite
def members(draw: st.DrawFn) -> tuple[str, str, str]:
    kind = draw(
        st.sampled_from(["file", "file", "dir", "symlink", "symlink", "symlink", "hardlink"])
    )
    name = draw(NAMES)
    target = draw(TARGETS) if kind in ("symlink", "hardlink") else ""
    return kind, name, target


@st.composite
def chains(draw: st.DrawFn) -> list[tuple[str, str, str]]:
    """Links that build on each other, then a member written under the last: each is named
    inside the previous one (or beside it, as a link to "." would place it); links aim at ".",
    "..", earlier members or outside."""
    made = [""]
    out: list[tuple[str, str, str]] = []
    links = draw(st.integers(1, 4))
    for i in range(links + 1):
        base = draw(st.sampled_from(made[-2:]))
        name = (base + "/" if base else "") + draw(st.sampled_from(["a", "b"]))
        kind = "symlink"
        if i == links:
            kind = draw(st.sampled_from(["file", "file", "dir", "symlink", "hardlink"]))
        target = ""
        if kind in ("symlink", "hardlink"):
            aims = [".", ".", "..", "..", "../..", "OUT", "a/b/../..", "../outside", *made[-2:]]
            target = draw(st.sampled_from(aims))
        out.append((kind, name, target))
        made += [name, name.rsplit("/", 1)[-1]]
    return out


ARCHIVES = st.tuples(
    st.sampled_from(["tar", "tar.gz", "zip"]),
    st.lists(st.one_of(members().map(lambda m: [m]), chains()), min_size=1, max_size=4).map(
        lambda groups: [m for g in groups for m in g]
    ),
)
# Known chains, always tried: a link to "." makes the next link's ".." climb out of the tree,
# and a later member is written through it (each link harmless by its path text alone).
CHAIN = [("symlink", "a", "."), ("symlink", "a/b", ".."), ("file", "b/x", "")]
# A target that is inside when made and outside once later links exist.
ORDER = [("symlink", "l", "a/b/../../outside"), ("symlink", "a", "."), ("symlink", "b", ".")]
# A file replaced by a link, then written through.
REPLACE = [("file", "a", ""), ("symlink", "a", "OUT"), ("file", "a/x", "")]


def _real(text: str, out: Path) -> str:
    """The marker becomes the sentinel folder's absolute path (an attacker knows it or guesses)."""
    return text.replace(OUT, str(out))


def build(path: Path, fmt: str, entries: list[tuple[str, str, str]], out: Path) -> Path:
    if fmt == "zip":
        path = path.with_suffix(".zip")
        with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as zf:
            warnings.simplefilter("ignore")  # duplicate names are part of the attack
            for i, (kind, name, target) in enumerate(entries):
                info = zipfile.ZipInfo(_real(name, out) + ("/" if kind == "dir" else ""))
                info.create_system = 3
                if kind == "symlink":
                    info.external_attr = (stat.S_IFLNK | 0o777) << 16
                    zf.writestr(info, _real(target, out))
                elif kind == "dir":
                    info.external_attr = (stat.S_IFDIR | 0o755) << 16
                    zf.writestr(info, b"")
                else:  # zip has no hard links: a file with the hard link's name
                    info.external_attr = (stat.S_IFREG | 0o644) << 16
                    zf.writestr(info, b"pwned %d\n" % i)
        return path
    path = path.with_suffix(".tgz" if fmt == "tar.gz" else ".tar")
    with tarfile.open(path, "w:gz" if fmt == "tar.gz" else "w") as tf:
        for i, (kind, name, target) in enumerate(entries):
            info = tarfile.TarInfo(_real(name, out))
            info.type = {
                "file": tarfile.REGTYPE,
                "dir": tarfile.DIRTYPE,
                "symlink": tarfile.SYMTYPE,
                "hardlink": tarfile.LNKTYPE,
            }[kind]
            info.linkname = _real(target, out)
            data = b"pwned %d\n" % i
            info.size = len(data) if kind == "file" else 0
            tf.addfile(info, io.BytesIO(data) if kind == "file" else None)
    return path


def fingerprint(root: Path, skip: Path) -> dict[str, tuple[object, ...]]:
    """Everything under ``root`` but ``skip``: never following a link."""
    seen: dict[str, tuple[object, ...]] = {}
    for here, dirs, files in os.walk(root, followlinks=False):
        if Path(here) == skip or skip in Path(here).parents:
            dirs[:] = []
            continue
        for name in dirs + files:
            p = Path(here) / name
            if p == skip:
                continue
            st_ = p.lstat()
            if stat.S_ISLNK(st_.st_mode):
                what: object = os.readlink(p)
            elif stat.S_ISREG(st_.st_mode):
                what = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                what = None
            # a folder's link count and size change when the destination is made in it
            size = None if stat.S_ISDIR(st_.st_mode) else (st_.st_size, st_.st_nlink)
            seen[str(p.relative_to(root))] = (st_.st_mode, size, what)
    return seen


def attempt(archive: Path, dest: Path) -> SubmissionError | None:
    """Unpack; the refusal if there was one (anything else is a bug and propagates)."""
    try:
        archives.unpack(archive, dest)
    except SubmissionError as exc:
        return exc
    return None


def sentinel_tree(tmp: Path) -> tuple[Path, Path]:
    out = tmp / "outside"
    (out / "o" / "deep").mkdir(parents=True)
    (out / "o" / "victim").write_text("untouched\n")
    (out / "a").mkdir()
    (tmp / "box" / "work").mkdir(parents=True)
    (tmp / "box" / "a").write_text("untouched\n")
    (tmp / "box" / "work" / "b").write_text("untouched\n")
    return out, tmp / "box" / "work" / "unpacked"


def check_tree(dest: Path) -> None:
    """What an accepted archive left: only folders, files and links that resolve inside."""
    real_dest = dest.resolve()
    for here, dirs, files in os.walk(dest, followlinks=False):
        for name in dirs + files:
            p = Path(here) / name
            st_ = p.lstat()
            assert (
                stat.S_ISDIR(st_.st_mode) or stat.S_ISREG(st_.st_mode) or stat.S_ISLNK(st_.st_mode)
            )
            if stat.S_ISREG(st_.st_mode):
                assert st_.st_nlink == 1, f"{p} is a hard link"
                assert not st_.st_mode & (stat.S_ISUID | stat.S_ISGID)
            if stat.S_ISLNK(st_.st_mode):
                resolved = Path(os.path.realpath(p))
                assert resolved == real_dest or real_dest in resolved.parents, (
                    f"{p} -> {os.readlink(p)} resolves to {resolved}, outside"
                )


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(ARCHIVES)
@example(("tar", CHAIN))
@example(("zip", CHAIN))
@example(("tar.gz", ORDER))
@example(("zip", ORDER))
@example(("tar", REPLACE))
@example(("zip", REPLACE))
@example(("tar", [("hardlink", "h", "OUT/o/victim"), ("file", "h", "")]))
def test_nothing_lands_outside_the_destination(
    spec: tuple[str, list[tuple[str, str, str]]],
) -> None:
    fmt, entries = spec
    with tempfile.TemporaryDirectory(prefix="assess-prop-") as tmp_:
        tmp = Path(tmp_)
        out, dest = sentinel_tree(tmp)
        archive = build(tmp / "box" / "a", fmt, entries, out)
        before = fingerprint(tmp, dest)
        tracemalloc.start()
        try:
            refused = attempt(archive, dest)
        finally:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        if refused is None:
            check_tree(dest)
        else:
            assert "\n" not in refused.message
            assert str(archive) in refused.message
            assert not dest.exists(), "a refused archive leaves no tree behind"
        assert peak < MAX_PEAK
        assert fingerprint(tmp, dest) == before


# -- deep and wide trees, against small caps ----------------------------------------------
TREES = st.lists(
    st.lists(st.sampled_from(["d", "e", "f", "g"]), min_size=1, max_size=12).map("/".join),
    min_size=1,
    max_size=60,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(TREES, st.sampled_from(["tar.gz", "zip"]))
def test_deep_and_wide_trees_stay_within_every_cap(
    monkeypatch: pytest.MonkeyPatch, paths: list[str], fmt: str
) -> None:
    monkeypatch.setattr(archives, "MAX_FILES", 40)
    monkeypatch.setattr(archives, "MAX_DIRS", 30)
    monkeypatch.setattr(archives, "MAX_DEPTH", 8)
    monkeypatch.setattr(archives, "MAX_BYTES", 200)
    with tempfile.TemporaryDirectory(prefix="assess-prop-") as tmp_:
        tmp = Path(tmp_)
        out, dest = sentinel_tree(tmp)
        entries = [("file", p + "/z", "") for p in dict.fromkeys(paths)]
        archive = build(tmp / "box" / "a", fmt, entries, out)
        refused = attempt(archive, dest)
        if refused is not None:
            assert any(
                rule in refused.message
                for rule in (
                    "more than 40 members",
                    "more than 30 folders",
                    "deeper than 8",
                    "more than 200 bytes",
                    "appears twice",
                    "inside file",
                )
            ), refused.message
            return
        made = [p for p in dest.rglob("*")]
        assert len([p for p in made if p.is_file()]) <= 40
        assert len([p for p in made if p.is_dir()]) <= 30
        assert all(len(p.relative_to(dest).parts) <= 8 for p in made)
        assert sum(p.stat().st_size for p in made if p.is_file()) <= 200


# -- honest archives are never refused -----------------------------------------------------
HONEST = st.dictionaries(
    st.lists(
        st.sampled_from(["src", "lib", "app", "t", "m.py", "README"]), min_size=1, max_size=4
    ).map("/".join),
    st.binary(max_size=300),
    min_size=1,
    max_size=20,
)


@settings(max_examples=150, deadline=None)
@given(HONEST, st.sampled_from(["tar", "tar.gz", "zip"]), st.booleans())
def test_honest_archives_unpack_whole(files: dict[str, bytes], fmt: str, with_link: bool) -> None:
    # a path that is also the prefix of another one is a folder, not a file
    files = {k: v for k, v in files.items() if not any(o.startswith(k + "/") for o in files)}
    with tempfile.TemporaryDirectory(prefix="assess-prop-") as tmp_:
        src = Path(tmp_) / "src"
        for name, data in files.items():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes(data)
        first = sorted(files)[0]
        if with_link and "/" in first:  # a link to a sibling, as repositories hold
            (src / first).parent.joinpath("alias-link").symlink_to(Path(first).name)
        archive = Path(tmp_) / ("s.zip" if fmt == "zip" else f"s.{fmt}")
        if fmt == "zip":
            with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
                for p in sorted(src.rglob("*")):
                    rel = p.relative_to(src).as_posix()
                    if p.is_symlink():
                        info = zipfile.ZipInfo(rel)
                        info.create_system = 3
                        info.external_attr = (stat.S_IFLNK | 0o777) << 16
                        zf.writestr(info, os.readlink(p))
                    elif p.is_file():
                        zf.write(p, rel)
        else:
            with tarfile.open(archive, "w:gz" if fmt == "tar.gz" else "w") as tf:
                tf.add(src, arcname=".")
        dest = Path(tmp_) / "out"
        root = archives.unpack(archive, dest)
        for name, data in files.items():
            assert (dest / name).read_bytes() == data, name
        assert root in (dest, dest / sorted(files)[0].split("/")[0])
        if with_link and "/" in first:
            link = (src / first).parent.joinpath("alias-link").relative_to(src)
            assert (dest / link).is_symlink()
            assert (dest / link).read_bytes() == files[first]
