"""The Markdown summary (a GitHub job summary) neutralises candidate text: whatever a response
body says, it renders as the literal text of one code span: no mention, link, image, HTML or
heading. Checked by parsing the output with a CommonMark parser (markdown-it, tables on)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from runner.reports import markdown
from tests.unit.conftest import make_sample_results

MD = MarkdownIt("commonmark").enable("table")

HOSTILE = [
    "@octocat please look",
    "ping @org/team",
    "https://evil.example/x and www.evil.example",
    "<https://evil.example>",
    "![x](https://evil.example/a.png)",
    "[click](javascript:alert(1))",
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "# Heading\n## another\n===",
    "```\nfenced\n```",
    "`` two `ticks` ```three``` ````",
    "`",
    "ends with `",
    "a | b | c",
    "\\| escaped pipe \\",
    "&lt;already&gt; &amp; <b>",
    "**bold** _it_ ~~s~~ :tada:",
    "line1\r\nline2\x00\x1b[31mred\x1b[0m",
    "right\u202eleft \u200bhidden",
    "> quote\n- list\n1. item\n---",
]

hostile_text = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(
        alphabet=st.sampled_from(list("`|\\@<>![]()#*_~:/ .\nhttpsw")) | st.characters(),
        max_size=120,
    ),
)


def _normal(text: str) -> str:
    """What code() keeps of ``text`` (one line, no controls or invisibles), uncut."""
    one = markdown._ANSI.sub("", text)
    one = markdown._CONTROL.sub(" ", markdown._INVISIBLE.sub("", one))
    return " ".join(one.split())


def _inline_tokens(src: str) -> list[Any]:
    out = []
    for tok in MD.parse(src):
        if tok.type == "inline":
            out += tok.children or []
    return out


@given(hostile_text)
@settings(max_examples=300, deadline=None)
def test_code_span_is_one_literal_span(text: str) -> None:
    span = markdown.code(text, limit=10_000, table=False)
    kept = _normal(text)
    if not kept:
        assert span == ""
        return
    children = _inline_tokens(span)
    assert [t.type for t in children] == ["code_inline"]
    # CommonMark strips one space each side when both are spaces: what we pad with
    assert children[0].content in (kept, kept.strip())


@given(hostile_text)
@settings(max_examples=300, deadline=None)
def test_code_span_in_a_table_cell_keeps_the_table(text: str) -> None:
    row = f"| a | {markdown.code(text, limit=10_000)} | z |"
    tokens = MD.parse("| h1 | h2 | h3 |\n|---|---|---|\n" + row + "\n")
    cells = [t for t in tokens if t.type == "td_open"]
    assert len(cells) == 3
    kinds = {c.type for c in _inline_tokens(row)}
    assert kinds <= {"code_inline", "text"}


@pytest.mark.parametrize("text", HOSTILE)
def test_a_report_full_of_hostile_text_renders_none_of_it(text: str) -> None:
    results = make_sample_results()
    checks = [replace(c, message=f"{text} (check {i})") for i, c in enumerate(results.checks)]
    results = results.model_copy(
        update={
            "checks": checks,
            "verdict_detail": text,
            "score_notes": [text, f"integrity: {text}"],
        }
    )
    rendered = markdown.render(results)
    tokens = MD.parse(rendered)
    headings = [t for t in tokens if t.type == "heading_open"]
    assert all((t.map and t.map[0] == 0) or t.tag == "h3" for t in headings)  # ours only
    first = rendered.splitlines()[0]
    assert text.split("\n")[0] not in first or not text.strip()
    ours = {"<sub>", "</sub>"}  # the timings line
    kinds = {t.type for t in _inline_tokens(rendered) if t.content not in ours}
    assert not kinds & {"link_open", "image", "html_inline"}
    assert not {t.type for t in tokens} & {"html_block", "fence", "code_block", "hr"}
    outside = " ".join(t.content for t in _inline_tokens(rendered) if t.type == "text")
    for needle in ("@octocat", "@org", "evil.example", "<script", "onerror", "Heading"):
        assert needle not in outside


def test_fence_is_longer_than_any_run_inside() -> None:
    assert markdown.code("a ``` b") == "````a ``` b````"
    assert markdown.code("`x`") == "`` `x` ``"
    assert markdown.code("a|b") == "`a\\|b`"
    assert markdown.code("a|b", table=False) == "`a|b`"
    assert markdown.code("\u202e") == ""
