"""Well-formedness checks for seeds/catalogue.toml (the job-posting requirement catalogue)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

CATALOGUE = Path(__file__).resolve().parents[2] / "seeds" / "catalogue.toml"

VOCAB = {
    "rest",
    "caching",
    "realtime",
    "monitoring",
    "scalability",
    "concurrency",
    "data",
    "security",
    "testing",
    "devops",
    "reliability",
}

POSTING_ID_RE = re.compile(r"^P\d{3}$")
SOURCE_RE = re.compile(r"^(\d{3})_[0-9a-f]+\.txt$")
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@pytest.fixture(scope="module")
def catalogue() -> dict[str, Any]:
    with CATALOGUE.open("rb") as fh:
        return tomllib.load(fh)


@pytest.fixture(scope="module")
def postings(catalogue: dict[str, Any]) -> list[dict[str, Any]]:
    posts = catalogue.get("postings")
    assert isinstance(posts, list)
    assert posts, "catalogue has no postings"
    return posts


def _requirements(postings: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(p["id"], r) for p in postings for r in p.get("requirements", [])]


def test_schema_version(catalogue: dict[str, Any]) -> None:
    assert catalogue.get("schema_version") == 1


def test_skill_vocabulary(catalogue: dict[str, Any]) -> None:
    skills = catalogue.get("skills")
    assert isinstance(skills, list)
    assert len(skills) == len(set(skills)), "duplicate entries in skills"
    assert set(skills) == VOCAB
    descriptions = catalogue.get("skill_descriptions")
    assert isinstance(descriptions, dict)
    assert set(descriptions) == VOCAB
    for skill, desc in descriptions.items():
        assert isinstance(desc, str)
        assert desc.strip(), f"empty description for {skill}"
        assert "\n" not in desc, f"description for {skill} is not one line"


def test_posting_fields(postings: list[dict[str, Any]]) -> None:
    ids = [p.get("id") for p in postings]
    assert len(ids) == len(set(ids)), "duplicate posting ids"
    sources = [p.get("source") for p in postings]
    assert len(sources) == len(set(sources)), "duplicate posting sources"
    for p in postings:
        pid, source = p.get("id"), p.get("source")
        assert isinstance(pid, str)
        assert POSTING_ID_RE.match(pid), pid
        assert isinstance(source, str)
        m = SOURCE_RE.match(source)
        assert m, f"{pid}: bad source file name {source!r}"
        assert pid == f"P{m.group(1)}", f"{pid} does not match source {source}"
        assert isinstance(p.get("title"), str)
        assert p["title"].strip(), f"{pid}: empty title"
        assert isinstance(p.get("company"), str), f"{pid}: company must be a string"


def test_requirement_counts(postings: list[dict[str, Any]]) -> None:
    for p in postings:
        n = len(p.get("requirements", []))
        assert 6 <= n <= 15, f"{p['id']} has {n} requirements (want 6-15)"


def test_requirement_ids_unique_and_prefixed(postings: list[dict[str, Any]]) -> None:
    seen: set[str] = set()
    for pid, req in _requirements(postings):
        rid = req.get("id")
        assert isinstance(rid, str)
        assert rid not in seen, f"duplicate requirement id {rid}"
        seen.add(rid)
        prefix, dot, slug = rid.partition(".")
        assert dot, f"{rid}: missing '.' separator"
        assert prefix == pid, f"{rid}: prefix does not match posting {pid}"
        assert SLUG_RE.match(slug), f"{rid}: slug must be kebab-case"


def test_requirement_skills_in_vocabulary(postings: list[dict[str, Any]]) -> None:
    for _, req in _requirements(postings):
        assert req.get("skill") in VOCAB, f"{req.get('id')}: unknown skill {req.get('skill')!r}"


def test_requirement_text(postings: list[dict[str, Any]]) -> None:
    for _, req in _requirements(postings):
        text = req.get("text")
        assert isinstance(text, str)
        assert text.strip(), f"{req['id']}: empty text"
        assert len(text) < 200, f"{req['id']}: text is {len(text)} chars (limit 199)"
        assert "\n" not in text, f"{req['id']}: text spans multiple lines"


def test_no_unknown_keys(postings: list[dict[str, Any]]) -> None:
    for p in postings:
        assert set(p) <= {"id", "source", "title", "company", "requirements"}, p["id"]
        for req in p.get("requirements", []):
            assert set(req) == {"id", "text", "skill"}, req.get("id")
