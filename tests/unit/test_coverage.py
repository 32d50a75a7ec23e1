"""`assess coverage`: the postings' requirements against the bundled challenges and their checks."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from runner.challenges import coverage
from runner.challenges.checkscan import scan
from runner.challenges.registry import Registry
from runner.cli import app
from runner.commands import SEEDS


def _matrix() -> coverage.Matrix:
    return coverage.build(coverage.load_catalogue(SEEDS), Registry().all())


def test_every_requirement_a_challenge_lists_is_in_the_catalogue() -> None:
    matrix = _matrix()
    assert matrix.unknown == []
    listed = {r for ch in Registry().all() for r in ch.config.requirements}
    assert listed
    assert listed <= {r.id for r in matrix.requirements}
    assert set(matrix.covers) == listed


def test_covered_requirements_name_their_checks_and_uncovered_ones_are_listed() -> None:
    data = coverage.to_json(_matrix())
    rows = {r["id"]: r for r in data["requirements"]}
    # rest-api weighs a `rest` skill: the requirement is matched to exactly those checks
    (rest,) = rows["P000.rest-api-design"]["covered_by"]
    assert rest["challenge"] == "rest-api"
    assert rest["matched_skill"] == "rest"
    checks = scan(Registry().get("rest-api").checks_dir)
    assert rest["checks"] == sorted(c.id for c in checks if c.skill == "rest")
    assert 0 < len(rest["checks"]) < len(checks)
    # no bundled challenge grades Linux administration
    assert "P000.linux" in data["uncovered"]
    assert rows["P000.linux"]["covered_by"] == []
    s = data["summary"]
    assert s["covered"] + s["uncovered"] == s["requirements"] == len(rows)
    assert s["uncovered"] == len(data["uncovered"]) > 0


def test_a_challenge_listing_an_unknown_id_is_reported(tmp_path: Path) -> None:
    catalogue = tmp_path / "catalogue.toml"
    catalogue.write_text(
        '[[postings]]\nid = "P9"\n[[postings.requirements]]\n'
        'id = "P9.x"\ntext = "x"\nskill = "rest"\n'
    )
    matrix = coverage.build(coverage.load_catalogue(catalogue), Registry().all())
    assert [r.id for r in matrix.uncovered] == ["P9.x"]
    assert matrix.unknown  # every bundled id is unknown to this catalogue
    assert any("not in seeds/catalogue.toml" in line for line in coverage.summary_lines(matrix))


def test_cli_prints_the_matrix_and_writes_json_and_markdown(tmp_path: Path) -> None:
    out_json, out_md = tmp_path / "c.json", tmp_path / "c.md"
    result = CliRunner().invoke(
        app, ["coverage", "--json", str(out_json), "--markdown", str(out_md)]
    )
    assert result.exit_code == 0, result.output
    assert "not covered by any challenge" in result.output
    data = json.loads(out_json.read_text())
    assert data["schema"] == coverage.SCHEMA
    md = out_md.read_text()
    assert "| requirement | skill |" in md
    assert "`P000.linux`" in md


def test_cli_refuses_an_output_in_a_missing_directory(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["coverage", "--json", str(tmp_path / "no" / "c.json")])
    assert result.exit_code == 2
    assert "error:" in result.output
    assert "create it first" in result.output
