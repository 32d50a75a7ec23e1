"""A short Markdown summary for a CI step summary or a pull-request comment (under ~60 lines).

Everything the candidate's service can reach (check messages, which quote response bodies,
verdict details, score notes, load notes, service actions) is attacker-controlled. GitHub
renders a job summary as Markdown, so such text would otherwise become @mentions (which notify
people), autolinks, images, raw HTML or headings. It is always put in a code span
(:func:`code`): one line, cut to a few hundred characters, delimited by a run of backticks
longer than any run inside it, ``|`` escaped in table cells. Inside a code span nothing is
Markdown or HTML and GitHub neither links nor mentions. Our own names use :func:`cell`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from runner.reports import loadview
from runner.reports.folding import fold_key, fold_not_run, group_label, ids_text
from runner.reports.timeline import action_line
from runner.results import LoadResult, Results, Verdict

MESSAGE_CHARS = 200
MAX_FAILED_ROWS = 15
# GitHub caps a step summary at 1 MiB and fails the step over it; stay well under.
MAX_BYTES = 512 * 1024
OUTCOME_MARK = {"passed": "✅", "failed": "❌", "error": "💥", "skipped": "⏭️", "not_run": "⛔"}

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PLAIN_ID = re.compile(r"[\w.:/-]{1,80}")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
# bidirectional overrides and zero-width characters: they disguise what a reader sees
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_TICKS = re.compile(r"`+")


def cell(text: str, limit: int = MESSAGE_CHARS) -> str:
    """One table cell: one line, at most ``limit`` characters, Markdown and HTML escaped."""
    one = " ".join(_CONTROL.sub(" ", _ANSI.sub("", text)).split())
    if len(one) > limit:
        one = one[: limit - 1].rstrip() + "…"
    one = one.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", one)


def code(text: str, limit: int = MESSAGE_CHARS, *, table: bool = True) -> str:
    """Untrusted ``text`` as one inline code span: one line, at most ``limit`` characters,
    fenced by more backticks than its longest run of them; "" for empty text. In a table
    (``table``) a ``|`` is escaped, which GFM undoes inside the span."""
    one = " ".join(_CONTROL.sub(" ", _INVISIBLE.sub("", _ANSI.sub("", text))).split())
    if len(one) > limit:
        one = one[: limit - 1].rstrip() + "…"
    if not one:
        return ""
    if table:
        one = one.replace("|", "\\|")
    fence = "`" * (max((len(m) for m in _TICKS.findall(one)), default=0) + 1)
    pad = " " if one.startswith("`") or one.endswith("`") else ""
    return f"{fence}{pad}{one}{pad}{fence}"


def code_block(text: str, lines: int = 15, width: int = 200) -> list[str]:
    """Untrusted multi-line ``text`` (a service's log tail) as a fenced code block: its last
    ``lines`` lines, each cut to ``width``, control and invisible characters dropped, fenced by
    more backticks than any run inside (so no line can close it); nothing in it is Markdown."""
    kept = []
    for raw in text.splitlines()[-lines:]:
        one = _CONTROL.sub(" ", _INVISIBLE.sub("", _ANSI.sub("", raw))).rstrip()
        kept.append(one[:width] + ("…" if len(one) > width else ""))
    body = "\n".join(kept)
    fence = "`" * max(3, max((len(m) for m in _TICKS.findall(body)), default=0) + 1)
    return [fence + "text", *kept, fence]


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _mark(met: Any) -> str:
    return "✅" if met is True else "❌" if met is False else ""


def _load_lines(load: LoadResult) -> list[str]:
    lines = ["", "### Load", "", "| figure | measured | SLO | |", "|---|---:|---:|:-:|"]
    for row in loadview.rows(load):
        lines.append(
            f"| {cell(row.figure, 60)} | {cell(row.measured, 120)} | {cell(row.target, 60)} "
            f"| {_mark(row.met)} |"
        )
    return lines


def capped(text: str, limit: int = MAX_BYTES) -> str:
    """``text`` cut at a line boundary to at most ``limit`` UTF-8 bytes, saying it was cut."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    note = (
        f"\n\n…cut here: the summary exceeded {limit} bytes (a GitHub step summary holds at "
        "most 1 MiB); see the HTML report.\n"
    )
    keep = data[: max(limit - len(note.encode("utf-8")), 0)].decode("utf-8", "ignore")
    return keep[: keep.rfind("\n")] + note if "\n" in keep else note.lstrip("\n")


