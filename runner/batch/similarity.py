"""Similarity flags across a batch: winnowed fingerprints of normalised tokens, as MOSS does.

For review, never a verdict: a flagged pair is shown in the leaderboard with its similarity and
the matching regions, for a person to read.

How (Schleimer, Wilkerson, Aiken, "Winnowing: local algorithms for document fingerprinting",
SIGMOD 2003, the algorithm behind MOSS):

1. Each source file is tokenised by Pygments (any language it knows, chosen by file name).
   Comments, whitespace and docstrings are dropped; every identifier the author chose becomes
   ``V`` (renaming does not hide a copy), while keywords, operators, literals and builtin names
   stay as written.
2. Every run of ``K`` tokens is hashed; in each window of ``W`` consecutive hashes the smallest is
   kept (winnowing). Any match of at least ``K + W - 1`` tokens is guaranteed to share a
   fingerprint; matches shorter than ``K`` tokens (idioms) never do. Fingerprints do not depend
   on where code stands in a file, so reordering functions does not hide a copy either.
3. Every source file the submission holds is read, whatever folder it sits in (``dist/``,
   ``build/``, ``vendor/``, ``node_modules/``, hidden folders, files ``.dockerignore`` leaves out
   of the build): a folder's name is the candidate's to choose, so it decides nothing. Left out
   are only the code every candidate was given (the ``assess init`` starters and the challenge's
   published files: their fingerprints) and known dependency files, identified by content: a
   file whose SHA-256 is listed in the challenge's ``similarity-known.sha256`` (``sha256sum``
   format, written by the challenge's author from a clean install of the dependencies; a
   candidate cannot add to it). Fingerprints in more than half of a large batch are ignored too.
4. A pair is flagged when the fingerprints it shares are at least ``threshold`` of either side's
   fingerprints and at least ``MIN_SHARED`` of them; the matching regions are the shared
   fingerprints grouped into line ranges that run in step on both sides.

Why not copydetect (PyPI): on the challenges' own solutions it separates copies from independent
work exactly as this module does (docs/batches.md has the figures), but it compares files pair by
pair and needs numpy and matplotlib; this needs only Pygments (already here through rich) and an
inverted index, so 200 submissions cost one pass, not 20,000 comparisons.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from runner.starters import STARTERS, STARTERS_DIR

K = 15  # tokens per k-gram: the noise threshold (shorter matches never count)
W = 5  # winnowing window: matches of K + W - 1 = 19 tokens are always detected
THRESHOLD = 0.5
MIN_SHARED = 12
MAX_FILE_BYTES = 512 * 1024
MAX_SUBMISSION_BYTES = 8 * 1024 * 1024  # source read per submission: bounds a batch's time
MAX_FILES = 20_000  # files looked at per submission (names only; an inode bomb stops here)
MAX_EXCERPT_LINE = 240  # characters of one line in an excerpt (a minified line is long)
KNOWN_FILE = "similarity-known.sha256"
MAX_REGIONS = 8
REGION_GAP = 4  # lines between two matches still read as one region
EXCERPT_LINES = 40
SOURCE_SUFFIXES = {
    ".py", ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".go", ".rs", ".java", ".kt", ".rb",
    ".php", ".c", ".h", ".cc", ".cpp", ".hpp", ".cs", ".scala", ".ex", ".exs", ".lua", ".sh",
    ".swift", ".clj", ".erl", ".hs", ".ml", ".pl",
}  # fmt: skip
_MOD = (1 << 61) - 1
_BASE = 1_000_003


@dataclass(frozen=True)
class Token:
    text: str
    line: int


def tokens(filename: str, text: str) -> list[Token]:
    """Normalised tokens of one source file (empty when Pygments does not know the language)."""
    # Pygments loads its lexer tables on import: only batches with similarity flags pay for it.
    from pygments.lexers import get_lexer_for_filename
    from pygments.token import Comment, Name, String, Text
    from pygments.util import ClassNotFound

    try:
        lexer = get_lexer_for_filename(filename, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return []
    kept = (Name.Builtin, Name.Decorator, Name.Namespace, Name.Exception)
    out: list[Token] = []
    line = 1
    prev_string = False
    for ttype, value in lexer.get_tokens(text):
        here = line
        line += value.count("\n")
        was_string, prev_string = prev_string, ttype in String and ttype not in String.Doc
        if ttype in Comment or ttype in Text or ttype in String.Doc or not value.strip():
            continue
        if ttype in Name and not any(ttype in k for k in kept):
            out.append(Token("V", here))
        elif ttype in String:  # a literal's text is as easy to change as a name
            if not was_string:
                out.append(Token("S", here))
        else:
            out.append(Token(value.strip(), here))
    return out


def kgram_hashes(toks: list[Token]) -> list[int]:
    """The hash of every run of K tokens (a rolling polynomial hash: stable across processes)."""
    if len(toks) < K:
        return []
    values = [zlib.crc32(t.text.encode()) + 1 for t in toks]
    top = pow(_BASE, K - 1, _MOD)
    h = 0
    for v in values[:K]:
        h = (h * _BASE + v) % _MOD
    out = [h]
    for i in range(K, len(values)):
        h = ((h - values[i - K] * top) * _BASE + values[i]) % _MOD
        out.append(h)
    return out


def winnow(hashes: list[int]) -> list[int]:
    """Indices of the fingerprints: the rightmost minimum of each window of W hashes."""
    if len(hashes) <= W:
        return [min(range(len(hashes)), key=lambda i: (hashes[i], -i))] if hashes else []
    chosen: list[int] = []
    for start in range(len(hashes) - W + 1):
        window = range(start, start + W)
        best = min(window, key=lambda i: (hashes[i], -i))
        if not chosen or chosen[-1] != best:
            chosen.append(best)
    return chosen


@dataclass
class Fingerprints:
    """One submission's fingerprints: hash -> where (file index, first line, last line)."""

    name: str
    digest: str = ""
    files: list[tuple[str, list[str]]] = field(default_factory=list)
    where: dict[int, list[tuple[int, int, int]]] = field(default_factory=dict)
    # source files not compared, and why (over a cap): said, never silently dropped
    unread: list[str] = field(default_factory=list)

    def add_file(self, rel: str, text: str) -> None:
        toks = tokens(rel, text)
        hashes = kgram_hashes(toks)
        if not hashes:
            return
        index = len(self.files)
        self.files.append((rel, text.splitlines()))
        for i in winnow(hashes):
            self.where.setdefault(hashes[i], []).append((index, toks[i].line, toks[i + K - 1].line))


