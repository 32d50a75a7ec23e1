"""The load section as rows, computed once: every report (terminal, HTML, Markdown, JUnit)
shows the same figures, the same SLO rows and the same verdict on each."""

from __future__ import annotations

from dataclasses import dataclass

from graders.protocol import LoadResult, SloRow


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


def rows(load: LoadResult) -> list[Row]:
    m = load.measured
    out = [slo_row(r, load.latency_of, load.rate_of) for r in load.slo_rows]
    p50 = "p50 latency" + (f" ({load.latency_of})" if load.latency_of else "")
    out.insert(1, Row(p50, _num(m.p50_ms, "ms"), "", None))
    out.append(Row("requests (measured)", f"{m.requests:,} ({m.failures:,} failed)", "", None))
    if m.failures_by_kind:
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


def capacity_row(load: LoadResult) -> Row:
    if not load.slo_met:
        return Row("capacity", "none: the SLOs were not met at the target rate", "", False)
    text = _num(load.capacity_rps, "req/s", 0)
    if load.generator_limited or (load.generator_saturated and load.capacity_is_lower_bound):
        text = f"at least {text} (generator limit)"
    elif load.capacity_is_lower_bound:
        text = f"at least {text}"
    bits = []
    if load.capacity_stop == "service" and load.capacity_upper_rps is not None:
        bits.append(f"missed an SLO at {_num(load.capacity_upper_rps, 'req/s', 0)}")
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
