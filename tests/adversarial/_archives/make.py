"""Hostile archives, written by hand the way an attacker would (stdlib only).

``build(folder)`` writes every case into ``folder`` and returns ``CASES``: file name -> the rule
its refusal must name. tests/unit/test_archive_attacks.py runs ``assess run`` on each one and
checks exit 2, a one-line message naming the rule, nothing written outside, bounded memory.

The escapes aim at ``<tmp>/assess-adv-archive-sentinel`` (``<tmp>`` is the system temporary
folder, where ``assess run`` unpacks): the submission is unpacked into
``<tmp>/assess-submission-XXXX/unpacked``, two levels below ``<tmp>``.
"""

from __future__ import annotations

import gzip
import io
import stat
import tarfile
import zipfile
from pathlib import Path

SENTINEL = "assess-adv-archive-sentinel"

# file name -> a fragment of the one-line refusal
CASES = {
    # a -> ., a/b -> .. (b lands in the root, pointing one level up), b/c -> .. (two up), then
    # a file written through them: each link stays inside by its path text alone
    "chain-escape.tar.gz": "archives may not write through links",
    "chain-escape.zip": "archives may not write through links",
    # a symlink inside a folder that is itself a symlink
    "link-in-linked-folder.zip": "archives may not write through links",
    # the target is inside when made (d1/.../d8/ then eight ".."): the links d1..d8 -> "." that
    # follow make it climb eight levels, out of the tree, to /etc/hostname
    "order-escape.tar.gz": "leads outside",
    # a file, then a link of the same name, then a member written through it
    "replace-file-with-link.tar": "appears twice",
    "hard-link.tar": "hard link",
    "absolute-link.zip": "leads outside",
    "dotdot-name.zip": "path traversal",
    "absolute-name.tar": "path traversal",
    "device.tar": "device or fifo",
    "deep.tar.gz": "deeper than 48",
    "long-link-target.tar": "link target longer than 1024",
    "long-name.tar": "longer than 255 bytes",
    # inode bombs: few KB that make tens of thousands of folders / entries
    "folder-bomb.tar.gz": "more than 5000 folders",
    "dir-bomb.tar.gz": "more than 5000 folders",
    "entry-bomb.tar.gz": "more than 10000 members",
    "entry-bomb.zip": "more than 10000 members",
    # 256 KB that decompress to 256 MiB, 1 MB to 1 GiB: refused from the declared size before a
    # byte is written
    "zip-bomb.zip": "unpacks to more than 200 MiB",
    "tar-bomb.tar.gz": "unpacks to more than 200 MiB",
    # 210 members of 1 MiB each: counted as written, stops at the cap
    "tar-many-mib.tar.gz": "unpacks to more than 200 MiB",
    # a pax / GNU long-name header of 128 MiB, which tarfile would read whole into memory
    "pax-header-bomb.tar.gz": "tar header block larger than 1 MiB",
    "longname-header-bomb.tar.gz": "tar header block larger than 1 MiB",
    "bzip2-member.zip": "compression method 12",
}

_ZEROS = bytes(1 << 20)


def _info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size, info.mode = kind, link, size, 0o644
    return info


def _tar(path: Path, members: list[tarfile.TarInfo], mode: str = "w:gz") -> None:
    with tarfile.open(path, mode, format=tarfile.PAX_FORMAT) as tf:
        for m in members:
            tf.addfile(m, io.BytesIO(b"pwned\n"[: m.size]) if m.isfile() else None)


def _zip(path: Path, members: list[tuple[str, str, str]], method: int = zipfile.ZIP_DEFLATED) -> None:
    """(kind, name, data or link target)"""
    with zipfile.ZipFile(path, "w", method) as zf:
        for kind, name, data in members:
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.compress_type = method
            mode = {"link": stat.S_IFLNK | 0o777, "dir": stat.S_IFDIR | 0o755}.get(kind, stat.S_IFREG | 0o644)
            info.external_attr = mode << 16
            zf.writestr(info, data)


def _raw_tar_header(name: bytes, kind: bytes, size: int) -> bytes:
    """A ustar header block with a checksum, for header types tarfile will not write itself."""
    block = bytearray(512)
    block[0 : len(name)] = name
    block[100:108] = b"0000644\0"
    block[108:116] = block[116:124] = b"0000000\0"
    block[124:136] = b"%011o\0" % size
    block[136:148] = b"00000000000\0"
    block[156:157] = kind
    block[257:265] = b"ustar\x0000"
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def _header_bomb(path: Path, kind: bytes) -> None:
    size = 128 << 20
    with gzip.open(path, "wb", compresslevel=9) as gz:
        gz.write(_raw_tar_header(b"././@LongLink" if kind == b"L" else b"pax", kind, size))
        for _ in range(size >> 20):
            gz.write(_ZEROS)
        gz.write(_raw_tar_header(b"after", b"0", 0))
        gz.write(bytes(1024))