def all_files(root: Path) -> list[Path]:
    """Every regular file under ``root`` (relative paths), hidden and dependency folders
    included, links never followed; at most MAX_FILES."""
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            out.append(Path(dirpath, name).relative_to(root))
            if len(out) >= MAX_FILES:
                return out
    return out


def known_hashes(challenge_root: Path | None) -> frozenset[str]:
    """SHA-256 (hex) of the dependency files the challenge's author listed as known."""
    if challenge_root is None or not (challenge_root / KNOWN_FILE).is_file():
        return frozenset()
    text = (challenge_root / KNOWN_FILE).read_text(encoding="utf-8", errors="replace")
    return frozenset(
        line.split()[0].lower()
        for line in text.splitlines()
        if line.split() and len(line.split()[0]) == 64
    )


def source_files(
    root: Path,
    files: Iterable[Path],
    known: frozenset[str] = frozenset(),
    unread: list[str] | None = None,
) -> Iterator[tuple[str, str]]:
    """(relative path, text) of the submission's source files, by suffix, whatever folder
    they are in; a file whose SHA-256 is in ``known`` (a known dependency) is left out. Reading
    is bounded: a file over MAX_FILE_BYTES, and everything past MAX_SUBMISSION_BYTES (smallest
    files first, so a padding of large files cannot push a copy out), is named in ``unread``."""
    sized = []
    for rel in files:
        path = root / rel
        if path.suffix.lower() not in SOURCE_SUFFIXES or path.is_symlink() or not path.is_file():
            continue
        sized.append((path.stat().st_size, rel))
    budget = MAX_SUBMISSION_BYTES
    for size, rel in sorted(sized, key=lambda x: (x[0], x[1].as_posix())):
        if size > MAX_FILE_BYTES or size > budget:
            if unread is not None:
                unread.append(f"{rel.as_posix()} ({size:,} bytes: over the reading cap)")
            continue
        data = (root / rel).read_bytes()[:MAX_FILE_BYTES]
        if known and hashlib.sha256(data).hexdigest() in known:
            continue  # a known dependency file, byte for byte
        budget -= size
        yield rel.as_posix(), data.decode("utf-8", errors="replace")


