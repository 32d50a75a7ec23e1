"""Alerting rules: valid for promtool, and behaving as stated on the grader's own test series.

The series are scraped every 15 s from two instances of the service (``job``/``instance``
labels), 40 minutes of them; ``promtool test rules`` evaluates the candidate's rules on them.
Evaluation times sit well away from every boundary a reasonable window ([1m]..[5m]) could move:
what is graded is whether the alert fires, not how its expression is written.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from conftest import ALERTS, Rules, expect_alert, promtool_test, run_promtool, usable

from graders import fail

SAMPLES = 161  # 40 minutes at 15 s
INSTANCES = ("orders-a:8080", "orders-b:8080")


def counter(per_sample: list[tuple[int, float]]) -> str:
    """Cumulative values: per_sample is [(samples, increase per sample), ...] over SAMPLES."""
    values, v = [], 0.0
    for n, inc in per_sample:
        for _ in range(n):
            values.append(v)
            v += inc
    while len(values) < SAMPLES:
        values.append(v)
    return " ".join(f"{x:g}" for x in values[:SAMPLES])


def series(name: str, values: str, **labels: str) -> dict[str, str]:
    lb = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{lb}}}", "values": values}


def requests(errors: list[tuple[int, float]]) -> list[dict[str, str]]:
    """10 requests/s of 201s per instance; 5xx answers on instance a as given."""
    out = []
    for inst in INSTANCES:
        base = {"job": "orders", "instance": inst}
        out.append(
            series(
                "http_requests_total",
                counter([(SAMPLES, 150)]),
                method="POST",
                route="/orders",
                status="201",
                **base,
            )
        )
        out.append(
            series(
                "http_requests_total",
                counter([(SAMPLES, 15)]),
                method="GET",
                route="/metrics",
                status="200",
                **base,
            )
        )
    out.append(
        series(
            "http_requests_total",
            counter(errors),
            method="POST",
            route="/orders",
            status="503",
            job="orders",
            instance=INSTANCES[0],
        )
    )
    return out


BURST = [(40, 0), (40, 100), (81, 0)]  # quiet 10 min, then 5xx at ~25 % for 10 min, then quiet
QUIET = [(SAMPLES, 3)]  # about 1 % 5xx throughout

BUCKETS = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf")


def histogram(le_counts: dict[str, int]) -> list[dict[str, str]]:
    """Per instance, each 15 s: le_counts[le] observations at or under le (cumulative)."""
    out = []
    for inst in INSTANCES:
        base = {
            "job": "orders",
            "instance": inst,
            "method": "POST",
            "route": "/orders",
            "status": "201",
        }
        for le in BUCKETS:
            out.append(
                series(
                    "http_request_duration_seconds_bucket",
                    counter([(SAMPLES, le_counts[le])]),
                    le=le,
                    **base,
                )
            )
        total = le_counts["+Inf"]
        out.append(
            series("http_request_duration_seconds_count", counter([(SAMPLES, total)]), **base)
        )
        out.append(
            series("http_request_duration_seconds_sum", counter([(SAMPLES, total * 0.1)]), **base)
        )
    return out


def cumulative(per_le: dict[str, int]) -> dict[str, int]:
    out, acc = {}, 0
    for le in BUCKETS:
        acc += per_le.get(le, 0)
        out[le] = acc
    return out


FAST = cumulative({"0.025": 100, "0.05": 40, "0.1": 9, "0.25": 1})  # p99 under 0.1 s
SLOW = cumulative({"0.025": 100, "0.05": 30, "0.1": 10, "1": 5, "2.5": 5})  # ~7 % over 0.5 s


def inventory(error_share: float) -> list[dict[str, str]]:
    ok = 150 * (1 - error_share)
    err = 150 * error_share
    base = {"job": "orders", "instance": INSTANCES[0]}
    return [
        series("inventory_requests_total", counter([(SAMPLES, ok)]), outcome="ok", **base),
        series(
            "inventory_requests_total", counter([(40, 0), (SAMPLES, err)]), outcome="error", **base
        ),
    ]


def case(
    input_series: list[dict[str, str]], alert: str, at: list[tuple[str, bool]]
) -> dict[str, Any]:
    return {
        "interval": "15s",
        "input_series": input_series,
        "alert_rule_test": [
            {"eval_time": t, "alertname": alert, "exp_alerts": expect_alert(alert, firing)}
            for t, firing in at
        ],
    }


@pytest.mark.skill("alerting")
@pytest.mark.points(2)
def test_alert_rules_valid(rules: Rules) -> None:
    """GET /alerts.yml serves a rules file promtool accepts, with the three alerts, labels and annotations."""
    usable(rules)
    with tempfile.TemporaryDirectory(prefix="rules-") as tmp:
        path = Path(tmp, "alerts.yml")
        path.write_bytes(rules.raw)
        code, out = run_promtool(["check", "rules", str(path)])
    if code != 0:
        fail(f"promtool check rules: {' | '.join(out.strip().splitlines()[:8])[:600]}")
    for name, spec in ALERTS.items():
        rule = rules.alerts.get(name)
        if rule is None:
            fail(f"alerts.yml has no alerting rule {name} (found {sorted(rules.alerts) or 'none'})")
        labels = rule.get("labels") or {}
        if labels != {"severity": spec["severity"]}:
            fail(f"{name}: labels {labels}, expected exactly {{'severity': '{spec['severity']}'}}")
        ann = rule.get("annotations") or {}
        for key in ("summary", "description"):
            if not isinstance(ann.get(key), str) or not ann[key].strip():
                fail(f"{name}: annotation {key} is missing or empty")


@pytest.mark.skill("alerting")
@pytest.mark.points(3)
def test_error_alert_fires_on_burst(rules: Rules) -> None:
    """OrdersHighErrorRate fires during a 25 % 5xx burst (after its for) and resolves after it."""
    promtool_test(
        rules,
        [
            case(
                requests(BURST),
                "OrdersHighErrorRate",
                [("9m", False), ("15m", True), ("19m", True), ("32m", False)],
            )
        ],
    )


@pytest.mark.skill("alerting")
@pytest.mark.points(2)
@pytest.mark.hidden
def test_error_alert_waits_for(rules: Rules) -> None:
    """OrdersHighErrorRate is not firing 90 s into a burst (its for is 2m)."""
    promtool_test(rules, [case(requests(BURST), "OrdersHighErrorRate", [("11m30s", False)])])


@pytest.mark.skill("alerting")
@pytest.mark.points(2)
def test_error_alert_quiet(rules: Rules) -> None:
    """OrdersHighErrorRate stays silent at about 1 % errors."""
    promtool_test(
        rules,
        [
            case(
                requests(QUIET),
                "OrdersHighErrorRate",
                [("10m", False), ("25m", False), ("39m", False)],
            )
        ],
    )


@pytest.mark.skill("alerting")
@pytest.mark.points(2)
def test_latency_alert_fires(rules: Rules) -> None:
    """OrdersHighLatency fires when about 7 % of requests take over 0.5 s."""
    promtool_test(
        rules, [case(histogram(SLOW), "OrdersHighLatency", [("12m", True), ("30m", True)])]
    )


@pytest.mark.skill("alerting")
@pytest.mark.points(1)
@pytest.mark.hidden
def test_latency_alert_quiet_and_waits(rules: Rules) -> None:
    """OrdersHighLatency stays silent on fast traffic, and waits its 5m on slow traffic."""
    promtool_test(
        rules,
        [
            case(histogram(FAST), "OrdersHighLatency", [("12m", False), ("30m", False)]),
            case(histogram(SLOW), "OrdersHighLatency", [("4m", False)]),
        ],
    )


@pytest.mark.skill("alerting")
@pytest.mark.points(2)
def test_inventory_alert(rules: Rules) -> None:
    """InventoryDown fires when most inventory calls fail, and not at 10 % failures."""
    promtool_test(
        rules,
        [
            case(inventory(0.8), "InventoryDown", [("5m", False), ("20m", True)]),
            case(inventory(0.1), "InventoryDown", [("20m", False)]),
        ],
    )
