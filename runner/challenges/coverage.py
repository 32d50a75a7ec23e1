"""The coverage matrix: the postings' requirements (seeds/catalogue.toml) against the challenges
that list them (``requirements = [...]`` in challenge.toml) and the checks that grade them.

A challenge's skills are its own (``validation``, ``pagination``...), the catalogue's are a fixed
vocabulary (``rest``, ``concurrency``...): where a covering challenge has checks of the
requirement's catalogue skill, those are the checks named for it; otherwise every check of the
challenge is (the challenge as a whole claims the requirement). Checks are read statically
(runner.challenges.checkscan), never imported.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from runner.challenges.checkscan import scan
from runner.challenges.registry import Challenge
from runner.errors import UsageError

SCHEMA = "assess-coverage/1"


@dataclass(frozen=True)
class Requirement:
    id: str
    posting: str
    title: str  # the posting's title
    company: str
    skill: str
    text: str


@dataclass
class Cover:
    """One challenge's claim on one requirement."""

    challenge: str
    skill: str | None  # the challenge skill the checks were matched by; None: all its checks
    checks: list[str]


@dataclass
class Matrix:
    requirements: list[Requirement]
    challenges: list[dict[str, Any]]  # id, title, checks per skill
    covers: dict[str, list[Cover]] = field(default_factory=dict)  # requirement id -> covers
    unknown: list[tuple[str, str]] = field(default_factory=list)  # (challenge, requirement id)

    @property
    def uncovered(self) -> list[Requirement]:
        return [r for r in self.requirements if not self.covers.get(r.id)]


def load_catalogue(path: Path) -> list[Requirement]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"{path}: no requirement catalogue; restore seeds/catalogue.toml (see seeds/README.md)"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: invalid TOML: {exc}; fix it (see seeds/README.md)") from None
    found: list[Requirement] = []
    for posting in data.get("postings", []):
        for req in posting.get("requirements", []):
            try:
                found.append(
                    Requirement(
                        id=req["id"],
                        posting=posting["id"],
                        title=posting.get("title", ""),
                        company=posting.get("company", ""),
                        skill=req["skill"],
                        text=req["text"],
                    )
                )
            except KeyError as exc:
                raise UsageError(
                    f"{path}: posting {posting.get('id', '?')}: a requirement lacks {exc}; "
                    "add it (see seeds/README.md)"
                ) from None
    return found


def build(catalogue: list[Requirement], challenges: list[Challenge]) -> Matrix:
    known = {r.id: r for r in catalogue}
    matrix = Matrix(requirements=catalogue, challenges=[])
    for ch in challenges:
        by_skill: dict[str, list[str]] = {}
        for check in scan(ch.checks_dir) if ch.checks_dir.is_dir() else []:
            by_skill.setdefault(check.skill or "general", []).append(check.id)
        if ch.config.kind == "tests" and ch.complete:  # a suite is graded by its mutants
            from runner.challenges.registry import load_mutants

            for m in load_mutants(ch):
                by_skill.setdefault(m.skill, []).append(f"mutant:{m.id}")
        matrix.challenges.append(
            {
                "id": ch.id,
                "title": ch.config.title,
                "checks": {k: sorted(v) for k, v in sorted(by_skill.items())},
            }
        )
        for rid in ch.config.requirements:
            req = known.get(rid)
            if req is None:
                matrix.unknown.append((ch.id, rid))
                continue
            if req.skill in by_skill:
                cover = Cover(ch.id, req.skill, sorted(by_skill[req.skill]))
            else:
                cover = Cover(ch.id, None, sorted(c for v in by_skill.values() for c in v))
            matrix.covers.setdefault(rid, []).append(cover)
    return matrix


def to_json(matrix: Matrix) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "summary": {
            "requirements": len(matrix.requirements),
            "covered": len(matrix.requirements) - len(matrix.uncovered),
            "uncovered": len(matrix.uncovered),
            "challenges": len(matrix.challenges),
        },
        "challenges": matrix.challenges,
        "requirements": [
            {
                "id": r.id,
                "posting": r.posting,
                "posting_title": r.title,
                "company": r.company,
                "skill": r.skill,
                "text": r.text,
                "covered_by": [
                    {"challenge": c.challenge, "matched_skill": c.skill, "checks": c.checks}
                    for c in matrix.covers.get(r.id, [])
                ],
            }
            for r in matrix.requirements
        ],
        "uncovered": [r.id for r in matrix.uncovered],
        "unknown": [{"challenge": c, "requirement": r} for c, r in matrix.unknown],
    }


