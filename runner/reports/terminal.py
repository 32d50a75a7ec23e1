"""The terminal report (rich) and live progress while a run builds, checks and loads."""

from __future__ import annotations

import threading
import time
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from runner.reports import loadview
from runner.reports.folding import fold_key, fold_not_run, group_label, ids_text
from runner.reports.safe_text import safe, safe_text
from runner.reports.timeline import action_line
from runner.results import LoadResult, Results, Verdict

OUTCOME_STYLE = {
    "passed": ("✓", "green"),
    "failed": ("✗", "red"),
    "error": ("!", "magenta"),
    "skipped": ("-", "yellow"),
    "not_run": ("∅", "red"),
}
VERDICT_STYLE = {Verdict.GRADED: "green"}


def _score_style(score: float) -> str:
    return "green" if score >= 80 else "yellow" if score >= 50 else "red"


def render(results: Results, *, show_passed: bool = False) -> RenderableType:
    r = results
    head = Text()
    head.append(f"{r.challenge_title}", style="bold")
    head.append(f"  ({r.challenge} {r.manifest.challenge_version})\n", style="dim")
    head.append("verdict ")
    head.append(r.verdict.value, style="bold " + VERDICT_STYLE.get(r.verdict, "red"))
    if r.verdict_detail:
        head.append(f": {safe_text(r.verdict_detail)}")
    tests = r.kind == "tests"
    if r.mode == "candidate" and tests:
        # every mutant ran (hidden ones are shown by skill only): the score is the grade's
        head.append("\nscore   ")
        head.append(f"{r.score:.1f}/100", style="bold " + _score_style(r.score))
        head.append(" over every mutant (hidden ones shown by skill only)", style="dim")
        head.append("\n        ")
    elif r.mode == "candidate":
        # A self-test, never presented as the grade: hidden checks are the interviewer's.
        head.append("\nself-test ")
        head.append(f"{r.score:.1f}", style="bold " + _score_style(r.score))
        head.append(" on the visible checks only (not the final grade)", style="dim")
        head.append("\n         ")
    else:
        head.append("\nscore   ")
        head.append(f"{r.score:.1f}/100", style="bold " + _score_style(r.score))
    head.append(f"   correctness {r.correctness_score:.1f}", style="dim")
    if r.load_score is not None:
        head.append(f"   load {r.load_score:.1f}", style="dim")
    if tests:
        head.append(f"   mutants {r.passed}/{len(r.checks)} killed", style="dim")
    else:
        head.append(f"   checks {r.passed}/{len(r.checks)} passed", style="dim")
    if r.not_run:
        head.append(f" ({r.not_run} not run)", style="bold red")
    for note in r.score_notes:
        head.append("\n  ! ", style="bold red")
        head.append(safe_text(note), style="red")
    if r.critical_failed:
        head.append("\ncritical checks not passed: ", style="bold red")
        head.append(safe_text(", ".join(r.critical_failed)), style="red")
    parts: list[RenderableType] = [head]

    if r.skills:
        skills = Table(title="by skill", title_justify="left", box=None, pad_edge=False)
        for col in ("skill", "weight", "passed", "points", "%"):
            skills.add_column(col, justify="left" if col == "skill" else "right")
        for s in r.skills:
            skills.add_row(
                s.skill,
                f"{s.weight:g}",
                f"{s.passed}/{s.total}",
                f"{s.points:g}/{s.max_points:g}",
                Text(f"{s.percent:.0f}", style=_score_style(s.percent)),
            )
        parts.append(skills)

    shown = [c for c in r.checks if show_passed or c.outcome != "passed"]
    if shown:
        checks = Table(
            title=("mutants" if show_passed else "mutants not killed")
            if tests
            else ("checks" if show_passed else "checks not passed"),
            title_justify="left",
            box=None,
            pad_edge=False,
            show_header=False,
        )
        checks.add_column(width=1)
        checks.add_column(ratio=1)
        folded = fold_not_run(shown)
        for c in shown:
            key = fold_key(c)
            if key is not None and key in folded:
                ids = folded[key]  # the group's row, where its first check stood
                if not ids:
                    continue
                mark, style = OUTCOME_STYLE[c.outcome]
                line = Text(group_label(c.outcome, len(ids)), style="bold")
                line.append(f"  {safe_text(ids_text(ids))}", style="dim")
                line.append(f"\n{safe_text(c.message)}")
                checks.add_row(Text(mark, style=style), line)
                folded[key] = []  # shown: the group's other checks are skipped
                continue
            mark, style = OUTCOME_STYLE[c.outcome]
            line = Text(f"{c.id}", style="bold")
            line.append(
                f"  {c.skill}, {c.max_points:g} pt"
                + (", hidden" if c.hidden else "")
                + (", not run" if c.outcome == "not_run" else ""),
                style="dim",
            )
            if c.critical:
                line.append("  CRITICAL", style="bold red")
            if c.message:
                line.append(f"\n{safe_text(c.message)}")
            checks.add_row(Text(mark, style=style), line)
        parts.append(checks)

    if r.load:
        parts.append(render_load(r.load))
    elif r.load_missing:
        parts.append(Text(f"load: {safe_text(r.load_missing)} (scored 0)", style="bold red"))
    if r.calibration:
        ratios = r.calibration.get("ratios", {})
        ratio_text = [f"{k} {v:.2f}x" for k, v in ratios.items() if v is not None]
        parts.append(Text("vs the reference on this host: " + " · ".join(ratio_text), style="dim"))
    if r.verdict == Verdict.BUILD_FAILED and r.build_log_tail:
        tail = "\n".join(r.build_log_tail.splitlines()[-15:])
        parts.append(Panel(safe(tail), title="build log (tail)", title_align="left"))
    elif (r.verdict != Verdict.GRADED or (tests and r.score == 0)) and r.service_log.text:
        tail = "\n".join(r.service_log.text.splitlines()[-15:])
        title = "the suite's output (tail)" if tests else "service log (tail)"
        parts.append(Panel(safe(tail), title=title, title_align="left"))

    t = r.timings
    foot = Text(
        (
            f"build {t.build_s:.1f}s · suite runs {t.checks_s:.1f}s"
            if tests
            else f"build {t.build_s:.1f}s · ready {t.ready_s:.1f}s · checks {t.checks_s:.1f}s"
        )
        + (f" · load {t.load_s:.1f}s" if t.load_s else "")
        + f" · total {t.total_s:.1f}s",
        style="dim",
    )
    if r.resources:
        x = r.resources
        foot.append(
            f"\nservice: cpu {x.cpu_s:.1f}s · peak mem {x.peak_memory_mb:.0f}/"
            f"{x.memory_limit_mb} MiB · peak pids {x.peak_pids}/{x.pids_limit}"
            + (" · OOM killed" if x.oom_killed else "")
            + (f" · OOM kills {x.oom_kills}" if x.oom_kills else ""),
            style="dim",
        )
    for a in r.service_actions[:10]:
        foot.append("\n" + safe_text(action_line(a)), style="dim" if a.ok else "red")
    parts.append(foot)
    return Panel(Group(*parts), title="assess", title_align="left", expand=True)


