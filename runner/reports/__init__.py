"""Views of one Results object: terminal, JSON, HTML, JUnit, Markdown."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from runner.reports import html, junit, markdown
from runner.results import Results


def _json(results: Results, path: Path) -> None:
    results.write_json(path)


WRITERS: dict[str, Callable[[Results, Path], None]] = {
    "json": _json,
    "html": html.write,
    "junit": junit.write,
    "markdown": markdown.write,
}


def write_all(
    results: Results, outputs: dict[str, Path | None], fail_under: float | None = None
) -> list[Path]:
    written = []
    for kind, path in outputs.items():
        if path is None:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "markdown":  # a CI summary: the threshold and the verdict on it first
            markdown.write(results, path, fail_under)
        else:
            WRITERS[kind](results, path)
        written.append(path)
    return written