def fingerprint_dir(
    name: str,
    root: Path,
    files: Iterable[Path] | None = None,
    digest: str = "",
    known: frozenset[str] = frozenset(),
) -> Fingerprints:
    """``files`` None: every file under ``root`` (:func:`all_files`)."""
    fp = Fingerprints(name, digest)
    listed = all_files(root) if files is None else files
    for rel, text in source_files(root, listed, known, fp.unread):
        fp.add_file(rel, text)
    return fp


def boilerplate_hashes(texts: Iterable[tuple[str, str]]) -> set[int]:
    """Every k-gram hash of the code all candidates were given (not only its fingerprints)."""
    out: set[int] = set()
    for filename, text in texts:
        out.update(kgram_hashes(tokens(filename, text)))
    return out


@dataclass
class Region:
    a_file: str
    a_lines: tuple[int, int]
    b_file: str
    b_lines: tuple[int, int]
    fingerprints: int
    a_text: str = ""
    b_text: str = ""


@dataclass
class Pair:
    a: str
    b: str
    a_share: float  # of a's fingerprints, the share found in b
    b_share: float
    shared: int
    a_digest: str = ""
    b_digest: str = ""
    regions: list[Region] = field(default_factory=list)

    @property
    def similarity(self) -> float:
        return max(self.a_share, self.b_share)


def _excerpt(lines: list[str], span: tuple[int, int]) -> str:
    lo, hi = span
    picked = [
        line if len(line) <= MAX_EXCERPT_LINE else line[:MAX_EXCERPT_LINE] + "…"
        for line in lines[lo - 1 : min(hi, lo - 1 + EXCERPT_LINES)]
    ]
    more = hi - lo + 1 - len(picked)
    return "\n".join(picked) + (f"\n… ({more} more lines)" if more > 0 else "")


def regions(a: Fingerprints, b: Fingerprints, shared: set[int]) -> list[Region]:
    """Shared fingerprints grouped into line ranges that run in step on both sides."""
    spots = sorted((a.where[h][0], b.where[h][0]) for h in shared)
    groups: list[list[tuple[tuple[int, int, int], tuple[int, int, int]]]] = []
    for pa, pb in spots:
        if groups:
            la, lb = groups[-1][-1]
            first_b = groups[-1][0][1]
            if (
                pa[0] == la[0]
                and pb[0] == lb[0]
                and pa[1] <= la[2] + REGION_GAP
                and first_b[1] - REGION_GAP
                <= pb[1]
                <= max(q[1][2] for q in groups[-1]) + REGION_GAP
            ):
                groups[-1].append((pa, pb))
                continue
        groups.append([(pa, pb)])
    out = []
    for g in sorted(groups, key=len, reverse=True)[:MAX_REGIONS]:
        if len(g) < 2 and len(groups) > 1:
            continue
        fa, fb = g[0][0][0], g[0][1][0]
        a_span = (min(p[0][1] for p in g), max(p[0][2] for p in g))
        b_span = (min(p[1][1] for p in g), max(p[1][2] for p in g))
        out.append(
            Region(
                a.files[fa][0],
                a_span,
                b.files[fb][0],
                b_span,
                len(g),
                _excerpt(a.files[fa][1], a_span),
                _excerpt(b.files[fb][1], b_span),
            )
        )
    return out


