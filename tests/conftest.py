"""Shared fixtures: paths, and validation of every results file against the shipped schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

# Challenge checks and submissions live under these folders: they are data, not our tests.
collect_ignore_glob = ["fixtures/*", "adversarial/*"]

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
TINY = FIXTURES / "tiny"
SCHEMA = ROOT / "schemas" / "results.schema.json"


def validate_results_json(text: str) -> dict:
    """Every results file the suite produces goes through here."""
    import jsonschema

    data = json.loads(text)
    jsonschema.validate(data, json.loads(SCHEMA.read_text()))
    return data


@pytest.fixture
def tiny_dir() -> Path:
    return TINY
