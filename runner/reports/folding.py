"""Checks not run for one shared reason are one line in a report, not 49 identical blocks."""

from __future__ import annotations

from typing import Any

FOLD_AT = 3  # this many checks not run for the same reason are one row
FOLD_IDS = 6  # ids named in the row; the rest counted


def fold_not_run(checks: list[Any]) -> dict[str, list[str]]:
    """Reason -> ids of the checks not run for it, for reasons shared by FOLD_AT or more."""
    by_reason: dict[str, list[str]] = {}
    for c in checks:
        if c.outcome == "not_run":
            by_reason.setdefault(c.message, []).append(c.id)
    return {m: ids for m, ids in by_reason.items() if len(ids) >= FOLD_AT}


def ids_text(ids: list[str]) -> str:
    more = f" and {len(ids) - FOLD_IDS} more" if len(ids) > FOLD_IDS else ""
    return ", ".join(ids[:FOLD_IDS]) + more
