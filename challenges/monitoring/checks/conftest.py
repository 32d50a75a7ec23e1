"""Helpers for the monitoring checks: a strict exposition parser, scrapes, the inventory's
control API, the service's log lines, and promtool.

Every check drives its own traffic with its own SKUs and request ids (a random prefix per run),
and compares the service's metrics *before and after* it: checks run one after another, so the
difference on the series a check touches is exactly its own traffic. Scrapes are themselves
requests (route ``/metrics``), which is why no check asserts on the ``/metrics`` series' deltas
except where it counts its own scrapes.

Tolerances (stated in the brief): ``_sum`` at least 90 % of the inventory delays the grader
injected and at most the grader's measured latencies plus 50 ms per request; readiness flips
within 4 s (the brief asks for 2 s); the in-flight gauge may include the scrape itself.
"""

from __future__ import annotations

import json
import math
import random
import re
import shutil
import subprocess
import tempfile
import threading
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from graders import Client, Response, bounded, expect, fail
from graders.bounded import Unparseable, load_json, load_yaml

CHALLENGE_TOML = Path(__file__).resolve().parent.parent / "challenge.toml"
_ENV: dict[str, str] = tomllib.loads(CHALLENGE_TOML.read_text()).get("env", {})
INVENTORY_TIMEOUT_S = float(_ENV.get("INVENTORY_TIMEOUT_S", "2"))

METRICS_ACCEPT = {"Accept": "text/plain;version=0.0.4"}
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, math.inf)
READY_FLIP_S = 4.0  # the brief asks for 2 s
SUM_FLOOR = 0.9  # _sum >= 90 % of the injected delays
SUM_SLACK_S = 0.05  # _sum <= measured latencies + 50 ms per request
LOG_WAIT_S = 4.0
PROMTOOL_TIMEOUT_S = 20.0
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")

# -- the text exposition format, parsed strictly ---------------------------------------------

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
SUFFIXES = {"histogram": ("_bucket", "_count", "_sum"), "summary": ("_count", "_sum")}

Labels = tuple[tuple[str, str], ...]


class ExpositionError(Exception):
    pass


def _parse_value(raw: str, line_no: int) -> float:
    if raw in ("+Inf", "Inf"):
        return math.inf
    if raw == "-Inf":
        return -math.inf
    if raw == "NaN":
        return math.nan
    try:
        return float(raw)
    except ValueError:
        raise ExpositionError(f"line {line_no}: {raw!r} is not a sample value") from None


def _parse_labels(text: str, pos: int, line_no: int) -> tuple[dict[str, str], int]:
    """Labels from text[pos] == '{' to the matching '}'; returns them and the position after."""
    labels: dict[str, str] = {}
    pos += 1
    while True:
        while pos < len(text) and text[pos] == " ":
            pos += 1
        if pos < len(text) and text[pos] == "}":
            return labels, pos + 1
        m = LABEL_NAME.match(text, pos)
        if not m:
            raise ExpositionError(f"line {line_no}: bad label name at column {pos + 1}")
        name = m.group(0)
        pos = m.end()
        if not text.startswith('="', pos):
            raise ExpositionError(f'line {line_no}: expected =" after label {name}')
        pos += 2
        value = []
        while True:
            if pos >= len(text):
                raise ExpositionError(f"line {line_no}: unterminated label value")
            ch = text[pos]
            if ch == "\\":
                nxt = text[pos + 1 : pos + 2]
                if nxt not in ("\\", '"', "n"):
                    raise ExpositionError(f"line {line_no}: bad escape \\{nxt} in a label value")
                value.append("\n" if nxt == "n" else nxt)
                pos += 2
            elif ch == '"':
                pos += 1
                break
            else:
                value.append(ch)
                pos += 1
        if name in labels:
            raise ExpositionError(f"line {line_no}: label {name} given twice")
        labels[name] = "".join(value)
        if pos < len(text) and text[pos] == ",":
            pos += 1
        elif pos < len(text) and text[pos] == "}":
            return labels, pos + 1
        else:
            raise ExpositionError(f"line {line_no}: expected , or }} after label {name}")


