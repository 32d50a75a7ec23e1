"""Checks that did not pass for one shared reason (not run, or failed with the same message, e.g.
a refused connection after a crash) are one line in a report, not 49 identical blocks."""

from __future__ import annotations

from typing import Any

FOLD_AT = 3  # this many checks not run for the same reason are one row
FOLD_IDS = 6  # ids named in the row; the rest counted


FOLDED = ("not_run", "failed", "error")
LABEL = {"not_run": "not run", "failed": "failed", "error": "errored"}


def fold_key(c: Any) -> tuple[str, str] | None:
    return (c.outcome, c.message) if c.outcome in FOLDED and c.message else None


def fold_not_run(checks: list[Any]) -> dict[tuple[str, str], list[str]]:
    """(outcome, message) -> ids of the checks that share it, for groups of FOLD_AT or more."""
    groups: dict[tuple[str, str], list[str]] = {}
    for c in checks:
        key = fold_key(c)
        if key is not None:
            groups.setdefault(key, []).append(c.id)
    return {k: ids for k, ids in groups.items() if len(ids) >= FOLD_AT}


def group_label(outcome: str, n: int) -> str:
    return f"{n} checks {LABEL.get(outcome, outcome)}"


def ids_text(ids: list[str]) -> str:
    more = f" and {len(ids) - FOLD_IDS} more" if len(ids) > FOLD_IDS else ""
    return ", ".join(ids[:FOLD_IDS]) + more
