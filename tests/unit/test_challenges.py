"""challenge.toml validation and the registry."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runner.challenges.registry import Registry, load_challenge
from runner.challenges.solutions import all_solutions
from runner.errors import ChallengeError, ExitCode, UsageError
from tests.conftest import ROOT, TINY


def copy_tiny(tmp_path: Path) -> Path:
    dest = tmp_path / "tiny"
    shutil.copytree(TINY, dest)
    return dest


def test_every_shipped_challenge_loads() -> None:
    registry = Registry(ROOT / "challenges")
    assert {"rest-api", "cache"} <= set(registry.ids())
    for challenge in registry.all():
        assert challenge.config.skills
        assert "reference" in challenge.solutions


def test_unknown_challenge_lists_known_ones() -> None:
    with pytest.raises(UsageError, match=r"unknown challenge 'nope'; known: .*rest-api") as exc:
        Registry(ROOT / "challenges").get("nope")
    assert exc.value.exit_code == ExitCode.USAGE


def test_a_directory_path_is_accepted() -> None:
    assert Registry(ROOT / "challenges").get(str(TINY)).id == "tiny"


@pytest.mark.parametrize(
    ("patch", "fragment"),
    [
        (("[sandbox]\ncpus = 0.5", "[sandbox]\ncpus = -1"), "field 'sandbox.cpus'"),
        (("[skills]\nbasics = 1", "[skills]\nbasics = 0"), "field 'skills'"),
        (('version = "0.1.0"', 'version = "0.1.0"\ncolour = "red"'), "field 'colour'"),
        (('id = "tiny"', 'id = "other"'), "field 'id'"),
        (('id = "tiny"', 'id = "tiny'), "invalid TOML"),
    ],
)
def test_invalid_config_names_file_and_field(
    tmp_path: Path, patch: tuple[str, str], fragment: str
) -> None:
    root = copy_tiny(tmp_path)
    toml = root / "challenge.toml"
    toml.write_text(toml.read_text().replace(*patch))
    with pytest.raises(ChallengeError, match=fragment) as exc:
        load_challenge(root)
    assert str(toml) in exc.value.message


def test_solutions_materialize_as_plain_submissions(tmp_path: Path) -> None:
    challenge = load_challenge(TINY)
    by_name = {s.name: s for s in all_solutions(challenge)}
    flawed = by_name["wrong-hello"]
    assert flawed.expected.fails == ["hello"]
    out = flawed.materialize(tmp_path)
    assert (out / "app.py").is_file()  # from the base
    assert "flawed.py" in (out / "assess.toml").read_text()  # the overlay wins
    assert not (out / "expected.toml").exists()
