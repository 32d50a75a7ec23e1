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


def table(title: str, rows: list[Row]) -> Table:
    t = Table(box=None, pad_edge=False, title=title)
    for col in ("#", "name", "verdict", "score", "correctness", "load", "checks"):
        t.add_column(col, justify="left" if col in ("name", "verdict") else "right")
    t.add_column("note", no_wrap=True, overflow="ellipsis", max_width=70)
    for i, r in enumerate(sorted(rows, key=rank_key), start=1):
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
        t.add_row(
            str(i),
            Text(safe_text(r.name)),
            r.verdict,
            _fmt(r.score),
            _fmt(r.correctness),
            _fmt(r.load),
            "-" if r.checks is None else f"{r.passed}/{r.checks}",
            Text(safe_text(note)[:120]),
        )
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
