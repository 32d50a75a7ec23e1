"""The HTML report: one self-contained page (inline CSS and SVG, no scripts, no external assets).

Everything the service or a check wrote (logs, messages) is attacker-controlled, so the template
is rendered with autoescaping on and the charts are drawn here with every label escaped.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from runner.reports import loadview
from runner.reports.timeline import action_line
from runner.results import CheckOutcome, LoadResult, Results, Verdict

TEMPLATES = Path(__file__).resolve().parent / "templates"
LOG_TAIL_LINES = 200

VERDICT_LABEL = {
    Verdict.GRADED: "Graded",
    Verdict.BUILD_FAILED: "Build failed",
    Verdict.NOT_READY: "Not ready",
    Verdict.CRASHED: "Crashed",
    Verdict.TIMEOUT: "Timed out",
    Verdict.RESOURCE_LIMIT: "Resource limit",
    Verdict.TAMPERED: "Tampered",
    Verdict.ERROR: "Grader error",
    Verdict.INTERRUPTED: "Interrupted",
}
VERDICT_HINT = {
    Verdict.GRADED: "The service ran and was graded; the score says how well.",
    Verdict.BUILD_FAILED: "The submission's image did not build.",
    Verdict.NOT_READY: "The service never answered GET /healthz with 200 in time.",
    Verdict.CRASHED: "The service exited while it was being graded.",
    Verdict.TIMEOUT: "A phase exceeded its wall-time limit.",
    Verdict.RESOURCE_LIMIT: "The service was killed by a sandbox limit.",
    Verdict.TAMPERED: "The service tried to impersonate the grader or a sidecar.",
    Verdict.ERROR: "The grader itself failed; this is not the candidate's fault.",
    Verdict.INTERRUPTED: "The run was interrupted (Ctrl-C): a partial report, not a grade.",
}
# verdicts where the service's own output explains the result: its log goes right under the verdict
LOG_FIRST = {Verdict.NOT_READY, Verdict.CRASHED, Verdict.RESOURCE_LIMIT, Verdict.TAMPERED}
OUTCOME_ORDER = {"not_run": 0, "error": 1, "failed": 2, "skipped": 3, "passed": 4}

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(text: str) -> str:
    """Drop ANSI escapes and control characters (keep newlines and tabs)."""
    return _CONTROL.sub("", _ANSI.sub("", text.replace("\r\n", "\n")))


def tail(text: str, lines: int = LOG_TAIL_LINES) -> tuple[str, int]:
    """The last ``lines`` lines of ``text`` and how many lines were left out."""
    all_lines = clean_text(text).rstrip("\n").splitlines()
    return "\n".join(all_lines[-lines:]), max(0, len(all_lines) - lines)


def num(value: Any) -> float | None:
    """A finite number, or None (bools, strings and NaN are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def short_id(value: str, keep: int = 16) -> str:
    """``sha256:0123456789abcdef…`` for long digests (the full value goes in a tooltip)."""
    algo, sep, digest = value.rpartition(":")
    if len(digest) <= keep + 4:
        return value
    return f"{algo}{sep}{digest[:keep]}…"


def score_tone(score: float) -> str:
    return "good" if score >= 80 else "fair" if score >= 50 else "poor"


def seconds(s: float) -> str:
    if s < 60:
        return f"{s:.1f} s"
    m, rest = divmod(round(s), 60)
    return f"{m} min {rest:02d} s"


# ----------------------------------------------------------------------------- charts


@dataclass(frozen=True)
class Line:
    label: str
    points: Sequence[tuple[float, float | None]]
    color: str
    dashed: bool = False


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]: steps of 1, 2, 2.5 or 5 times a power of ten."""
    if not hi > lo:
        hi = lo + 1.0
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if raw <= m * mag * (1 + 1e-9))
    start = math.floor(lo / step + 1e-9) * step
    end = math.ceil(hi / step - 1e-9) * step
    n = round((end - start) / step)
    return [round(start + i * step, 10) for i in range(n + 1)]


def _tick_label(v: float, step: float) -> str:
    if abs(v) >= 10_000:
        return f"{v / 1000:.0f}k"
    if abs(v) >= 1000:
        return f"{v / 1000:.1f}k".replace(".0k", "k")
    if step < 1:
        digits = max(0, -math.floor(math.log10(step)) + (0 if step * 10 % 1 == 0 else 1))
        return f"{v:.{digits}f}"
    return f"{v:.0f}"


def line_chart(
    lines: Sequence[Line],
    *,
    title: str,
    y_unit: str,
    threshold: tuple[float, str] | None = None,
    chart_id: str = "",
    width: int = 540,
    height: int = 230,
) -> Markup:
    """An inline ``<svg>`` line chart with axes, grid, tick labels, a legend and an optional
    threshold line. Returns an empty string when there is nothing to draw."""
    pts = [(x, y) for line in lines for x, y in line.points if y is not None]
    if not pts:
        return Markup("")
    left, right, top, bottom = 50, 14, 30, 34
    pw, ph = width - left - right, height - top - bottom
    xs = [x for x, _ in pts]
    ys = [y for _, y in pts] + ([threshold[0]] if threshold else [])
    x0, x1 = min(xs), max(xs)
    if x1 <= x0:
        x0, x1 = x0 - 1, x1 + 1
    y_ticks = nice_ticks(min(0.0, *ys), max(ys) * 1.08 if max(ys) > 0 else 1.0)
    y0, y1 = y_ticks[0], y_ticks[-1]
    x_ticks = [t for t in nice_ticks(x0, x1, 6) if x0 - 1e-9 <= t <= x1 + 1e-9]

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return top + ph - (y - y0) / (y1 - y0) * ph

    out: list[str] = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'preserveAspectRatio="xMidYMid meet" data-chart="{escape(chart_id)}" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    y_step = y_ticks[1] - y_ticks[0] if len(y_ticks) > 1 else 1.0
    for t in y_ticks:
        y = sy(t)
        out.append(f'<line class="grid" x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(
            f'<text class="tick" x="{left - 7}" y="{y + 3.5:.1f}" text-anchor="end">'
            f"{escape(_tick_label(t, y_step))}</text>"
        )
    x_step = x_ticks[1] - x_ticks[0] if len(x_ticks) > 1 else 1.0
    for t in x_ticks:
        x = sx(t)
        out.append(
            f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="{top + ph}" y2="{top + ph + 4}"/>'
        )
        out.append(
            f'<text class="tick" x="{x:.1f}" y="{top + ph + 16}" text-anchor="middle">'
            f"{escape(_tick_label(t, x_step))}</text>"
        )
    out.append(f'<line class="axis" x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}"/>')
    out.append(f'<line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{top + ph}"/>')
    out.append(f'<text class="unit" x="4" y="{top - 15}">{escape(y_unit)}</text>')
    out.append(
        f'<text class="unit" x="{left + pw}" y="{height - 3}" text-anchor="end">time (s)</text>'
    )
    if threshold is not None and y0 <= threshold[0] <= y1:
        y = sy(threshold[0])
        out.append(
            f'<line class="threshold" x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        out.append(
            f'<text class="threshold-label" x="{left + pw - 4}" y="{y - 5:.1f}" '
            f'text-anchor="end">{escape(threshold[1])}</text>'
        )
    for line in lines:
        segments: list[list[tuple[float, float]]] = [[]]
        for x, yv in line.points:
            if yv is None:
                segments.append([])
            else:
                segments[-1].append((sx(x), sy(yv)))
        dash = ' stroke-dasharray="5 4"' if line.dashed else ""
        for seg in segments:
            if len(seg) == 1:
                out.append(
                    f'<circle cx="{seg[0][0]:.1f}" cy="{seg[0][1]:.1f}" r="3" '
                    f'fill="{escape(line.color)}"/>'
                )
            elif seg:
                coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in seg)
                out.append(
                    f'<polyline class="series" points="{coords}" '
                    f'stroke="{escape(line.color)}"{dash}/>'
                )
    # legend, right-aligned above the plot
    lx = left + pw
    for line in reversed(lines):
        w = 7 * len(line.label) + 22
        lx -= w
        out.append(
            f'<rect x="{lx}" y="{top - 20}" width="12" height="3" rx="1.5" '
            f'fill="{escape(line.color)}"/>'
        )
        out.append(f'<text class="legend" x="{lx + 17}" y="{top - 15}">{escape(line.label)}</text>')
    out.append("</svg>")
    return Markup("".join(out))


BLUE, TEAL, VIOLET, AMBER = "#2563eb", "#0d9488", "#7c3aed", "#d97706"


def load_charts(load: LoadResult) -> list[dict[str, Any]]:
    series = list(load.series)
    if not series:
        return []
    t = [p.t for p in series]
    charts = []
    target = load.target_rps
    rps = line_chart(
        [Line("achieved", [(x, p.rps) for x, p in zip(t, series, strict=True)], BLUE)],
        title="Throughput over time",
        y_unit="req/s",
        threshold=(target, f"target {target:g} req/s") if target else None,
        chart_id="rps",
    )
    if rps:
        charts.append({"title": "Throughput", "sub": "requests per second", "svg": rps})
    p95_slo = load.slo.p95_ms
    latency = line_chart(
        [
            Line("p50", [(x, p.p50_ms) for x, p in zip(t, series, strict=True)], TEAL, dashed=True),
            Line("p95", [(x, p.p95_ms) for x, p in zip(t, series, strict=True)], VIOLET),
        ],
        title="Latency over time",
        y_unit="ms",
        threshold=(p95_slo, f"p95 SLO {p95_slo:g} ms") if p95_slo else None,
        chart_id="latency",
    )
    if latency:
        charts.append({"title": "Latency", "sub": "p50 and p95, milliseconds", "svg": latency})
    return charts


def resource_charts(r: Results) -> list[dict[str, Any]]:
    res = r.resources
    if res is None or len(res.samples) < 2:
        return []
    samples = sorted(res.samples, key=lambda s: s.t)
    cpu: list[tuple[float, float | None]] = []
    for a, b in itertools.pairwise(samples):
        dt = b.t - a.t
        cpu.append((b.t, max(0.0, 100 * (b.cpu_s - a.cpu_s) / dt) if dt > 0 else None))
    mem: list[tuple[float, float | None]] = [(s.t, s.mem_mb) for s in samples]
    charts = []
    c = line_chart(
        [Line("cpu", cpu, AMBER)],
        title="Service CPU over time",
        y_unit="% of a core",
        threshold=(100 * res.cpus, f"limit {res.cpus:g} cpu"),
        chart_id="cpu",
    )
    if c:
        charts.append({"title": "CPU", "sub": "percent of one core", "svg": c})
    m = line_chart(
        [Line("memory", mem, TEAL)],
        title="Service memory over time",
        y_unit="MiB",
        threshold=(float(res.memory_limit_mb), f"limit {res.memory_limit_mb} MiB"),
        chart_id="memory",
    )
    if m:
        charts.append({"title": "Memory", "sub": "resident, MiB", "svg": m})
    return charts


# ----------------------------------------------------------------------------- view model


def load_view(load: LoadResult) -> dict[str, Any]:
    steps = [
        {
            "offered": st.rps_offered,
            "achieved": st.achieved_rps,
            "p95": st.p95_ms,
            "errors": 100 * st.error_rate,
            "ok": st.ok,
            "missed": loadview.stage_missed(st, load.slo) if st.ok is False else "",
        }
        for st in load.steps
    ]
    return {
        "rows": [
            {"name": r.figure, "measured": r.measured, "target": r.target, "met": r.met}
            for r in loadview.rows(load)
        ],
        "slo_met": load.slo_met,
        "score": load.score,
        "capacity": load.capacity_rps if load.slo_met else None,
        "lower_bound": load.capacity_is_lower_bound,
        "capacity_text": loadview.capacity_row(load).measured,  # the words every report uses
        "generator_cpu": load.measured.generator_cpu,
        "workers_cpu": list(load.workers_cpu),
        "target": load.target_rps,
        "charts": load_charts(load),
        "steps": steps,
    }


def visible_checks(r: Results) -> list[CheckOutcome]:
    # a tests challenge's mutants reach a candidate already by skill only (mutation.for_candidate)
    checks = [c for c in r.checks if r.kind == "tests" or not (r.mode == "candidate" and c.hidden)]
    return sorted(checks, key=lambda c: OUTCOME_ORDER.get(c.outcome, 9))


def timing_segments(r: Results) -> list[dict[str, Any]]:
    t = r.timings
    parts = [
        ("build", t.build_s, "#64748b"),
        ("ready", t.ready_s, "#0ea5e9"),
        ("suite runs" if r.kind == "tests" else "checks", t.checks_s, "#6366f1"),
        ("load", t.load_s, "#d97706"),
    ]
    other = t.total_s - sum(v for _, v, _ in parts)
    if other >= 0.05:  # set-up and tear-down: images, network, sidecars, cleanup
        parts.append(("other", other, "#cbd5e1"))
    total = max(t.total_s, sum(v for _, v, _ in parts), 1e-9)
    return [
        {"name": n, "s": v, "label": seconds(v), "pct": 100 * v / total, "color": c}
        for n, v, c in parts
        if v > 0
    ]


def context(r: Results) -> dict[str, Any]:
    checks = visible_checks(r)
    tests = r.kind == "tests"  # a suite graded by mutants: its output, not a service's log
    service_log, service_dropped_lines = tail(r.service_log.text)
    build_log, build_dropped_lines = tail(r.build_log_tail, 80)
    m = r.manifest
    return {
        "r": r,
        "verdict_label": VERDICT_LABEL.get(r.verdict, r.verdict.value),
        "verdict_hint": VERDICT_HINT.get(r.verdict, ""),
        "graded": r.verdict == Verdict.GRADED,
        "tone": score_tone(r.score) if r.verdict == Verdict.GRADED else "poor",
        "score_pct": max(0.0, min(100.0, 100 * r.score / (r.max_score or 100))),
        "checks": checks,
        "visible_passed": sum(c.outcome == "passed" for c in checks),
        "hidden_total": sum(c.hidden for c in r.checks),
        "hidden_omitted": len(r.checks) - len(checks),
        "counts": {
            o: sum(c.outcome == o for c in checks) for o in ("passed", "failed", "error", "skipped")
        },
        "load": load_view(r.load) if r.load else None,
        "resource_charts": resource_charts(r),
        "timings": timing_segments(r),
        "service_actions": [action_line(a) for a in r.service_actions],
        "total_time": seconds(r.timings.total_s),
        "service_log": service_log,
        "log_first": bool(service_log)
        and (r.verdict in LOG_FIRST or (tests and (r.verdict != Verdict.GRADED or r.score == 0))),
        "tests": tests,
        "noun": "mutant" if tests else "check",
        "service_log_dropped_lines": service_dropped_lines,
        "build_log": build_log if r.verdict == Verdict.BUILD_FAILED else "",
        "build_log_dropped_lines": build_dropped_lines,
        "images": [
            ("candidate image", m.candidate_image),
            ("grader image", m.grader_image),
            ("grader code sha256", m.grader_code_sha256),
        ],
        "score_tone": score_tone,
        "seconds": seconds,
    }


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,  # the template is *.html.j2, which select_autoescape would miss
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["clean"] = clean_text
    env.filters["short_id"] = short_id
    return env


def render(results: Results) -> str:
    return _environment().get_template("report.html.j2").render(**context(results))


def write(results: Results, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(results), encoding="utf-8")
