"""JUnit XML for CI: one test suite per run, one test case per check, per SLO and for the verdict.

Layout (``<testsuites>`` around one ``<testsuite>``, which GitHub, GitLab, Jenkins and Azure all
read)::

    <testsuite name="assess.<challenge>" tests= failures= errors= skipped= time= timestamp=>
      <properties> score, verdict, ... </properties>
      <testcase classname="<challenge>.<skill>" name="<check id>" time=> [<failure>|<error>|<skipped>]
      <testcase classname="<challenge>.slo" name="p95|p99|error_rate|rate">        (with a load phase)
      <testcase classname="<challenge>.run" name="verdict">   fails unless the verdict is graded

Service output is attacker-controlled and may hold characters XML 1.0 cannot carry; they are
dropped so the file always parses.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from runner.reports import loadview
from runner.results import LoadResult, Results, Verdict

# everything XML 1.0 allows, negated: C0 controls but tab/LF/CR, surrogates, U+FFFE/U+FFFF
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Terminal controls are valid XML but act when a CI log viewer prints the text: CSI, OSC (to BEL
# or ST), DCS/SOS/PM/APC strings, other ESC pairs, C1 controls (U+009B is an 8-bit CSI) and bidi
# overrides go. A lone ESC is left to _NOT_XML.
_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]{0,4096}(?:\x07|\x1b\\)"
    r"|\x1b[PX^_][^\x1b]{0,4096}\x1b\\"
    r"|\x1b[ -Z\\-~]"
    "|[\x80-\x9f\u202a-\u202e\u2066-\u2069]"
)
MESSAGE_CHARS = 500
LOG_LINES = 60


def xml_text(text: str) -> str:
    return _NOT_XML.sub("", _ANSI.sub("", text))


def _attr(text: str, limit: int = MESSAGE_CHARS) -> str:
    """A one-line attribute value, cut to ``limit`` characters."""
    one = " ".join(xml_text(text).split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _tail(text: str, lines: int = LOG_LINES) -> str:
    return "\n".join(xml_text(text).rstrip("\n").splitlines()[-lines:])


def _case(suite: ET.Element, classname: str, name: str, time: float = 0.0) -> ET.Element:
    return ET.SubElement(
        suite,
        "testcase",
        {"classname": _attr(classname), "name": _attr(name), "time": f"{max(time, 0.0):.3f}"},
    )


def _fail(
    case: ET.Element,
    message: str,
    body: str = "",
    kind: str = "failure",
    type_: str = "AssertionError",
) -> None:
    el = ET.SubElement(case, kind, {"message": _attr(message), "type": type_})
    el.text = xml_text(body or message)


SLO_CASE = {"rate": "rate", "p95": "p95", "p99": "p99", "errors": "error_rate"}


def _slo_cases(suite: ET.Element, challenge: str, load: LoadResult) -> None:
    rows = loadview.rows(load)
    # why requests failed (by request name and message) goes with the error-rate case
    failures = "\n".join(f"{r.figure}: {r.measured}" for r in rows if r.key == "failure")
    for row in rows:
        if row.key not in SLO_CASE:
            continue
        case = _case(suite, f"{challenge}.slo", SLO_CASE[row.key])
        line = f"{row.figure} {row.measured}, SLO {row.target}"
        if row.key == "errors" and failures:
            line += "\n" + failures
        if not row.met:
            _fail(case, line)
        ET.SubElement(case, "system-out").text = line


def build(results: Results) -> ET.ElementTree:
    r = results
    suites = ET.Element("testsuites", {"name": "assess"})
    suite = ET.SubElement(
        suites,
        "testsuite",
        {
            "name": f"assess.{r.challenge}",
            "timestamp": r.manifest.started_at[:19],
            "hostname": _attr(str(r.manifest.host.get("hostname", "localhost")), 100),
            "time": f"{r.timings.total_s:.3f}",
        },
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("score", f"{r.score:.2f}"),
        ("verdict", r.verdict.value),
        ("correctness_score", f"{r.correctness_score:.2f}"),
        ("load_score", "" if r.load_score is None else f"{r.load_score:.2f}"),
        ("critical_failed", ",".join(r.critical_failed)),
        ("score_notes", " | ".join(r.score_notes)),
        ("challenge_version", r.manifest.challenge_version),
        ("run_id", r.manifest.run_id),
        ("seed", str(r.manifest.seed)),
        ("mode", r.mode),
        ("kind", r.kind),
        ("assess_version", r.manifest.assess_version),
    ):
        ET.SubElement(props, "property", {"name": name, "value": _attr(value)})

    tests = r.kind == "tests"  # a suite graded by mutants: its output, not a service's log
    for c in r.checks:
        if r.mode == "candidate" and c.hidden and not tests:
            continue  # candidates do not learn what the hidden checks are (mutants: by skill)
        case = _case(suite, f"{r.challenge}.{c.skill}", c.id, c.duration_s)
        # Points per check, as testcase properties (read by Jenkins, GitLab, test-reporter).
        case_props = ET.SubElement(case, "properties")
        for name, value in (("points", f"{c.points:g}"), ("max_points", f"{c.max_points:g}")):
            ET.SubElement(case_props, "property", {"name": name, "value": value})
        detail = f"{c.title}\n\n{c.message}".strip()
        if c.outcome == "failed":
            _fail(case, c.message or c.title, detail)
        elif c.outcome == "error":
            _fail(case, c.message or "the check errored", detail, kind="error", type_="CheckError")
        elif c.outcome == "skipped":
            ET.SubElement(case, "skipped", {"message": _attr(c.message or "skipped")})
        elif c.outcome == "not_run":
            # Never a skip: a check that did not run earned nothing, and CI must see it fail.
            _fail(case, c.message or "not run", detail, type_="NotRun")

    if r.load:
        _slo_cases(suite, r.challenge, r.load)
    elif r.load_missing:
        case = _case(suite, f"{r.challenge}.slo", "load")
        _fail(case, f"{r.load_missing} (scored 0)", type_="LoadMissing")

    verdict = _case(suite, f"{r.challenge}.run", "verdict", r.timings.build_s + r.timings.ready_s)
    log_label = "the suite's output (tail):\n" if tests else ""
    if r.verdict != Verdict.GRADED:
        head = r.verdict.value + (f": {r.verdict_detail}" if r.verdict_detail else "")
        log = r.build_log_tail if r.verdict == Verdict.BUILD_FAILED else r.service_log.text
        label = "" if r.verdict == Verdict.BUILD_FAILED else log_label
        body = head + ("\n\n" + label + _tail(log) if log.strip() else "")
        _fail(
            verdict,
            head,
            body,
            kind="error" if r.verdict == Verdict.ERROR else "failure",
            type_=r.verdict.value,
        )
    if r.service_log.text:
        ET.SubElement(verdict, "system-out").text = log_label + _tail(r.service_log.text)

    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    for kind, attr in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
        suite.set(attr, str(sum(case.find(kind) is not None for case in cases)))
    for attr in ("tests", "failures", "errors", "skipped", "time"):
        suites.set(attr, suite.get(attr, "0"))
    ET.indent(suites)
    return ET.ElementTree(suites)


def write(results: Results, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    build(results).write(path, encoding="utf-8", xml_declaration=True)
