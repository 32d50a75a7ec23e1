"""Public and private parts of a challenge: the public bundle holds nothing hidden, and
interviewer mode refuses to grade a public-only challenge without its private pack."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from runner.challenges import checkscan, packs
from runner.challenges.registry import Registry, load_challenge
from runner.cli import app
from runner.commands import init_starter
from runner.errors import ChallengeError, UsageError
from runner.starters import STARTERS
from tests.conftest import TINY

BUNDLED = Registry().ids()
# A tests challenge's hidden checks are its mutants: tests/unit/test_mutation.py packs those.
SERVICES = [c.id for c in Registry().all() if c.config.kind == "service"]


@pytest.mark.parametrize("challenge_id", SERVICES)
def test_public_bundle_holds_nothing_hidden(challenge_id: str, tmp_path: Path) -> None:
    source = Registry().get(challenge_id)
    defs = checkscan.scan(source.checks_dir)
    hidden = {d.name for d in defs if d.hidden}
    visible = {d.name for d in defs if not d.hidden}
    assert hidden, "a bundled challenge without hidden checks proves nothing here"

    bundle = packs.write_public(source, tmp_path)

    # every file of the bundle, whatever it is (brief, starters, load profile, sidecars, toml)
    files = [p for p in bundle.rglob("*") if p.is_file()]
    texts = {p: p.read_bytes().decode("utf-8", "replace") for p in files}
    assert not (bundle / "solutions").exists()
    assert any(p.name == "README.md" for p in files)  # the brief is read too
    for path, text in texts.items():
        assert "mark.hidden" not in text, path
        assert not names_in(text, hidden), (path, names_in(text, hidden))
    published = load_challenge(bundle)  # still a valid challenge
    left = checkscan.scan(published.checks_dir)
    assert {d.name for d in left} == visible
    assert not any(d.hidden for d in left)
    assert published.config.publication is not None
    assert published.config.publication.hidden_checks == len(hidden)
    assert published.hidden_checks == len(hidden)
    assert not published.complete
    for path in published.checks_dir.glob("*.py"):  # every cut file still compiles
        compile(texts[path], str(path), "exec")


def names_in(text: str, hidden: set[str]) -> set[str]:
    """Hidden checks ``text`` names, as a word, with or without the ``test_`` prefix."""
    return {
        name
        for name in hidden
        for word in {name, name.removeprefix("test_")}
        if re.search(rf"(?<![A-Za-z0-9_]){re.escape(word)}(?![A-Za-z0-9_])", text)
    }


def test_names_in_finds_a_name_in_prose() -> None:
    assert names_in("critical: `concurrent_x_y` and more", {"test_concurrent_x_y"})
    assert not names_in("concurrent_x_yz", {"test_concurrent_x_y"})


@pytest.mark.parametrize("challenge_id", BUNDLED)
def test_init_names_no_hidden_check(challenge_id: str, tmp_path: Path) -> None:
    """What `assess init` hands a candidate (the brief, a starter) names no hidden check."""
    source = Registry().get(challenge_id)
    hidden = {d.name for d in checkscan.scan(source.checks_dir) if d.hidden}
    for runtime in STARTERS:
        dest = tmp_path / runtime
        init_starter(challenge_id, dest, runtime, Console(file=io.StringIO()))
        files = [p for p in dest.rglob("*") if p.is_file()]
        assert any(p.name == "BRIEF.md" for p in files)
        for path in files:
            text = path.read_bytes().decode("utf-8", "replace")
            assert not names_in(text, hidden), (path, names_in(text, hidden))


def _split(tmp_path: Path, source: Path = TINY) -> tuple[Path, Path]:
    challenge = load_challenge(source)
    return (
        packs.write_public(challenge, tmp_path / "pub"),
        packs.write_private(challenge, tmp_path / "priv"),
    )


def test_private_pack_joins_back_into_the_whole_challenge(tmp_path: Path) -> None:
    public, private = _split(tmp_path)
    assert not (private / "README.md").exists()
    joined = packs.open_challenge(str(public), private=str(private.parent), interviewer=True)
    assert joined.complete
    assert checkscan.scan(joined.checks_dir) == checkscan.scan(TINY / "checks")
    assert joined.solutions == load_challenge(TINY).solutions


def test_interviewer_mode_refuses_a_public_only_challenge(tmp_path: Path) -> None:
    public, _ = _split(tmp_path)
    with pytest.raises(UsageError, match=r"public-only here: its 1 hidden check"):
        packs.open_challenge(str(public), private=None, interviewer=True)
    # a candidate self-tests on the public part alone
    assert not packs.open_challenge(str(public), private=None, interviewer=False).complete


def test_cli_refusal_is_one_line_exit_2(tmp_path: Path) -> None:
    public, _ = _split(tmp_path)
    result = CliRunner().invoke(app, ["run", str(public), str(TINY / "solutions" / "reference")])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert text.startswith("error: challenge tiny is public-only here")
    assert "--private" in text
    assert "Traceback" not in result.output


def test_verify_needs_the_private_part(tmp_path: Path) -> None:
    public, _ = _split(tmp_path)
    result = CliRunner().invoke(app, ["verify", str(public)])
    assert result.exit_code == 2
    assert "public-only" in result.output


def test_pack_of_another_version_is_refused(tmp_path: Path) -> None:
    public, private = _split(tmp_path)
    manifest = private / packs.PRIVATE_TOML
    manifest.write_text(manifest.read_text().replace('"0.1.0"', '"9.9.9"'))
    with pytest.raises(ChallengeError, match=r"is for tiny 9\.9\.9, not tiny 0\.1\.0"):
        packs.open_challenge(str(public), private=str(private), interviewer=True)


def test_pack_missing_hidden_checks_is_refused(tmp_path: Path) -> None:
    public, private = _split(tmp_path)
    shutil.rmtree(private / "checks")
    with pytest.raises(ChallengeError, match="do not belong together"):
        packs.open_challenge(str(public), private=str(private), interviewer=True)


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def bare_repo_of(tree: Path, bare: Path, branch: str = "main") -> str:
    """A local bare repository holding ``tree``'s files; its file:// URL."""
    work = bare.parent / (bare.name + "-work")
    shutil.copytree(tree, work)
    _git("init", "-q", "-b", branch, cwd=work)
    _git("add", "-A", cwd=work)
    _git("commit", "-q", "-m", "pack", cwd=work)
    _git("clone", "-q", "--bare", str(work), str(bare), cwd=bare.parent)
    return f"file://{bare}"


def test_private_pack_from_a_git_url_via_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    public, private = _split(tmp_path)
    url = bare_repo_of(private.parent, tmp_path / "packs.git")  # a store: tiny/private.toml
    monkeypatch.setenv(packs.ENV, url)
    joined = packs.open_challenge(str(public), private=None, interviewer=True)
    assert joined.complete
    assert joined.private == url
    assert joined.hidden_checks == 1


def test_unreachable_git_url_is_a_usage_error(tmp_path: Path) -> None:
    public, _ = _split(tmp_path)
    with pytest.raises(UsageError, match="git clone failed"):
        packs.open_challenge(
            str(public), private=f"file://{tmp_path}/nothing.git", interviewer=True
        )


def test_bundled_challenges_stay_complete() -> None:
    for challenge in Registry().all():
        assert challenge.complete
        assert packs.open_challenge(challenge.id, private=None, interviewer=True) is not None
