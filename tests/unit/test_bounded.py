"""graders.bounded: every parser of the candidate's artefacts refuses a hostile one in one line,
quickly and in little memory, and reads an honest one exactly as the plain parser would."""

from __future__ import annotations

import importlib.util
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from graders import bounded
from graders.bounded import Unparseable
from graders.expect import CheckFailed
from graders.http import Response

ROOT = Path(__file__).resolve().parents[2]
REFERENCE_RULES = ROOT / "challenges/monitoring/solutions/reference/alerts.yml"
MAX_SECONDS = 5.0  # generous: the machine is shared; the refusals take well under 1 s idle
MAX_PEAK = 32 << 20


def billion_laughs(levels: int = 12, width: int = 9) -> bytes:
    """About 900 bytes standing for width**levels (282 billion) strings."""
    rows = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    rows += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join(rows).encode()


def bounded_run(fn: Callable[[], Any]) -> tuple[str, float, int]:
    """The refusal's message, the seconds it took, and the peak traced memory."""
    tracemalloc.start()
    start = time.monotonic()
    try:
        with pytest.raises(Unparseable) as info:
            fn()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return str(info.value), time.monotonic() - start, peak


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        (billion_laughs(), "expands to more than 100000 nodes"),
        (b"groups:\n- rules:\n  - alert: A\n    labels: &x {k: *x}\n", "refers to itself"),
        (b"[" * 200_000, "nested deeper than 64"),
        (b"{a: " * 5_000 + b"1" + b"}" * 5_000, "nested deeper than 64"),
        (b"".join(b" " * i + b"k:\n" for i in range(300)), "nested deeper than 64"),
        (b"x: " + b"y" * (300 << 10), "the grader reads at most"),
        (b"a: [1, 2\n", "is not YAML"),
        (b"a: !!python/object:os.system x\n", "not plain YAML data"),
        (b"a: 1\n---\nb: 2\n", "is not YAML"),
    ],
)
def test_hostile_yaml_is_refused_fast_and_small(document: bytes, fragment: str) -> None:
    message, seconds, peak = bounded_run(lambda: bounded.load_yaml(document, "alerts.yml"))
    assert fragment in message
    assert message.startswith("alerts.yml")
    assert "\n" not in message
    assert seconds < MAX_SECONDS
    assert peak < MAX_PEAK


def test_honest_yaml_reads_as_the_plain_parser_does() -> None:
    text = REFERENCE_RULES.read_bytes()
    assert bounded.load_yaml(text) == yaml.safe_load(text)
    anchors = b"common: &labels {severity: page}\nrules:\n- labels: *labels\n- labels: *labels\n"
    assert bounded.load_yaml(anchors) == yaml.safe_load(anchors)
    assert bounded.load_yaml(b"") is None


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        (b"[" * 500_000 + b"]" * 500_000, "nested deeper than 64"),
        (b'{"a":' * 100 + b"1" + b"}" * 100, "nested deeper than 64"),
        (b'{"a": 1,,}' * 100_000, "is not JSON"),
        (b"1" * 10_000, "is not JSON"),  # an integer past Python's 4300-digit limit
        (b" " * (2 << 20), "the grader reads at most"),
    ],
)
def test_hostile_json_is_refused_fast_and_small(document: bytes, fragment: str) -> None:
    message, seconds, peak = bounded_run(lambda: bounded.load_json(document, "the body"))
    assert fragment in message
    assert seconds < MAX_SECONDS
    assert peak < MAX_PEAK + len(document) * 2


def test_brackets_inside_json_strings_are_not_nesting() -> None:
    doc = b'{"s": "' + b"[" * 500 + b'\\"' + b"{" * 500 + b'", "n": [[1]]}'
    assert bounded.load_json(doc)["n"] == [[1]]


def test_a_deep_json_body_fails_the_check_not_the_grader() -> None:
    r = Response("GET", "/x", None, 200, {}, b"[" * 100_000, 0.01)
    with pytest.raises(CheckFailed, match="nested deeper than 64"):
        r.json()


def monitoring_conftest() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "monitoring_conftest_bounded", ROOT / "challenges/monitoring/checks/conftest.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("page", "fragment"),
    [
        ("x 1\n" * 150_000, "more than 100000 lines"),
        ('x{a="' + "v" * 20_000 + '"} 1\n', "longer than 16384 characters"),
        ("x 1\n" * 600_000, "the grader reads at most"),
    ],
)
def test_a_huge_metrics_page_is_an_exposition_error(page: str, fragment: str) -> None:
    conftest = monitoring_conftest()
    start = time.monotonic()
    with pytest.raises(conftest.ExpositionError, match=fragment):
        conftest.parse_exposition(page)
    assert time.monotonic() - start < MAX_SECONDS


@pytest.mark.parametrize(
    ("document", "deep"),
    [
        (b"[" * 64 + b"]" * 64, False),
        (b"[" * 65 + b"]" * 65, True),
        (b"[[]" * 65 + b"]" * 65, True),  # no long run of openings, still 66 deep
        (b"[[]" * 63 + b"]" * 63, False),
        (b'{"a": [1, {"b": [2]}]}' * 1000, False),
    ],
)
def test_json_depth_is_exact_at_the_limit(document: bytes, deep: bool) -> None:
    assert bounded._json_deeper_than(document, 64) is deep