def build(folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    up2 = f"a/b/c/{SENTINEL}/pwned"
    _tar(
        folder / "chain-escape.tar.gz",
        [_info("a", tarfile.SYMTYPE, "."), _info("a/b", tarfile.SYMTYPE, ".."),
         _info("b/c", tarfile.SYMTYPE, ".."), _info(up2.replace("a/b/c", "b/c"), size=6)],
    )
    _zip(
        folder / "chain-escape.zip",
        [("link", "a", "."), ("link", "a/b", ".."), ("link", "b/c", ".."), ("file", f"b/c/{SENTINEL}/pwned", "pwned\n")],
    )
    _zip(
        folder / "link-in-linked-folder.zip",
        [("dir", "real/", ""), ("link", "d", "real"), ("link", "d/e", "../.."), ("file", "d/e/x", "pwned\n")],
    )
    target = "/".join([f"d{i}" for i in range(1, 9)] + [".."] * 8 + ["etc", "hostname"])
    _tar(
        folder / "order-escape.tar.gz",
        [_info("Dockerfile", tarfile.SYMTYPE, target)]
        + [_info(f"d{i}", tarfile.SYMTYPE, ".") for i in range(1, 9)],
    )
    _tar(
        folder / "replace-file-with-link.tar",
        [_info("cfg", size=6), _info("cfg", tarfile.SYMTYPE, "."), _info("cfg/x", size=6)],
        "w",
    )
    _tar(folder / "hard-link.tar", [_info("passwd", tarfile.LNKTYPE, "/etc/passwd")], "w")
    _zip(folder / "absolute-link.zip", [("link", "etc", "/etc"), ("file", "Dockerfile", "FROM x\n")])
    _zip(folder / "dotdot-name.zip", [("file", f"../{SENTINEL}/pwned", "pwned\n")])
    _tar(folder / "absolute-name.tar", [_info(f"/tmp/{SENTINEL}/pwned", size=6)], "w")
    _tar(folder / "device.tar", [_info("null", tarfile.CHRTYPE)], "w")
    _tar(folder / "deep.tar.gz", [_info("/".join(["d"] * 100) + "/f", size=6)])
    _tar(folder / "long-link-target.tar", [_info("l", tarfile.SYMTYPE, "a/" * 2000)], "w")
    _tar(folder / "long-name.tar", [_info("n" * 300, size=6)], "w")
    deep = "/".join(f"d{j}" for j in range(40))
    _tar(folder / "folder-bomb.tar.gz", [_info(f"t{i}/{deep}/f", size=6) for i in range(200)])
    _tar(folder / "dir-bomb.tar.gz", [_info(f"e{i}", tarfile.DIRTYPE) for i in range(20_000)])
    _tar(folder / "entry-bomb.tar.gz", [_info(f"e{i}") for i in range(20_000)])
    with zipfile.ZipFile(folder / "entry-bomb.zip", "w") as zf:
        for i in range(11_000):
            zf.writestr(f"{i}", b"")
    with zipfile.ZipFile(folder / "zip-bomb.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        info = zipfile.ZipInfo("zeros")
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as out:
            for _ in range(256):
                out.write(_ZEROS)
    with gzip.open(folder / "tar-bomb.tar.gz", "wb", compresslevel=9) as gz, tarfile.open(fileobj=gz, mode="w|") as tf:
        tf.addfile(_info("zeros", size=1 << 30), _Zeros(1 << 30))
    with gzip.open(folder / "tar-many-mib.tar.gz", "wb", compresslevel=9) as gz, tarfile.open(fileobj=gz, mode="w|") as tf:
        for i in range(210):
            tf.addfile(_info(f"z{i}", size=1 << 20), io.BytesIO(_ZEROS))
    _header_bomb(folder / "pax-header-bomb.tar.gz", b"x")
    _header_bomb(folder / "longname-header-bomb.tar.gz", b"L")
    _zip(folder / "bzip2-member.zip", [("file", "Dockerfile", "FROM x\n")], zipfile.ZIP_BZIP2)
    return dict(CASES)


class _Zeros(io.RawIOBase):
    """``n`` zero bytes, read in chunks (never held whole)."""

    def __init__(self, n: int) -> None:
        self.left = n

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[no-untyped-def]
        n = min(len(buf), self.left, len(_ZEROS))
        buf[:n] = _ZEROS[:n]
        self.left -= n
        return n


if __name__ == "__main__":
    import sys

    for name in build(Path(sys.argv[1])):
        print(name, (Path(sys.argv[1]) / name).stat().st_size)
