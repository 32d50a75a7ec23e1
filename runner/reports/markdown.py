"""A short Markdown summary for a CI step summary or a pull-request comment (under ~60 lines).

Check messages are attacker-controlled: in table cells they are put on one line, cut to
~200 characters and escaped so they can neither break the table nor inject HTML or links.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from runner.results import Results, Verdict

MESSAGE_CHARS = 200
MAX_FAILED_ROWS = 15
OUTCOME_MARK = {"passed": "✅", "failed": "❌", "error": "💥", "skipped": "⏭️"}

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PLAIN_ID = re.compile(r"[\w.:/-]{1,80}")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def cell(text: str, limit: int = MESSAGE_CHARS) -> str:
    """One table cell: one line, at most ``limit`` characters, Markdown and HTML escaped."""
    one = " ".join(_CONTROL.sub(" ", _ANSI.sub("", text)).split())
    if len(one) > limit:
        one = one[: limit - 1].rstrip() + "…"
    one = one.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", one)


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _mark(met: Any) -> str:
    return "✅" if met is True else "❌" if met is False else ""


def _load_lines(load: dict[str, Any]) -> list[str]:
    slo = load.get("slo") if isinstance(load.get("slo"), dict) else {}
    assert isinstance(slo, dict)

    def f(v: float | None, unit: str, digits: int = 1) -> str:
        return "\N{EN DASH}" if v is None else f"{v:,.{digits}f}{unit}"

    def bound(v: float | None, op: str, unit: str) -> str:
        return "" if v is None else f"{op} {v:g}{unit}"

    err, max_err = _num(load.get("error_rate")), _num(slo.get("max_error_rate"))
    rows = [
        (
            "throughput",
            f(_num(load.get("achieved_rps")), " req/s"),
            bound(_num(load.get("target_rps")), "≥", " req/s"),
            load.get("rate_met"),
        ),
        (
            "p95",
            f(_num(load.get("p95_ms")), " ms"),
            bound(_num(slo.get("p95_ms")), "≤", " ms"),
            load.get("p95_met"),
        ),
        (
            "p99",
            f(_num(load.get("p99_ms")), " ms"),
            bound(_num(slo.get("p99_ms")), "≤", " ms"),
            load.get("p99_met"),
        ),
        (
            "error rate",
            f(None if err is None else 100 * err, " %", 2),
            bound(None if max_err is None else 100 * max_err, "≤", " %"),
            load.get("errors_met"),
        ),
    ]
    lines = ["", "### Load", "", "| SLO | measured | target | |", "|---|---:|---:|:-:|"]
    lines += [f"| {n} | {m} | {b} | {_mark(ok)} |" for n, m, b, ok in rows]
    cap = _num(load.get("capacity_rps"))
    if cap is not None:
        sat = load.get("generator_saturated") is True
        lower = sat or load.get("capacity_is_lower_bound") is True
        why = "load generator saturated" if sat else "every step met the SLOs"
        lines += [
            "",
            f"Capacity: **{'≥ ' if lower else ''}{cap:,.0f} req/s**"
            + (f" (lower bound: {why})" if lower else ""),
        ]
    gen = _num(load.get("generator_cpu"))
    if gen is not None:
        workers = [c for c in load.get("workers_cpu") or [] if isinstance(c, int | float)]
        per_worker = ", ".join(f"{100 * c:.0f}%" for c in workers)
        lines.append(
            f"Load generator CPU: {100 * gen:.0f}% of a core"
            + (f" (workers: {per_worker})" if per_worker else "")
        )
    return lines


def render(results: Results) -> str:
    r = results
    graded = r.verdict == Verdict.GRADED
    checks = [c for c in r.checks if not (r.mode == "candidate" and c.hidden)]
    passed = sum(c.outcome == "passed" for c in checks)
    icon = ("🟢" if r.score >= 80 else "🟡" if r.score >= 50 else "🔴") if graded else "⛔"
    lines = [
        f"## {icon} {cell(r.challenge_title, 120)}: **{r.score:.1f}/{r.max_score:g}**"
        f" ({r.verdict.value})",
        "",
    ]
    facts = [f"correctness {r.correctness_score:.1f}"]
    if r.load_score is not None:
        facts.append(f"load {r.load_score:.1f}")
    facts.append(f"checks {passed}/{len(checks)} passed")
    if r.verdict_detail:
        facts.append(cell(r.verdict_detail, 160))
    lines.append(" · ".join(facts))

    if r.skills:
        lines += ["", "| skill | weight | passed | points | % |", "|---|---:|---:|---:|---:|"]
        lines += [
            f"| {cell(s.skill, 60)} | {s.weight:g} | {s.passed}/{s.total} | "
            f"{s.points:g}/{s.max_points:g} | {s.percent:.0f} |"
            for s in r.skills
        ]

    failed = [c for c in checks if c.outcome != "passed"]
    if failed:
        lines += [
            "",
            f"### Checks not passed ({len(failed)})",
            "",
            "| | check | skill | message |",
            "|:-:|---|---|---|",
        ]
        for c in failed[:MAX_FAILED_ROWS]:
            name = f"`{c.id}`" if _PLAIN_ID.fullmatch(c.id) else cell(c.id, 80)
            tag = " (hidden)" if c.hidden else ""
            lines.append(
                f"| {OUTCOME_MARK.get(c.outcome, '?')} | {name}{tag} | "
                f"{cell(c.skill, 40)} | {cell(c.message or c.outcome)} |"
            )
        if len(failed) > MAX_FAILED_ROWS:
            lines.append(f"\n…and {len(failed) - MAX_FAILED_ROWS} more (see the HTML report).")
    if hidden := len(r.checks) - len(checks):
        lines += ["", f"{hidden} hidden check{'s' if hidden != 1 else ''} not listed."]

    if r.load:
        lines += _load_lines(r.load)

    t = r.timings
    lines += [
        "",
        f"<sub>build {t.build_s:.1f}s · ready {t.ready_s:.1f}s · checks {t.checks_s:.1f}s"
        + (f" · load {t.load_s:.1f}s" if t.load_s else "")
        + f" · total {t.total_s:.1f}s · run {cell(r.manifest.run_id, 60)}"
        f" · seed {r.manifest.seed} · assess {cell(r.manifest.assess_version, 20)}</sub>",
    ]
    return "\n".join(lines) + "\n"


def write(results: Results, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(results), encoding="utf-8")
