"""Partial runs, the inner loop of someone fixing one check: ``assess run -k EXPR``,
``--check ID`` (repeatable), ``--fail-fast``.

The selection is checked here against the statically scanned checks before anything is built
(an unknown id or an expression matching nothing is bad input, exit 2), with the same rule the
grader applies (graders/selection.py). A partial run is graded as usual, but every report says
at the top that it is partial, and ``--fail-under`` refuses it: its score is not a grade.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from pathlib import Path

from graders.protocol import Outcome
from graders.selection import Selection, SelectionError
from runner.challenges import checkscan
from runner.errors import UsageError
from runner.results import Results


@dataclass(frozen=True)
class Partial:
    """What a run selected: the options' fields, and how many checks the mode has in all."""

    select: tuple[str, ...] = ()
    keyword: str = ""
    fail_fast: bool = False
    total: int = 0  # checks this mode runs in a full run
    selected: int = 0

    @property
    def active(self) -> bool:
        return bool(self.select or self.keyword or self.fail_fast)


def plan_selection(
    checks_dir: Path, *, candidate: bool, select: tuple[str, ...], keyword: str, fail_fast: bool
) -> Partial:
    """The selection, refused (UsageError) when an id is unknown or nothing matches."""
    selection = Selection(ids=select, keyword=keyword.strip())
    if not selection.active and not fail_fast:
        return Partial()
    scanned = checkscan.scan(checks_dir) if checks_dir.is_dir() else []
    defs = [d for d in scanned if not (candidate and d.hidden)]
    ids = [d.id for d in defs]
    for wanted in select:
        if wanted not in ids:
            close = difflib.get_close_matches(wanted, ids, n=3)
            hint = f"did you mean {', '.join(close)}?" if close else f"the checks: {', '.join(ids)}"
            raise UsageError(f"--check {wanted}: no such check in this run; {hint}")
    try:
        expr = selection.compiled()
    except SelectionError as exc:
        raise UsageError(f"{exc}; use words, and, or, not, parentheses") from None
    chosen = [d for d in defs if selection.wants(d.id, d.names(), expr)]
    if selection.active and not chosen:
        raise UsageError(
            f"-k {keyword!r} matches no check; it matches ids, file names, skills and marks "
            f"(the checks: {', '.join(ids)})"
        )
    return Partial(select, selection.keyword, fail_fast, len(defs), len(chosen))


def refuse_fail_under(partial: Partial, fail_under: float | None) -> None:
    if fail_under is not None and partial.active:
        raise UsageError(
            "--fail-under needs a full run: drop -k, --check and --fail-fast "
            "(a partial run's score is not a grade)"
        )


def annotate(results: Results, partial: Partial) -> None:
    """Say plainly, at the top of every report, that the run was partial."""
    if not partial.active:
        return
    notes = []
    ran = len(results.checks)
    if partial.select or partial.keyword:
        notes.append(
            f"partial run: {partial.selected} of {partial.total} checks selected (-k/--check); "
            "this score is not a grade"
        )
    stopped = [c for c in results.checks if c.outcome == Outcome.NOT_RUN]
    if partial.fail_fast:
        if stopped and results.verdict.value == "graded":
            why = "not run: --fail-fast stopped at the first failure"
            results.checks = [
                replace(c, message=why) if c.outcome == Outcome.NOT_RUN else c
                for c in results.checks
            ]
        notes.append(
            f"partial run (--fail-fast): {len(stopped)} of {ran} checks not run; "
            "this score is not a grade"
        )
    results.score_notes = [*notes, *results.score_notes]
