"""A batch in the terminal: overall progress while it runs, the ranked table at the end."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from runner.batch.jobs import Progress, Row, rank_key
from runner.reports.safe_text import safe_text


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


class BatchView:
    """One line per finished submission with the overall progress (done, running, left, ETA);
    on a terminal, a live status line with what each running grading is doing."""

    TICK_S = 15.0

    def __init__(self, console: Console) -> None:
        self.console = console
        self.tty = console.is_terminal
        self.status = console.status("starting")
        self._last = 0.0

    def __enter__(self) -> BatchView:
        if self.tty:
            self.status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.tty:
            self.status.stop()

    def __call__(self, kind: str, row: Row | None, progress: Progress) -> None:
        running = ", ".join(
            f"{name} ({info.get('phase', '')})" for name, info in list(progress.running.items())[:4]
        )
        if row is not None:
            line = Text(f"[{progress.done}/{progress.total}] ", style="dim")
            line.append(safe_text(row.name), style="bold")
            line.append(f": {row.verdict} {_fmt(row.score)}")
            if row.error:
                line.append(f" {safe_text(row.error)}", style="red")
            line.append(f"   {progress.line()}", style="dim")
            self.console.print(line, highlight=False)
            self._last = time.monotonic()
        elif not self.tty and time.monotonic() - self._last >= self.TICK_S:
            self.console.print(Text(f"… {progress.line()}; running: {running}", style="dim"))
            self._last = time.monotonic()
        if self.tty:
            self.status.update(Text(f"{progress.line()}   {running}"))


def table(title: str, rows: list[Row], width: int | None = None) -> Table:
    """The closing table. Rank, name, verdict and score always keep their full width; on a
    narrow console (``width``: 80 columns in every CI log) the other figures and the note take
    what is left (the note cut with an ellipsis) and are left out before any of those is cut."""
    ranked = sorted(rows, key=rank_key)
    key = {
        "#": len(str(len(ranked))),
        "name": max([4, *(len(safe_text(r.name)) for r in ranked)]),
        "verdict": max([7, *(len(r.verdict) for r in ranked)]),
        "score": 5,
    }
    extra = {
        "checks": max([6, *(len(f"{r.passed}/{r.checks}") for r in ranked)]),
        "correctness": 11,
        "load": 5,
    }
    room = None if width is None else width - sum(key.values()) - 2 * len(key)
    cols = dict(key)
    for col, w in extra.items():
        if room is None or room >= w + 2:
            cols[col] = w
            room = None if room is None else room - w - 2
    notes = room is None or room >= 14
    t = Table(box=None, pad_edge=False, title=title)
    order = ["#", "name", "verdict", "score", "correctness", "load", "checks"]
    for col in (c for c in order if c in cols):
        t.add_column(
            col,
            justify="left" if col in ("name", "verdict") else "right",
            no_wrap=True,
            min_width=cols[col],
        )
    if notes:
        t.add_column("note", no_wrap=True, overflow="ellipsis", max_width=(room or 72) - 2)
    for i, r in enumerate(ranked, start=1):
        note = "; ".join(
            x
            for x in (
                f"critical: {', '.join(r.critical_failed)}" if r.critical_failed else "",
                f"{r.not_run} not run" if r.not_run else "",
                "already graded" if r.skipped else "",
                r.error,
            )
            if x
        )
        values: dict[str, str | Text] = {
            "#": str(i),
            "name": Text(safe_text(r.name)),
            "verdict": r.verdict,
            "score": _fmt(r.score),
            "correctness": _fmt(r.correctness),
            "load": _fmt(r.load),
            "checks": "-" if r.checks is None else f"{r.passed}/{r.checks}",
        }
        cells = [values[c] for c in order if c in cols]
        t.add_row(*cells, *([Text(safe_text(note)[:120])] if notes else []))
    return t


def similar_lines(pairs: list[Any]) -> list[Text]:
    out = []
    for p in pairs:
        line = Text("similar: ", style="bold yellow")
        line.append(f"{safe_text(p.a)} ~ {safe_text(p.b)} {p.similarity:.0%}")
        regions = f"{len(p.regions)} region{'' if len(p.regions) == 1 else 's'}"
        line.append(f" ({p.shared} shared fingerprints, {regions})", style="dim")
        out.append(line)
    return out