def render(results: Results, fail_under: float | None = None) -> str:
    """The summary, never over ``MAX_BYTES`` however many notes or ids a run produced. With
    ``fail_under`` (the run's ``--fail-under``) the threshold and the verdict on it come first."""
    return capped(_render(results, fail_under))


def threshold_line(results: Results, fail_under: float) -> tuple[bool, str]:
    """(passed, the line) for a run's ``--fail-under``: only a graded run can pass."""
    r = results
    ok = r.verdict == Verdict.GRADED and r.score >= fail_under
    if ok:
        return True, f"✅ passes --fail-under {fail_under:g} (score {r.score:.1f})"
    if r.verdict != Verdict.GRADED:
        return False, f"❌ fails --fail-under {fail_under:g}: verdict {r.verdict.value}"
    return False, f"❌ fails --fail-under {fail_under:g}: score {r.score:.1f}"


def _render(results: Results, fail_under: float | None = None) -> str:
    r = results
    graded = r.verdict == Verdict.GRADED
    tests = r.kind == "tests"  # a suite graded by mutants (for a candidate: hidden by skill only)
    checks = [c for c in r.checks if tests or not (r.mode == "candidate" and c.hidden)]
    passed = sum(c.outcome == "passed" for c in checks)
    icon = ("🟢" if r.score >= 80 else "🟡" if r.score >= 50 else "🔴") if graded else "⛔"
    threshold = None
    if fail_under is not None:
        threshold = threshold_line(r, fail_under)
        if not threshold[0]:
            icon = "🔴" if graded else "⛔"  # never headed green while the job fails
    if r.mode == "candidate" and tests:  # every mutant ran: the score is the grade's
        headline = (
            f"**{r.score:.1f}/{r.max_score:g}** over every mutant (hidden ones by skill only)"
        )
    elif r.mode == "candidate":  # a self-test, never presented as the grade
        headline = f"self-test **{r.score:.1f}** on the visible checks only (not the final grade)"
    else:
        headline = f"**{r.score:.1f}/{r.max_score:g}**"
    lines = [f"## {icon} {cell(r.challenge_title, 120)}: {headline} ({r.verdict.value})", ""]
    if threshold is not None:
        lines += [f"**{threshold[1]}**", ""]
    facts = [f"correctness {r.correctness_score:.1f}"]
    if r.load_score is not None:
        facts.append(f"load {r.load_score:.1f}")
    facts.append(
        f"mutants {passed}/{len(checks)} killed"
        if tests
        else f"checks {passed}/{len(checks)} passed"
    )
    if not_run := sum(c.outcome == "not_run" for c in checks):
        facts.append(f"**{not_run} not run**")
    if r.verdict_detail:
        facts.append(code(r.verdict_detail, 160, table=False))
    lines.append(" · ".join(facts))
    for note in r.score_notes:
        lines += ["", f"> ⚠️ {code(note, 300, table=False)}"]
    if r.critical_failed:
        ids = ", ".join(
            f"`{i}`" if _PLAIN_ID.fullmatch(i) else cell(i, 80) for i in r.critical_failed
        )
        lines += ["", f"**Critical checks not passed:** {ids}"]
    if r.resources and r.resources.oom_kills:
        lines += ["", f"OOM kills in the service: {r.resources.oom_kills}"]

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
            f"### {'Mutants not killed' if tests else 'Checks not passed'} ({len(failed)})",
            "",
            f"| | {'mutant' if tests else 'check'} | skill | message |",
            "|:-:|---|---|---|",
        ]
        folded = fold_not_run(failed)
        rows = 0
        for c in failed:
            if rows >= MAX_FAILED_ROWS:
                break
            key = fold_key(c)
            if key is not None and key in folded:
                group = folded[key]
                if group:  # one row for the group, where its first check stood
                    folded[key] = []
                    rows += 1
                    lines.append(
                        f"| {OUTCOME_MARK.get(c.outcome, '?')} | "
                        f"{group_label(c.outcome, len(group))}: "
                        f"{code(ids_text(group), 200)} | | {code(c.message or c.outcome)} |"
                    )
                continue
            rows += 1
            name = f"`{c.id}`" if _PLAIN_ID.fullmatch(c.id) else cell(c.id, 80)
            tag = (" (hidden)" if c.hidden else "") + (" **critical**" if c.critical else "")
            lines.append(
                f"| {OUTCOME_MARK.get(c.outcome, '?')} | {name}{tag} | "
                f"{cell(c.skill, 40)} | {code(c.message or c.outcome)} |"
            )
        if rows >= MAX_FAILED_ROWS and len(failed) > MAX_FAILED_ROWS:
            lines.append("\n…and more (see the HTML report).")
    if hidden := len(r.checks) - len(checks):
        lines += ["", f"{hidden} hidden check{'s' if hidden != 1 else ''} not listed."]

    if tests and (not graded or r.score == 0) and r.service_log.text.strip():
        lines += ["", "**The suite's output (tail):**", "", *code_block(r.service_log.text)]
    elif r.verdict in (Verdict.CRASHED, Verdict.NOT_READY) and r.service_log.text.strip():
        # the cause is usually in the service's last words (a traceback): as the terminal and
        # JUnit show them
        lines += ["", "**Service log (tail):**", "", *code_block(r.service_log.text)]

    if r.load:
        lines += _load_lines(r.load)
    elif r.load_missing:
        lines += ["", f"**Load (scored 0):** {code(r.load_missing, 300, table=False)}"]

    if r.service_actions:
        lines += ["", f"**Service actions ({len(r.service_actions)}), asked by checks:**", ""]
        lines += [f"- {code(action_line(a), 300, table=False)}" for a in r.service_actions[:20]]

    t = r.timings
    lines += [
        "",
        "<sub>"
        + (
            f"build {t.build_s:.1f}s · suite runs {t.checks_s:.1f}s"
            if tests
            else f"build {t.build_s:.1f}s · ready {t.ready_s:.1f}s · checks {t.checks_s:.1f}s"
        )
        + (f" · load {t.load_s:.1f}s" if t.load_s else "")
        + f" · total {t.total_s:.1f}s · run {cell(r.manifest.run_id, 60)}"
        f" · seed {r.manifest.seed} · assess {cell(r.manifest.assess_version, 20)}</sub>",
    ]
    return "\n".join(lines) + "\n"


def write(results: Results, path: Path, fail_under: float | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(results, fail_under), encoding="utf-8")


def ci_annotations(results: Results, fail_under: float | None) -> list[str]:
    """GitHub Actions workflow commands for a failed threshold and failed critical checks (the
    annotations a job page shows). Candidate text is kept out: ids are ours, cut and cleaned."""

    def esc(text: str) -> str:  # the workflow-command escapes of a message
        text = _CONTROL.sub(" ", text)
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")[:300]

    out = []
    if fail_under is not None:
        ok, line = threshold_line(results, fail_under)
        if not ok:
            out.append(f"::error title=assess {esc(results.challenge)}::{esc(line[2:])}")
    for cid in results.critical_failed[:20]:
        out.append(
            f"::error title=assess critical check::{esc(cid)} did not pass (caps the score at 50)"
        )
    return out
