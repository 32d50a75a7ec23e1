"""The tests challenge kind (runner.grading.mutation): config, mutant table, reference verdicts, verify."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

from runner.challenges.registry import Registry, load_challenge, load_mutants
from runner.challenges.solutions import Expected
from runner.errors import ChallengeError
from runner.grading.mutation import (
    REFERENCE_FAILS,
    REFERENCE_FLAKY,
    REFERENCE_PASSES,
    SuiteRun,
    _verdict_of,
    reference_status,
    suite_view,
    target_dir,
)
from runner.results import Verdict

ROOT = Path(__file__).resolve().parents[2]
CHALLENGES = ROOT / "challenges"


def run(outcome: str) -> SuiteRun:
    return SuiteRun("", outcome, 1.0, 0 if outcome == "passed" else 1)  # type: ignore[arg-type]


def test_rest_api_tests_loads_with_enough_mutants_over_every_skill():
    c = Registry().get("rest-api-tests")
    mutants = load_mutants(c)
    assert c.config.kind == "tests"
    assert len(mutants) >= 25
    assert {m.skill for m in mutants} == set(c.config.skills)


def test_every_mutant_in_the_table_has_a_switch_and_no_switch_is_unlisted(monkeypatch):
    c = Registry().get("rest-api-tests")
    monkeypatch.syspath_prepend(str(CHALLENGES / "rest-api" / "solutions" / "reference"))
    spec = importlib.util.spec_from_file_location(
        "mutate_under_test", CHALLENGES / "rest-api-tests" / "mutants" / "mutate.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        assert set(module.MUTANTS) == {m.id for m in load_mutants(c)}
    finally:
        sys.modules.pop("app", None)  # the reference's module, patched by nobody yet


def test_brief_is_the_target_brief_verbatim_after_the_suite_contract():
    brief = (CHALLENGES / "rest-api-tests" / "README.md").read_text()
    target = (CHALLENGES / "rest-api" / "README.md").read_text()
    assert brief.endswith(target)
    assert "TARGET_URL" in brief.split(target)[0]


def test_target_dir_overlays_the_layer_and_starts_it(tmp_path):
    c = Registry().get("rest-api-tests")
    out = target_dir(c, tmp_path)
    assert (out / "app.py").is_file()
    assert (out / "mutate.py").is_file()
    assert not (out / "mutants.toml").exists()  # the table (descriptions) stays out of the image
    assert 'start = "python3 mutate.py"' in (out / "assess.toml").read_text()


def copy_challenge(tmp_path: Path) -> Path:
    for name in ("rest-api", "rest-api-tests"):
        shutil.copytree(
            CHALLENGES / name, tmp_path / name, ignore=shutil.ignore_patterns("solutions")
        )
    return tmp_path / "rest-api-tests"


def test_target_without_tests_kind_is_refused(tmp_path):
    root = copy_challenge(tmp_path)
    toml = root / "challenge.toml"
    toml.write_text(toml.read_text().replace('kind = "tests"\n', ""))
    with pytest.raises(ChallengeError, match=r'\[target\] goes with kind = "tests"'):
        load_challenge(root)


def test_mutant_with_an_unknown_skill_is_refused(tmp_path):
    root = copy_challenge(tmp_path)
    table = root / "mutants" / "mutants.toml"
    table.write_text(table.read_text().replace('skill = "pagination"', 'skill = "paging"', 1))
    with pytest.raises(ChallengeError, match="skill 'paging' is not in"):
        load_challenge(root)


def test_unknown_target_challenge_is_refused(tmp_path):
    root = copy_challenge(tmp_path)
    toml = root / "challenge.toml"
    toml.write_text(toml.read_text().replace('challenge = "rest-api"', 'challenge = "nope"'))
    with pytest.raises(ChallengeError, match="no challenge 'nope'"):
        load_challenge(root)


@pytest.mark.parametrize(
    ("outcomes", "status"),
    [
        (["passed"] * 3, REFERENCE_PASSES),
        (["passed", "failed", "passed"], REFERENCE_FLAKY),
        (["failed"] * 3, REFERENCE_FAILS),
    ],
)
def test_reference_status(outcomes, status):
    assert reference_status([run(o) for o in outcomes]) == status


@pytest.mark.parametrize(
    ("outcome", "verdict"),
    [
        ("timeout", Verdict.TIMEOUT),
        ("oom", Verdict.RESOURCE_LIMIT),
        ("tampered", Verdict.TAMPERED),
        ("error", Verdict.ERROR),
    ],
)
def test_a_reference_run_that_hangs_crashes_or_tampers_ends_with_that_verdict(outcome, verdict):
    ended = _verdict_of([run("passed"), run(outcome), run("passed")])
    assert ended is not None
    assert ended[0] == verdict
    assert "run 2" in ended[1]
    assert _verdict_of([run("passed"), run("failed")]) is None  # a failure is a false alarm


class _Results:
    def __init__(self, detail: str, failed: set[str]) -> None:
        self.verdict_detail = detail
        self._failed = failed

    def failed_ids(self) -> set[str]:
        return self._failed


def test_suite_view_compares_reference_runs_then_survivors():
    ok = _Results(f"{REFERENCE_PASSES} (3 runs in a row) and killed 1 of 2", {"b"})
    assert suite_view(ok, Expected(fails=["b"])) == ({"b"}, {"b"}, "")  # type: ignore[arg-type]
    flaky = _Results(f"{REFERENCE_FLAKY}: passed 1 of 3", {"a", "b"})
    assert suite_view(flaky, Expected(reference="flaky-or-fails"))[2] == ""  # type: ignore[arg-type]
    assert "expected passes, got flaky" in suite_view(flaky, Expected())[2]  # type: ignore[arg-type]
    fails = _Results(f"{REFERENCE_FAILS} (a false alarm)", {"a"})
    assert suite_view(fails, Expected(reference="fails")) == (set(), set(), "")  # type: ignore[arg-type]


def test_public_bundle_keeps_the_mutants_private_and_the_pack_joins_them_back(tmp_path):
    from runner.challenges import packs

    source = Registry().get("rest-api-tests")
    public = packs.write_public(source, tmp_path / "public")
    private = packs.write_private(source, tmp_path / "private")
    files = {p.relative_to(public).as_posix() for p in public.rglob("*") if p.is_file()}
    assert files == {"challenge.toml", "README.md"}
    text = "".join((public / f).read_text() for f in files)
    for m in load_mutants(source):
        assert m.id not in text
        assert m.description not in text
    bundle = load_challenge(public)
    assert bundle.hidden_checks == len(load_mutants(source))
    assert not bundle.complete
    joined = packs.attach(bundle, private, tmp_path / "work", str(private))
    assert joined.complete
    assert [m.id for m in load_mutants(joined)] == [m.id for m in load_mutants(source)]
    assert (joined.solutions_dir / "reference" / "test_api.py").is_file()


@pytest.mark.parametrize(
    ("runtime", "test_file"), [("python", "tests/test_api.py"), ("node", "test/api.test.js")]
)
def test_init_on_a_tests_challenge_writes_a_suite_not_a_service(tmp_path, runtime, test_file):
    from io import StringIO

    from rich.console import Console

    from runner.commands import init_starter

    init_starter("rest-api-tests", tmp_path / "s", runtime, Console(file=StringIO()))
    assert "TARGET_URL" in (tmp_path / "s" / test_file).read_text()
    assert (tmp_path / "s" / "BRIEF.md").read_text().startswith("# Test suite for")
    assert not (tmp_path / "s" / "app.py").exists()


def test_candidate_mode_names_hidden_mutants_by_skill_only():
    from runner.grading.mutation import _check, for_candidate

    mutants = load_mutants(Registry().get("rest-api-tests"))
    checks = [_check(m, run("passed"), REFERENCE_PASSES) for m in mutants]
    shown = for_candidate(mutants, checks)
    text = repr(shown)
    for m in mutants:
        assert m.id not in text
        assert m.description not in text
    assert shown[0].id == f"hidden-{mutants[0].skill}-1"
    assert [c.skill for c in shown] == [m.skill for m in mutants]
    assert all(c.message.startswith("survived") for c in shown)