def _cell(cover: Cover | None) -> str:
    if cover is None:
        return ""
    what = cover.skill if cover.skill else "all"
    return f"✓ {what} ({len(cover.checks)})"


def _cover_of(matrix: Matrix, rid: str, challenge: str) -> Cover | None:
    return next((c for c in matrix.covers.get(rid, []) if c.challenge == challenge), None)


def matrix_width(matrix: Matrix) -> int:
    """Columns the full matrix needs (each challenge a column)."""
    ids = [c["id"] for c in matrix.challenges]
    req = max([len("requirement"), *(len(r.id) for r in matrix.requirements)])
    skill = max([len("skill"), *(len(r.skill) for r in matrix.requirements)])
    cells = sum(max(len(cid), 12) + 3 for cid in ids)
    return req + skill + cells + 7


def table(matrix: Matrix, width: int | None = None) -> Table:
    """The matrix; narrower than it needs (a CI log's 80 columns), one row per requirement with
    the challenges covering it, so requirement ids are never cut."""
    if width is not None and matrix_width(matrix) > width:
        return compact_table(matrix)
    ids = [c["id"] for c in matrix.challenges]
    t = Table(title="requirements x challenges (cell: checks matched by skill)", pad_edge=False)
    t.add_column("requirement")
    t.add_column("skill")
    for cid in ids:
        t.add_column(cid)
    for r in matrix.requirements:
        cells = [_cell(_cover_of(matrix, r.id, cid)) for cid in ids]
        name = r.id if any(cells) else f"[red]{r.id}[/]"
        t.add_row(name, r.skill, *cells)
    return t


def compact_table(matrix: Matrix) -> Table:
    t = Table(
        title="requirements (covered by: challenge, checks matched)",
        title_justify="left",
        box=None,
        pad_edge=False,
    )
    t.add_column("requirement", no_wrap=True)
    t.add_column("skill", no_wrap=True)
    t.add_column("covered by", ratio=1)
    for r in matrix.requirements:
        covers = [
            f"{c['id']} ({len(cover.checks)})"
            for c in matrix.challenges
            if (cover := _cover_of(matrix, r.id, c["id"])) is not None
        ]
        name = r.id if covers else f"[red]{r.id}[/]"
        t.add_row(name, r.skill, ", ".join(covers) or "[red]none[/]")
    return t


def summary_lines(matrix: Matrix) -> list[str]:
    n, miss = len(matrix.requirements), len(matrix.uncovered)
    lines = [f"{n - miss} of {n} requirements covered by {len(matrix.challenges)} challenges"]
    if miss:
        lines.append(f"not covered by any challenge ({miss}):")
        lines += [escape(f"  {r.id} [{r.skill}]: {r.text}") for r in matrix.uncovered]
    for cid, rid in matrix.unknown:
        lines.append(
            f"warning: {cid} lists {rid}, which is not in seeds/catalogue.toml; "
            "fix the id in its challenge.toml"
        )
    return lines


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(matrix: Matrix) -> str:
    ids = [c["id"] for c in matrix.challenges]
    out = ["# Requirement coverage", ""]
    n, miss = len(matrix.requirements), len(matrix.uncovered)
    out.append(f"{n - miss} of {n} requirements covered by {len(matrix.challenges)} challenges.")
    out += ["", "Cell: the checks matched by the requirement's skill (`all`: every check).", ""]
    out.append("| requirement | skill | " + " | ".join(f"`{c}`" for c in ids) + " |")
    out.append("|---|---|" + "---|" * len(ids))
    for r in matrix.requirements:
        cells = [_cell(_cover_of(matrix, r.id, cid)) for cid in ids]
        out.append(f"| `{r.id}` {_md(r.text)} | {r.skill} | " + " | ".join(cells) + " |")
    out += ["", f"## Not covered by any challenge ({miss})", ""]
    out += [f"- `{r.id}` ({r.skill}): {_md(r.text)}" for r in matrix.uncovered] or ["- none"]
    out += ["", "## Checks per challenge and skill", ""]
    for ch in matrix.challenges:
        parts = ", ".join(f"{k} {len(v)}" for k, v in ch["checks"].items())
        out.append(f"- `{ch['id']}` ({_md(ch['title'])}): {parts or 'no checks'}")
    if matrix.unknown:
        out += ["", "## Unknown requirement ids", ""]
        out += [f"- `{c}` lists `{r}`: not in seeds/catalogue.toml" for c, r in matrix.unknown]
    return "\n".join(out) + "\n"
