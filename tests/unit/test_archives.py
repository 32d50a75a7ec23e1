"""Archives are unpacked safely: each hostile member is a one-line error and exit 2."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runner.cli import app
from runner.errors import SubmissionError
from runner.intake import archives
from tests.conftest import TINY


def _zip(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, target)
    return path


def _tar(path: Path, *members: tarfile.TarInfo, data: bytes = b"x") -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for m in members:
            if m.isfile():
                m.size = len(data)
                tf.addfile(m, io.BytesIO(data))
            else:
                tf.addfile(m)
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


def test_a_zip_of_one_folder_is_graded_from_that_folder(tmp_path: Path) -> None:
    archive = _zip(
        tmp_path / "s.zip", {"svc/Dockerfile": b"FROM scratch\n", "svc/app/main.py": b"pass\n"}
    )
    root = archives.materialize(str(archive), tmp_path / "work")
    assert root.name == "svc"
    assert (root / "app" / "main.py").read_bytes() == b"pass\n"


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda p: _zip(p / "a.zip", {"../evil": b"x"}), "path traversal"),
        (lambda p: _zip(p / "a.zip", {"/etc/evil": b"x"}), "path traversal"),
        (lambda p: _zip(p / "a.zip", {"ok": b"x"}, {"out": "../../etc/passwd"}), "leads outside"),
        (lambda p: _tar(p / "a.tar.gz", _member("x/../../evil")), "path traversal"),
        (
            lambda p: _tar(p / "a.tar.gz", _member("l", tarfile.SYMTYPE, "/etc/shadow")),
            "leads outside",
        ),
        (lambda p: _tar(p / "a.tar.gz", _member("l", tarfile.LNKTYPE, "etc")), "hard link"),
        (lambda p: _tar(p / "a.tar.gz", _member("d", tarfile.CHRTYPE)), "device or fifo"),
        (
            lambda p: (p / "a.zip").write_bytes(b"not a zip") and p / "a.zip",
            "not a readable archive",
        ),
    ],
)
def test_hostile_archives_are_refused(make, fragment: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    archive = make(tmp_path)
    with pytest.raises(SubmissionError, match=fragment):
        archives.materialize(str(archive), tmp_path / "work")


def test_links_inside_the_submission_are_kept(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "a.zip", {"Dockerfile": b"FROM x\n"}, {"alias": "Dockerfile"})
    root = archives.materialize(str(archive), tmp_path / "work")
    assert (root / "alias").is_symlink()


def test_file_count_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archives, "MAX_FILES", 5)
    archive = _zip(tmp_path / "a.zip", {f"f{i}": b"x" for i in range(6)})
    with pytest.raises(SubmissionError, match="more than 5 members"):
        archives.materialize(str(archive), tmp_path / "work")


def test_size_cap_counts_what_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archives, "MAX_BYTES", 1 << 20)
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros", b"\0" * (4 << 20))  # compresses to a few KiB
    assert path.stat().st_size < 64 << 10
    with pytest.raises(SubmissionError, match="more than 1 MiB"):
        archives.materialize(str(path), tmp_path / "work")


def test_ref_needs_a_git_url(tmp_path: Path) -> None:
    with pytest.raises(SubmissionError, match="--ref main needs a git URL"):
        archives.materialize(str(tmp_path), tmp_path / "work", ref="main")


def test_cli_refuses_a_traversal_archive_in_one_line(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "evil.zip", {"../../x": b"x"})
    result = CliRunner().invoke(app, ["run", str(TINY), str(archive)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ")
    assert "path traversal" in " ".join(result.output.split())


def test_a_cloned_repository_with_a_link_out_is_refused(tmp_path: Path) -> None:
    """git stores links as they are: the clone is checked like an archive."""
    import subprocess

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "Dockerfile").write_text("FROM scratch\n")
    (repo / "inside").symlink_to("Dockerfile")
    (repo / "assess.toml").symlink_to("/etc/hostname")
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        "HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
    }
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "x"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True)
    with pytest.raises(
        SubmissionError, match=r"'assess\.toml': link -> '/etc/hostname' leads outside"
    ):
        archives.materialize(f"file://{repo}", tmp_path / "work")
    (repo / "assess.toml").unlink()
    subprocess.run(["git", "commit", "-qam", "y"], cwd=repo, env=env, check=True)
    root = archives.materialize(f"file://{repo}", tmp_path / "work")
    assert (root / "inside").is_symlink()


def test_wall_time_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archives, "MAX_SECONDS", 0.0)
    archive = _zip(tmp_path / "a.zip", {"f": b"x"})
    with pytest.raises(SubmissionError, match="took more than 0 s to unpack"):
        archives.materialize(str(archive), tmp_path / "work")
    assert not (tmp_path / "work" / "unpacked").exists()


def test_zip_directory_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The zip's index is bounded before zipfile builds it in memory."""
    monkeypatch.setattr(archives, "MAX_ZIP_DIRECTORY", 1 << 20)
    archive = _zip(tmp_path / "a.zip", {f"{'n' * 200}{i}": b"" for i in range(5000)})
    with pytest.raises(SubmissionError, match="zip directory larger than 1 MiB"):
        archives.materialize(str(archive), tmp_path / "work")
