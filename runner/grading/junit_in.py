"""Reading a JUnit XML file a candidate's test suite wrote: hostile bytes, read safely.

The file is the candidate's: it may be huge, declare entities (billion laughs, external files),
nest without end, or not be text at all. :func:`read_junit` refuses a file over
:data:`MAX_BYTES`, any DOCTYPE or ENTITY declaration (before the parser sees a byte), and nesting
deeper than :data:`MAX_DEPTH`; it keeps at most :data:`MAX_NAMES` failing test names of at most
:data:`MAX_NAME` characters each. Every refusal is a one-line reason, never an exception. What it
returns is text to show, escaped by each report like any other candidate string.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

MAX_BYTES = 512 * 1024
MAX_DEPTH = 32
MAX_NAMES = 20
MAX_NAME = 200
MAX_CASES = 100_000
_DECL = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


@dataclass(frozen=True)
class JunitSummary:
    """What a suite's JUnit file said: counts and the failing tests' names (``problem`` set
    when the file could not be read, then nothing else is)."""

    tests: int = 0
    failures: int = 0  # failed or errored test cases
    skipped: int = 0
    failing: list[str] = field(default_factory=list)
    problem: str = ""

    def line(self) -> str:
        if self.problem:
            return f"JUnit file not read: {self.problem}"
        passed = self.tests - self.failures - self.skipped
        text = f"{self.tests} tests: {passed} passed, {self.failures} failed"
        if self.skipped:
            text += f", {self.skipped} skipped"
        if self.failing:
            more = self.failures - len(self.failing)
            text += (
                "; failing: " + ", ".join(self.failing) + (f" (+{more} more)" if more > 0 else "")
            )
        return text


def _clean(s: str) -> str:
    s = "".join(ch if ch.isprintable() else "?" for ch in s.strip())
    return s[:MAX_NAME] + ("…" if len(s) > MAX_NAME else "")


def read_junit(data: bytes) -> JunitSummary:
    """Counts and failing test names from JUnit XML bytes (pytest, node, go-junit-report,
    Maven surefire shapes: ``testsuites``/``testsuite``/``testcase`` with ``failure`` or
    ``error`` or ``skipped`` children)."""
    if len(data) > MAX_BYTES:
        return JunitSummary(problem=f"over {MAX_BYTES // 1024} KB")
    if _DECL.search(data):
        return JunitSummary(problem="it declares a DOCTYPE or ENTITY (refused)")
    parser = ET.XMLParser()
    tests = failures = skipped = depth = 0
    failing: list[str] = []
    stack: list[str] = []
    try:
        for event, elem in ET.iterparse(io.BytesIO(data), events=("start", "end"), parser=parser):
            if event == "start":
                depth += 1
                if depth > MAX_DEPTH:
                    return JunitSummary(problem=f"nested deeper than {MAX_DEPTH} elements")
                stack.append(elem.tag)
                continue
            depth -= 1
            stack.pop()
            if elem.tag != "testcase":
                if not stack or stack[-1] != "testcase":
                    elem.clear()  # keep memory flat: nothing above a testcase is needed
                continue
            tests += 1
            if tests > MAX_CASES:
                return JunitSummary(problem=f"over {MAX_CASES} test cases")
            kinds = {child.tag for child in elem}
            if kinds & {"failure", "error"}:
                failures += 1
                if len(failing) < MAX_NAMES:
                    cls, name = elem.get("classname", ""), elem.get("name", "?")
                    failing.append(_clean(f"{cls}.{name}" if cls else name))
            elif "skipped" in kinds:
                skipped += 1
            elem.clear()
    except ET.ParseError as exc:
        return JunitSummary(problem=f"not well-formed XML ({_clean(str(exc))})")
    except (UnicodeError, ValueError, LookupError) as exc:
        return JunitSummary(problem=f"not readable text ({_clean(str(exc))})")
    if tests == 0:
        return JunitSummary(problem="no testcase elements")
    return JunitSummary(tests, failures, skipped, failing)