def compare(
    subs: list[Fingerprints],
    ignore: set[int] = frozenset(),  # type: ignore[assignment]
    *,
    threshold: float = THRESHOLD,
    min_shared: int = MIN_SHARED,
) -> list[Pair]:
    """Every flagged pair, most similar first."""
    common_limit = max(10, len(subs) // 2)  # idioms most of a large batch shares
    holders: dict[int, list[int]] = defaultdict(list)
    for i, s in enumerate(subs):
        for h in s.where:
            if h not in ignore:
                holders[h].append(i)
    counted: dict[int, int] = {}
    for i, s in enumerate(subs):
        counted[i] = sum(1 for h in s.where if h not in ignore and len(holders[h]) <= common_limit)
    shared: dict[tuple[int, int], set[int]] = defaultdict(set)
    for h, who in holders.items():
        if 2 <= len(who) <= common_limit:
            for x in range(len(who)):
                for y in range(x + 1, len(who)):
                    shared[(who[x], who[y])].add(h)
    pairs = []
    for (i, j), hs in shared.items():
        a, b = subs[i], subs[j]
        a_share = len(hs) / counted[i] if counted[i] else 0.0
        b_share = len(hs) / counted[j] if counted[j] else 0.0
        if len(hs) < min_shared or max(a_share, b_share) < threshold:
            continue
        pairs.append(
            Pair(
                a.name,
                b.name,
                round(a_share, 3),
                round(b_share, 3),
                len(hs),
                a.digest,
                b.digest,
                regions(a, b, hs),
            )
        )
    return sorted(pairs, key=lambda p: (-p.similarity, p.a, p.b))


def published_texts(challenge_root: Path | None) -> list[tuple[str, str]]:
    """The code every candidate may have been given: the ``assess init`` starters, the code
    blocks of the challenge's brief, and the challenge's own source files but its solutions
    (visible checks and load profile are published; ignoring the rest too costs nothing)."""
    texts = [(name, text) for files in STARTERS.values() for name, text in files.items()]
    if challenge_root is None:  # every challenge's own starters (shipped in challenges/*/starters)
        from runner.challenges.registry import default_challenges_dir

        for p in sorted(default_challenges_dir().glob(f"*/{STARTERS_DIR}/*/**/*")):
            if p.suffix.lower() in SOURCE_SUFFIXES and p.is_file():
                texts.append((p.name, p.read_text(encoding="utf-8", errors="replace")))
        return texts
    brief = challenge_root / "README.md"
    if brief.is_file():  # its code blocks are code a candidate may paste
        texts += _code_blocks(brief.read_text(encoding="utf-8", errors="replace"))
    for p in sorted(challenge_root.rglob("*")):
        rel = p.relative_to(challenge_root).parts
        if rel[0] != "solutions" and p.suffix.lower() in SOURCE_SUFFIXES and p.is_file():
            texts.append((p.name, p.read_text(encoding="utf-8", errors="replace")))
    return texts


_FENCE_LANG = {"python": ".py", "py": ".py", "js": ".js", "javascript": ".js", "node": ".js"}


def _code_blocks(markdown: str) -> list[tuple[str, str]]:
    out, lang, buf = [], "", []  # type: ignore[var-annotated]
    inside = False
    for line in markdown.splitlines():
        if line.strip().startswith("```"):
            if inside:
                suffix = _FENCE_LANG.get(lang)
                if suffix:
                    out.append((f"brief{suffix}", "\n".join(buf)))
                inside, buf = False, []
            else:
                inside, lang = True, line.strip()[3:].strip().lower()
            continue
        if inside:
            buf.append(line)
    return out
