"""Reading a suite's JUnit file (runner.grading.junit_in): hostile files are refused in one line."""

from __future__ import annotations

import io
import tarfile
import time

from runner.grading.junit_in import MAX_BYTES, MAX_NAMES, read_junit
from runner.grading.mutation import REFERENCE_PASSES, SuiteRun, _check, junit_from_tar

PYTEST = b"""<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="4" failures="1" errors="1" skipped="1">
<testcase classname="tests.test_api" name="test_healthz" time="0.01"/>
<testcase classname="tests.test_api" name="test_create_desk" time="0.02">
  <failure message="assert 200 == 201">long traceback</failure></testcase>
<testcase classname="tests.test_api" name="test_page"><error message="boom"/></testcase>
<testcase classname="tests.test_api" name="test_later"><skipped/></testcase>
</testsuite></testsuites>"""


def test_a_pytest_file_gives_counts_and_failing_names():
    s = read_junit(PYTEST)
    assert (s.tests, s.failures, s.skipped, s.problem) == (4, 2, 1, "")
    assert s.failing == ["tests.test_api.test_create_desk", "tests.test_api.test_page"]
    assert s.line() == (
        "4 tests: 1 passed, 2 failed, 1 skipped; failing: tests.test_api.test_create_desk, "
        "tests.test_api.test_page"
    )


def test_a_bare_testsuite_and_node_shape_read_too():
    s = read_junit(
        b'<testsuite><testcase name="a"/><testcase name="b"><failure/></testcase></testsuite>'
    )
    assert (s.tests, s.failures, s.failing) == (2, 1, ["b"])


def test_a_huge_file_is_refused_before_parsing():
    data = b"<testsuite>" + b'<testcase name="x"/>' * (MAX_BYTES // 10) + b"</testsuite>"
    assert read_junit(data).problem == f"over {MAX_BYTES // 1024} KB"


def test_billion_laughs_is_refused_without_expanding():
    lol = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<testsuite><testcase name="&lol3;"/></testsuite>"""
    t0 = time.monotonic()
    s = read_junit(lol)
    assert s.problem == "it declares a DOCTYPE or ENTITY (refused)"
    assert time.monotonic() - t0 < 1
    ext = b'<!doctype x [<!entity e SYSTEM "file:///etc/passwd">]><testsuite>&e;</testsuite>'
    assert "DOCTYPE" in read_junit(ext).problem
    # an undeclared entity is no way round: expat refuses it
    assert "not well-formed" in read_junit(b'<testsuite><testcase name="&e;"/></testsuite>').problem


def test_deep_nesting_is_refused():
    data = b"<testsuite>" + b"<a>" * 10_000 + b"</a>" * 10_000 + b"</testsuite>"
    assert read_junit(data).problem == "nested deeper than 32 elements"


def test_non_utf8_and_garbage_are_one_line_problems():
    latin = '<testsuite><testcase name="caf\xe9"><failure/></testcase></testsuite>'.encode(
        "latin-1"
    )
    assert read_junit(latin).problem.startswith("not well-formed XML")
    declared = b'<?xml version="1.0" encoding="latin-1"?>' + latin
    assert read_junit(declared).failing == ["caf\xe9"]  # declared right: read right
    assert read_junit(b"\xff\xfe\x00garbage").problem.startswith("not well-formed XML")
    assert read_junit(b"<html>hi</html>").problem == "no testcase elements"
    assert read_junit(b"").problem.startswith("not well-formed XML")


def test_names_are_capped_and_control_characters_replaced():
    cases = b"".join(
        b'<testcase name="t%d&#10;&#x202E;%s"><failure/></testcase>' % (i, b"x" * 500)
        for i in range(50)
    )
    s = read_junit(b"<testsuite>" + cases + b"</testsuite>")
    assert s.failures == 50
    assert len(s.failing) == MAX_NAMES
    assert all(len(n) <= 201 for n in s.failing)
    assert all("\n" not in n and "\u202e" not in n for n in s.failing)
    assert s.line().endswith("(+30 more)")


def _tar(name: str, data: bytes, kind: bytes = tarfile.REGTYPE) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.size = len(data) if kind == tarfile.REGTYPE else 0
        if kind == tarfile.SYMTYPE:
            info.linkname = "/etc/passwd"
        tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    return buf.getvalue()


def test_the_copied_out_archive_is_capped_and_a_link_refused():
    assert junit_from_tar([_tar("junit.xml", PYTEST)], len(PYTEST)).tests == 4
    assert "link" in junit_from_tar([b""], 11, link="/etc/passwd").problem
    assert "regular" in junit_from_tar([_tar("junit.xml", b"", tarfile.SYMTYPE)], 0).problem
    assert "over" in junit_from_tar([b""], MAX_BYTES + 1).problem
    # a stream longer than its stat said is cut off, not read to the end
    endless = (b"\0" * 65536 for _ in range(10_000))
    assert "over" in junit_from_tar(endless, 10).problem


def test_killed_mutant_names_the_failing_tests_except_hidden_ones_to_a_candidate():
    from runner.challenges.registry import Registry, load_mutants

    m = load_mutants(Registry().get("rest-api-tests"))[0]
    killed = SuiteRun(m.id, "failed", 1.0, 1, junit=read_junit(PYTEST))
    assert _check(m, killed, REFERENCE_PASSES).message == (
        "killed: the suite exited 1; failing: tests.test_api.test_create_desk, "
        "tests.test_api.test_page"
    )
    assert _check(m, killed, REFERENCE_PASSES, names=False).message == "killed: the suite exited 1"
