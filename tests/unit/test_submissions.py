"""Submission parsing: every bad input is a SubmissionError naming the problem and the fix."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from runner.errors import ExitCode, SubmissionError
from runner.intake.submission import GENERATED_DOCKERFILE, load_submission

IMAGES = {"python": "assess/python:3.11", "node": "assess/node:18"}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_missing_path_is_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SubmissionError, match="does not exist") as exc:
        load_submission(tmp_path / "nope")
    assert exc.value.exit_code == ExitCode.USAGE


def test_file_is_not_a_submission(tmp_path: Path) -> None:
    with pytest.raises(SubmissionError, match="not a directory"):
        load_submission(write(tmp_path / "app.py", "print()"))


def test_neither_dockerfile_nor_assess_toml(tmp_path: Path) -> None:
    write(tmp_path / "app.py", "")
    with pytest.raises(SubmissionError, match=r"no Dockerfile and no assess\.toml"):
        load_submission(tmp_path)


def test_unknown_runtime_names_the_choices(tmp_path: Path) -> None:
    write(tmp_path / "assess.toml", 'runtime = "cobol"\nstart = "x"\n')
    with pytest.raises(SubmissionError, match=r"unknown runtime 'cobol'.*python, node"):
        load_submission(tmp_path)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('runtime = "python"\nstart = \n', "invalid TOML"),
        ('runtime = "python"\n', "field 'start'"),
        ('runtime = "python"\nstart = "python3 app.py"\nport = 1\n', "field 'port'"),
        ('runtime = "python"\nstart = "\'unclosed"\n', "cannot split"),
    ],
)
def test_invalid_assess_toml_names_file_and_field(tmp_path: Path, text: str, fragment: str) -> None:
    write(tmp_path / "assess.toml", text)
    with pytest.raises(SubmissionError, match=fragment) as exc:
        load_submission(tmp_path)
    assert "assess.toml" in exc.value.message


def test_python_preset_dockerfile_installs_requirements_first(tmp_path: Path) -> None:
    write(
        tmp_path / "assess.toml",
        'runtime = "python"\nstart = "python3 app.py --fast"\n[env]\nA = "b c"\n',
    )
    write(tmp_path / "requirements.txt", "fastapi\n")
    write(tmp_path / "app.py", "")
    text = load_submission(tmp_path).dockerfile_text(IMAGES)
    lines = text.splitlines()
    assert lines[0] == "FROM assess/python:3.11"
    assert lines.index("RUN pip install --no-cache-dir -r requirements.txt") < lines.index(
        "COPY . /app"
    )
    assert 'ENV A="b c"' in lines
    assert lines[-1] == 'CMD ["python3", "app.py", "--fast"]'


def test_node_preset_uses_npm_ci_with_a_lockfile(tmp_path: Path) -> None:
    write(tmp_path / "assess.toml", 'runtime = "node"\nstart = "node server.js"\n')
    write(tmp_path / "package.json", "{}")
    write(tmp_path / "package-lock.json", "{}")
    text = load_submission(tmp_path).dockerfile_text(IMAGES)
    assert "RUN npm ci --omit=dev --no-audit --no-fund" in text


def test_context_excludes_vcs_and_keeps_symlinks_as_links(tmp_path: Path) -> None:
    write(tmp_path / "assess.toml", 'runtime = "python"\nstart = "python3 app.py"\n')
    write(tmp_path / "app.py", "x")
    write(tmp_path / ".git" / "config", "secret")
    os.symlink("/etc/passwd", tmp_path / "passwd")
    sub = load_submission(tmp_path)
    with tarfile.open(fileobj=io.BytesIO(sub.context_tar(IMAGES))) as tar:
        names = {m.name: m for m in tar.getmembers()}
    assert ".git/config" not in names
    assert names["passwd"].issym()  # never followed out of the submission
    assert GENERATED_DOCKERFILE in names


def test_content_hash_changes_with_content(tmp_path: Path) -> None:
    write(tmp_path / "Dockerfile", "FROM assess/python:3.11\n")
    a = load_submission(tmp_path).content_hash(IMAGES)
    write(tmp_path / "Dockerfile", "FROM assess/node:18\n")
    assert load_submission(tmp_path).content_hash(IMAGES) != a
