"""A .dockerignore leaves out of the build context (and its cache key) exactly what docker
build leaves out: docker-py's own matcher, negations and the Dockerfile included."""

from __future__ import annotations

from pathlib import Path

from runner.grading.images import RUNTIME_TAGS
from runner.intake.submission import load_submission


def _tree(root: Path, files: list[str]) -> None:
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel)


def test_context_is_what_docker_build_would_send(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        ["Dockerfile", "app.py", "data/a.bin", "data/keep/me.txt", "x.log", "sub/y.log", "z.txt"],
    )
    (tmp_path / ".dockerignore").write_text(
        "# comment\ndata\n!data/keep/me.txt\n*.log\nDockerfile\n\n"
    )
    sub = load_submission(tmp_path)
    assert sorted(p.as_posix() for p in sub.files) == [
        ".dockerignore",
        "Dockerfile",  # the engine always keeps it, ignored or not
        "app.py",
        "data/keep/me.txt",
        "sub/y.log",  # `*.log` matches the top level only, as in docker build
        "z.txt",
    ]


def test_an_ignored_file_changes_neither_context_nor_cache_key(tmp_path: Path) -> None:
    _tree(tmp_path, ["Dockerfile", "app.py", "notes/draft.md"])
    (tmp_path / ".dockerignore").write_text("notes/\n")
    before = load_submission(tmp_path).content_hash(RUNTIME_TAGS)
    (tmp_path / "notes" / "draft.md").write_text("changed")
    assert load_submission(tmp_path).content_hash(RUNTIME_TAGS) == before
    (tmp_path / "app.py").write_text("changed")
    assert load_submission(tmp_path).content_hash(RUNTIME_TAGS) != before


def test_a_huge_ignored_folder_is_not_counted_against_the_cap(tmp_path: Path) -> None:
    _tree(tmp_path, ["Dockerfile", "app.py"])
    (tmp_path / "big").mkdir()
    with open(tmp_path / "big" / "blob", "wb") as fh:  # sparse: 300 MiB without the disk
        fh.truncate(300 * 2**20)
    (tmp_path / ".dockerignore").write_text("big\n")
    assert [p.as_posix() for p in load_submission(tmp_path).files] == [
        ".dockerignore",
        "Dockerfile",
        "app.py",
    ]