@dataclass
class Metrics:
    """One scrape: samples by (name, sorted labels), and the declared type of each family."""

    samples: dict[tuple[str, Labels], float] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    text: str = ""

    def get(self, name: str, **labels: str) -> float:
        """The sample's value; 0 when the series is absent (it may appear on first use)."""
        return self.samples.get((name, tuple(sorted(labels.items()))), 0.0)

    def has(self, name: str, **labels: str) -> bool:
        return (name, tuple(sorted(labels.items()))) in self.samples

    def series(self, name: str) -> dict[Labels, float]:
        return {lb: v for (n, lb), v in self.samples.items() if n == name}

    def family_of(self, sample_name: str) -> str | None:
        if sample_name in self.types:
            return sample_name
        for suffix in ("_bucket", "_count", "_sum"):
            base = sample_name.removesuffix(suffix)
            if base != sample_name and self.types.get(base) in ("histogram", "summary"):
                return base
        return None


def parse_exposition(text: str) -> Metrics:
    """Parse the Prometheus text format 0.0.4; raise ExpositionError on anything malformed."""
    out = Metrics(text=text)
    seen_families: set[str] = set()
    try:  # bounded: bytes, lines, line length (a hostile page fails the check that read it)
        rows = list(bounded.lines(text, "the metrics page", max_bytes=2 << 20))
    except Unparseable as exc:
        raise ExpositionError(str(exc)) from None
    for line_no, line in enumerate(rows, 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not NAME.fullmatch(name):
                    raise ExpositionError(f"line {line_no}: bad metric name {name!r}")
                if parts[1] == "TYPE":
                    kind = parts[3].strip() if len(parts) > 3 else ""
                    if kind not in TYPES:
                        raise ExpositionError(f"line {line_no}: unknown type {kind!r}")
                    if name in out.types:
                        raise ExpositionError(f"line {line_no}: second TYPE line for {name}")
                    if name in seen_families:
                        raise ExpositionError(f"line {line_no}: TYPE of {name} after its samples")
                    out.types[name] = kind
            continue
        m = NAME.match(line)
        if not m:
            raise ExpositionError(f"line {line_no}: not a sample: {line[:80]!r}")
        name, pos = m.group(0), m.end()
        labels: dict[str, str] = {}
        if pos < len(line) and line[pos] == "{":
            labels, pos = _parse_labels(line, pos, line_no)
        rest = line[pos:].split()
        if not line[pos : pos + 1].isspace() or not 1 <= len(rest) <= 2:
            raise ExpositionError(f"line {line_no}: expected a value after {name}")
        value = _parse_value(rest[0], line_no)
        if len(rest) == 2 and not re.fullmatch(r"-?\d+", rest[1]):
            raise ExpositionError(f"line {line_no}: bad timestamp {rest[1]!r}")
        key = (name, tuple(sorted(labels.items())))
        if key in out.samples:
            raise ExpositionError(f"line {line_no}: series {name}{labels} given twice")
        out.samples[key] = value
        seen_families.add(out.family_of(name) or name)
    return out


def scrape_response(api: Client) -> Response:
    return api.get("/metrics", headers=METRICS_ACCEPT, timeout_s=10)


def scrape(api: Client) -> Metrics:
    r = scrape_response(api)
    expect(r).status(200)
    try:
        return parse_exposition(r.body.decode("utf-8"))
    except UnicodeDecodeError:
        fail("GET /metrics: the body is not UTF-8")
    except ExpositionError as exc:
        fail(f"GET /metrics: not valid Prometheus text format: {exc}")


def req_labels(method: str, route: str, status: int) -> dict[str, str]:
    return {"method": method, "route": route, "status": str(status)}


def counter_delta(before: Metrics, after: Metrics, method: str, route: str, status: int) -> float:
    lb = req_labels(method, route, status)
    return after.get("http_requests_total", **lb) - before.get("http_requests_total", **lb)


def hist_delta(before: Metrics, after: Metrics, name: str, suffix: str, **labels: str) -> float:
    return after.get(f"{name}{suffix}", **labels) - before.get(f"{name}{suffix}", **labels)


def le_text(bound: float) -> str:
    return "+Inf" if bound == math.inf else repr(bound)


def bucket_values(m: Metrics, name: str, **labels: str) -> dict[float, float]:
    """The histogram's buckets for these labels, keyed by their upper bound as a float."""
    want = set(labels.items())
    out: dict[float, float] = {}
    for lb, v in m.series(f"{name}_bucket").items():
        d = dict(lb)
        le = d.pop("le", None)
        if le is None or set(d.items()) != want:
            continue
        try:
            out[_parse_value(le, 0)] = v
        except ExpositionError:
            fail(f"{name}_bucket has a bad le label {le!r}")
    return out


# -- ids --------------------------------------------------------------------------------------


class Ids:
    """SKUs and request ids no other check (and no load) uses: a random prefix per run."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(f"{seed}-{uuid.uuid4()}")
        self.prefix = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(5))
        self._n = 0
        self._lock = threading.Lock()

    def _next(self) -> int:
        with self._lock:
            self._n += 1
            return self._n

    def sku(self) -> str:
        return f"CHK-{self.prefix}-{self._next()}"

    def oos_sku(self) -> str:
        """An SKU the inventory answers 409 for."""
        return f"OOS-{self.prefix}-{self._next()}"

    def request_id(self) -> str:
        return f"chk-{self.prefix.lower()}-{self._next()}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def ids(seed: int) -> Ids:
    return Ids(seed)


# -- the inventory sidecar --------------------------------------------------------------------


class Inventory:
    """The inventory's control API (already authorised)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def _ok(self, r: Response) -> Any:
        if r.status not in (200, 204):
            raise RuntimeError(f"inventory control call failed: {r.describe()}")
        return r.json() if r.status == 200 else None

    def sku(self, sku: str) -> dict[str, Any]:
        return dict(self._ok(self.client.get(f"/control/skus/{sku}")))

    def configure(self, sku: str, **fields: Any) -> None:
        self._ok(self.client.put(f"/control/skus/{sku}", json=fields))

    def clear(self, sku: str) -> None:
        self._ok(self.client.delete(f"/control/skus/{sku}"))

    @contextmanager
    def failing(self, mode: str, status: int = 503) -> Iterator[None]:
        """The inventory fails ("error": a 5xx; "hang": no answer) until the block ends."""
        self._ok(self.client.put("/control/failure", json={"mode": mode, "status": status}))
        try:
            yield
        finally:
            self._ok(self.client.delete("/control/failure"))

    def wait_held(self, sku: str, n: int, timeout_s: float = 5.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            held = self.sku(sku)["held"]
            if held >= n:
                return
            if time.monotonic() > deadline:
                fail(
                    f"the inventory holds {held} reservations for {sku} after {timeout_s:g} s; "
                    f"the grader sent {n} POST /orders for it"
                )
            time.sleep(0.02)


@pytest.fixture(scope="session")
def inventory(sidecars: dict[str, Client]) -> Inventory:
    if "inventory" not in sidecars:
        raise RuntimeError("the inventory sidecar's control endpoint was not given to the grader")
    return Inventory(sidecars["inventory"])


# -- requests ---------------------------------------------------------------------------------


def order(api: Client, sku: str, quantity: int = 1, rid: str | None = None, **kw: Any) -> Response:
    headers = {"X-Request-Id": rid} if rid is not None else {}
    return api.post("/orders", json={"sku": sku, "quantity": quantity}, headers=headers, **kw)


def wait_for(what: str, probe: Callable[[], Any], timeout_s: float, interval_s: float = 0.1) -> Any:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            fail(f"{what}: not within {timeout_s:g} s")
        time.sleep(interval_s)


# -- the service's log ------------------------------------------------------------------------


@dataclass
class LogView:
    request_lines: list[dict[str, Any]]
    bad_lines: list[str]

    def by_id(self, rid: str) -> list[dict[str, Any]]:
        return [ln for ln in self.request_lines if ln.get("request_id") == rid]


def read_log(service_log: Callable[[], str]) -> LogView:
    text = service_log()
    lines = text.split("\n")
    if len(text.encode("utf-8", "replace")) >= (1 << 20) - 4096 and lines:
        lines = lines[1:]  # the tail may start mid-line
    request_lines: list[dict[str, Any]] = []
    bad: list[str] = []
    for line in lines:
        stripped = line.strip()
        if not stripped.startswith("{"):
            continue
        try:
            obj = load_json(stripped, "a log line")  # bounded in size and depth
        except ValueError:
            bad.append(stripped)
            continue
        if not isinstance(obj, dict):
            bad.append(stripped)
            continue
        if obj.get("msg") == "request":
            request_lines.append(obj)
    return LogView(request_lines, bad)


def log_lines_for(
    service_log: Callable[[], str], rids: list[str], timeout_s: float = LOG_WAIT_S
) -> tuple[LogView, dict[str, list[dict[str, Any]]]]:
    """Wait until every id has a request line (or the deadline); return the lines per id."""
    deadline = time.monotonic() + timeout_s
    while True:
        view = read_log(service_log)
        found = {rid: view.by_id(rid) for rid in rids}
        if all(found.values()) or time.monotonic() > deadline:
            return view, found
        time.sleep(0.3)


# -- promtool ---------------------------------------------------------------------------------


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        fail("promtool is not installed where the checks run (it is in the grader image)")
    return path


def run_promtool(
    args: list[str], stdin: bytes | None = None, cwd: str | None = None
) -> tuple[int, str]:
    try:
        p = subprocess.run(
            [promtool(), *args],
            input=stdin,
            capture_output=True,
            timeout=PROMTOOL_TIMEOUT_S,
            cwd=cwd,
            check=False,
        )
    except subprocess.TimeoutExpired:
        fail(f"promtool {args[0]} {args[1]} did not finish within {PROMTOOL_TIMEOUT_S:g} s")
    out = (p.stdout + p.stderr).decode("utf-8", "replace")
    return p.returncode, out


ALERTS = {
    "OrdersHighErrorRate": {"for": "2m", "severity": "page"},
    "OrdersHighLatency": {"for": "5m", "severity": "ticket"},
    "InventoryDown": {"for": "1m", "severity": "page"},
}
FIXED_ANNOTATIONS = {"summary": "s", "description": "d"}


@dataclass
class Rules:
    raw: bytes
    doc: Any
    alerts: dict[str, dict[str, Any]]
    error: str = ""


@pytest.fixture(scope="session")
def rules(service_url: str) -> Rules:
    """The service's alerts.yml, fetched once; checks fail on their own if it is unusable."""
    r = Client(service_url).get("/alerts.yml", timeout_s=10)
    if r.status != 200:
        return Rules(b"", None, {}, f"GET /alerts.yml answered {r.status}")
    try:
        import yaml  # noqa: F401 (graders.bounded parses with it)
    except ImportError:
        return Rules(r.body, None, {}, "PyYAML is not installed where the checks run")
    try:  # bounded: size, depth, nodes after alias expansion (a YAML bomb fails here)
        doc = load_yaml(r.body, "alerts.yml")
    except Unparseable as exc:
        return Rules(r.body, None, {}, str(exc))
    alerts: dict[str, dict[str, Any]] = {}
    groups = doc.get("groups") if isinstance(doc, dict) else None
    for g in groups if isinstance(groups, list) else []:
        for rule in (g.get("rules") or []) if isinstance(g, dict) else []:
            if isinstance(rule, dict) and isinstance(rule.get("alert"), str):
                alerts.setdefault(rule["alert"], rule)
    return Rules(r.body, doc, alerts)


def usable(rules: Rules) -> Rules:
    if rules.error:
        fail(rules.error)
    return rules


def promtool_test(rules: Rules, tests: list[dict[str, Any]]) -> None:
    """Run ``promtool test rules`` with the grader's series against the candidate's rules.

    Annotations are replaced by fixed text (their wording is the candidate's; promtool compares
    them exactly); their presence is graded by its own check.
    """
    doc = json.loads(json.dumps(usable(rules).doc, default=str))
    for g in doc.get("groups") or []:
        for rule in g.get("rules") or []:
            if isinstance(rule, dict) and "alert" in rule:
                rule["annotations"] = dict(FIXED_ANNOTATIONS)
    with tempfile.TemporaryDirectory(prefix="promtool-") as tmp:
        Path(tmp, "rules.json").write_text(json.dumps(doc))
        test = {"rule_files": ["rules.json"], "evaluation_interval": "15s", "tests": tests}
        Path(tmp, "test.json").write_text(json.dumps(test))
        code, out = run_promtool(["test", "rules", "test.json"], cwd=tmp)
    if code != 0:
        # The expected side names the grader's hidden series; show promtool's verdict only.
        lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
        fail("promtool test rules failed: " + " | ".join(lines[:12])[:900])


def expect_alert(name: str, firing: bool) -> list[dict[str, Any]]:
    if not firing:
        return []
    return [
        {"exp_labels": {"severity": ALERTS[name]["severity"]}, "exp_annotations": FIXED_ANNOTATIONS}
    ]
