"""A failed git clone keeps git's whole message (capped, credentials redacted), not its last line."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from runner.errors import UsageError
from runner.intake import repos

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def test_a_path_that_is_no_repository_keeps_the_cause(tmp_path: Path) -> None:
    not_a_repo = tmp_path / "private.git"
    not_a_repo.mkdir()
    with pytest.raises(UsageError) as err:
        repos.clone(not_a_repo.as_uri(), tmp_path / "dest", what="submission")
    message = err.value.message
    assert "\n" not in message
    assert "does not appear to be a git repository" in message  # the cause, first line
    assert "and the repository exists" in message  # and the rest, not only that last line


def test_a_missing_branch_of_a_bare_repo_is_named(tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(bare)], check=True)
    with pytest.raises(UsageError) as err:
        repos.clone(f"{bare.as_uri()}#nosuch", tmp_path / "dest", what="pack")
    assert "nosuch" in err.value.message
    assert err.value.message.startswith(f"pack {bare.as_uri()}: git clone failed: ")


def test_credentials_are_redacted_and_the_message_capped() -> None:
    stderr = (
        "fatal: unable to access 'https://alice:s3cret@git.example/x.git/': 403\n"
        "remote: Authorization: Bearer ghp_abcdef\n" + "x" * 5000 + "\n\x1b[31mred\n"
    )
    text = repos.git_message(stderr)
    assert "s3cret" not in text
    assert "ghp_abcdef" not in text
    assert "https://***@git.example/x.git/" in text
    assert "\x1b" not in text
    assert len(text) <= repos.MAX_MESSAGE
    assert text.endswith("…")
    assert repos.redact("https://user:tok@host/r.git") == "https://***@host/r.git"
