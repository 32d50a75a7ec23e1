"""The load section as rows, computed once: every report (terminal, HTML, Markdown, JUnit)
shows the same figures, the same SLO rows and the same verdict on each."""

from __future__ import annotations

from dataclasses import dataclass

from graders.load.slo import slo_rows
from graders.protocol import LoadResult, Slo, SloRow, Stage


@dataclass(frozen=True)
class Row:
    figure: str
    measured: str
    target: str  # the SLO, e.g. "<= 150 ms"; "" for a figure without one
    met: bool | None  # None: informative only
    key: str = ""  # the SLO's key (rate, p95, p99, errors), "" for other rows


def _num(value: float | None, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "-"
    text = f"{value:,.{digits}f}"
    return f"{text} {unit}".rstrip()


SYMBOL = {">=": "≥", "<=": "≤"}


def slo_row(r: SloRow, latency_of: str | None, rate_of: str | None) -> Row:
    op = SYMBOL[r.comparator]
    if r.key == "errors":
        measured = _num(None if r.actual is None else 100 * r.actual, "%", 2)
        target = f"{op} {100 * r.target:g} %"
    else:
        measured = _num(r.actual, r.unit)
        target = f"{op} {r.target:g} {r.unit}".rstrip()
    label = r.label
    if r.key in ("p95", "p99") and latency_of:
        label += f" ({latency_of})"
    if r.key == "rate" and rate_of:
        label += f" ({rate_of})"
    return Row(label, measured, target, r.met, r.key)


def _own_figure_met(r: SloRow) -> bool:
    """Whether the row's own figure is within its target (before the error-rate gate)."""
    if r.actual is None:
        return False
    return r.actual >= r.target if r.comparator == ">=" else r.actual <= r.target


def void_reason(load: LoadResult) -> str:
    """ "error rate 38.6 % > 1 %" when the error-rate SLO failed and so voids the others."""
    errors = next((r for r in load.slo_rows if r.key == "errors"), None)
    if errors is None or errors.met or errors.actual is None:
        return ""
    return f"error rate {100 * errors.actual:.1f} % > {100 * errors.target:g} %"


MAX_GROUP_ROWS = 5


def failure_rows(load: LoadResult) -> list[Row]:
    """The measured stage's failures by request name and message, most frequent first."""
    m = load.measured
    out = []
    requests = {name: st.requests for name, st in m.by_name.items()}
    for g in m.failure_groups[:MAX_GROUP_ROWS]:
        of = f" of {requests[g.name]:,}" if g.name in requests else ""
        example = f" (first: {g.example})" if g.example and g.example != g.message else ""
        out.append(
            Row(
                f"failed: {g.name}",
                f"{g.count:,}{of} · {g.kind}: {g.message}{example}",
                "",
                None,
                "failure",
            )
        )
    if len(m.failure_groups) > MAX_GROUP_ROWS:
        rest = sum(g.count for g in m.failure_groups[MAX_GROUP_ROWS:])
        more = len(m.failure_groups) - MAX_GROUP_ROWS
        out.append(Row("failed: other", f"{rest:,} in {more} more group(s)", "", None, "failure"))
    return out


def rows(load: LoadResult) -> list[Row]:
    m = load.measured
    void = void_reason(load)
    out = []
    for r in load.slo_rows:
        row = slo_row(r, load.latency_of, load.rate_of)
        if void and r.key != "errors" and _own_figure_met(r):
            # within its target, but the failed error-rate SLO voids it: not "not met"
            row = Row(row.figure, row.measured + " (void)", row.target, None, row.key)
        out.append(row)
    if void:
        out.insert(
            0, Row("SLOs void", f"{void}: the other figures do not count", "", False, "void")
        )
    p50 = "p50 latency" + (f" ({load.latency_of})" if load.latency_of else "")
    out.insert(2 if void else 1, Row(p50, _num(m.p50_ms, "ms"), "", None))
    out.append(Row("requests (measured)", f"{m.requests:,} ({m.failures:,} failed)", "", None))
    if m.failure_groups:
        out += failure_rows(load)
    elif m.failures_by_kind:
        kinds = sorted(m.failures_by_kind.items(), key=lambda kv: -kv[1])
        out.append(Row("failures by kind", " · ".join(f"{k} {v:,}" for k, v in kinds), "", None))
    if load.latency_of:  # few, meaningful names (e.g. delivery, connect): show each
        for name, st in m.by_name.items():
            out.append(
                Row(
                    f"{name}",
                    f"{st.requests:,} ({st.failures:,} failed) · p95 {_num(st.p95_ms, 'ms')}",
                    "",
                    None,
                )
            )
    for name, value in sorted(load.gauges.items()):
        out.append(Row(f"{name} (peak)", _num(value, digits=0), "", None))
    if load.counter is not None:
        c = load.counter
        out.append(
            Row(c.label, f"{c.value:g} of {c.requests:,}", f"saved {100 * c.saved:.0f} %", None)
        )
    for f in load.figures:
        if f.per_request is None:
            out.append(Row(f.label, "not measured", "", None))
        else:
            out.append(
                Row(
                    f"{f.label} per request",
                    f"{f.per_request:g}",
                    f"{f.value:g} over {f.requests:,} requests",
                    None,
                )
            )
    out.append(capacity_row(load))
    gen = f"{100 * m.generator_cpu:.0f}% of a core"
    if load.workers_cpu:
        gen += " (workers " + ", ".join(f"{100 * c:.0f}%" for c in load.workers_cpu) + ")"
    if m.generator_lag_ms is not None:
        gen += f" · lag p95 {m.generator_lag_ms:.1f} ms"
    out.append(Row("generator CPU", gen, "", None))
    return out


STOPS = {
    "service": "the service missed an SLO above it",
    "generator": "the load generator ran out",
    "budget": "the search's time budget ran out",
}


def stage_missed(stage: Stage, slo: Slo) -> str:
    """Which SLOs a stage missed, with its figures ("p95 212 ms > 150 ms"); a failed error rate
    is said alone (it voids the rest). "" when it met them all."""
    rows = slo_rows(stage, slo)
    errors = next(r for r in rows if r.key == "errors")
    if not errors.met:
        return f"errors {100 * (errors.actual or 0):.1f} % > {100 * errors.target:g} %"
    out = []
    for r in rows:
        if r.met or r.key == "errors":
            continue
        if r.actual is None:
            out.append(f"no {r.label}")
            continue
        op = "<" if r.comparator == ">=" else ">"
        out.append(f"{r.key} {_num(r.actual, r.unit, 0)} {op} {_num(r.target, r.unit, 0)}")
    return ", ".join(out)


def capacity_row(load: LoadResult) -> Row:
    if not load.slo_met:
        return Row("capacity", "none: the SLOs were not met at the target rate", "", False)
    text = _num(load.capacity_rps, "req/s", 0)
    if load.generator_limited or (load.generator_saturated and load.capacity_is_lower_bound):
        text = f"at least {text} (generator limit)"
    elif load.capacity_is_lower_bound:
        text = f"at least {text}"
    bits = []
    if load.capacity_lower_rps and abs(load.capacity_lower_rps - load.capacity_rps) >= 0.5:
        bits.append(f"achieved at {_num(load.capacity_lower_rps, 'req/s', 0)} offered")
    if load.capacity_stop == "service" and load.capacity_upper_rps is not None:
        upper = next(
            (
                st
                for st in reversed(load.steps)
                if st.ok is False and abs(st.rps_offered - load.capacity_upper_rps) < 0.5
            ),
            None,
        )
        why = stage_missed(upper, load.slo) if upper is not None else ""
        bits.append(
            f"{_num(load.capacity_upper_rps, 'req/s', 0)} offered missed "
            + (why or "an SLO")
            + " (the search's upper bound)"
        )
    elif load.capacity_stop:
        bits.append(f"stopped: {STOPS[load.capacity_stop]}")
    if load.generator_ceiling_rps is not None:
        bits.append(f"generator ceiling {_num(load.generator_ceiling_rps, 'req/s', 0)}")
    if bits:
        text += " · " + " · ".join(bits)
    full = load.reference_capacity_rps
    if full is not None and full > load.target_rps:
        target = f"full marks at the reference's {_num(full, 'req/s', 0)}"
    else:
        target = f"full marks at {4 * load.target_rps:g} req/s"
    return Row("capacity", text, target, None)


def missing_row(reason: str) -> Row:
    return Row("load", f"no load result: {reason}", "scored 0", False)