def render_load(load: LoadResult) -> RenderableType:
    table = Table(title="load", title_justify="left", box=None, pad_edge=False)
    for col in ("figure", "measured", "SLO", ""):
        table.add_column(col, justify="left" if col == "figure" else "right")
    for row in loadview.rows(load):
        mark = "" if row.met is None else ("✓" if row.met else "✗")
        table.add_row(
            safe(row.figure),
            safe(row.measured),
            row.target,
            Text(mark, style="green" if row.met else "red"),
        )
    return table


class Progress:
    """Turns events into a live status line and one line per finished check.

    On a terminal the status is a spinner. Elsewhere (a CI log, a pipe) a spinner prints
    nothing, so the status is printed as lines instead: one when a phase starts, and the
    latest status at least every ``TICK_S`` seconds while a long phase stays quiet.
    """

    TICK_S = 4.0  # under the 5 s a log reader may wait for a sign of life

    def __init__(self, console: Console, *, per_check: bool = True) -> None:
        self.console = console
        self.per_check = per_check
        self.tty = console.is_terminal
        self.status = console.status("starting")
        self.checks = 0
        self.planned = 0  # from the grader's list of checks: "N of M"
        self._state = "starting"
        self._phase = "starting"
        self._phase_started = time.monotonic()
        self._last_line = time.monotonic()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def __enter__(self) -> Progress:
        if self.tty:
            self.status.start()
        else:
            self._ticker = threading.Thread(target=self._tick, name="assess-progress", daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.tty:
            self.status.stop()
        else:
            self._stop.set()
            if self._ticker is not None:
                self._ticker.join(timeout=2)

    def _tick(self) -> None:
        # A timer, not synchronisation: it only decides when a log needs a sign of life.
        while not self._stop.wait(0.5):
            now = time.monotonic()
            if now - self._last_line >= self.TICK_S:
                self._line(f"… {self._state} ({now - self._phase_started:.0f}s in {self._phase})")

    def _line(self, text: str) -> None:
        self._last_line = time.monotonic()
        self.console.print(safe(text, style="dim"), highlight=False)

    def _update(self, text: str) -> None:
        self._state = text
        if self.tty:
            self.status.update(safe(text))

    def print(self, *objects: Any) -> None:
        self._last_line = time.monotonic()
        self.console.print(*objects, highlight=False)

    def __call__(self, ev: dict[str, Any]) -> None:
        kind = ev.get("event")
        if kind == "phase" and ev.get("state") == "start":
            self._phase = str(ev["phase"])
            self._phase_started = time.monotonic()
            self._update(f"{ev['phase']}…")
            if not self.tty:
                self._line(f"phase: {ev['phase']}")
        elif kind == "planned":
            self.planned = int(ev.get("checks") or 0)
        elif kind in ("build_log", "images"):
            self._update(f"building: {str(ev.get('line', ''))[:90]}")
        elif kind == "build" and ev.get("state") == "cached":
            self.print("[dim]build: unchanged submission, image reused[/]")
        elif kind == "ready":
            msg = (
                f"ready in {ev['ready_s']:.1f}s" if ev.get("ok") else f"not ready: {ev['message']}"
            )
            self.print(safe(msg, style="dim"))
        elif kind == "check":
            self.checks += 1
            mark, style = OUTCOME_STYLE.get(str(ev["outcome"]), ("?", "white"))
            if self.per_check:
                self.print(Text(mark, style=style), safe(ev["id"]))
            of = f" of {self.planned}" if self.planned else ""
            self._update(f"checks… {self.checks}{of} done")
        elif kind == "load_sample":
            self._update(
                f"load [{ev.get('stage', '')}] {ev.get('rps', 0):.0f} req/s · "
                f"p95 {ev.get('p95_ms') or 0:.0f} ms · errors {ev.get('errors', 0)}"
            )
        elif kind == "service":
            ok = "green" if ev.get("ok") else "red"
            self.print(
                safe(f"service: {ev.get('action')} {ev.get('service')}: ", style=ok)
                + safe(str(ev.get("message", ""))[:200], style="dim")
            )
        elif kind == "candidate_exit":
            self.print(
                f"[red]service exited (code {ev.get('exit_code')}) during {ev.get('phase')}[/]"
            )
