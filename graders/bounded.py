"""Bounded parsers for everything a check reads from the candidate: YAML, JSON, text.

The candidate controls these bytes. A few KB of YAML aliases can stand for billions of nodes
(the "billion laughs"), a JSON array nested a million deep exhausts the recursion limit, a huge
metrics page costs time line by line. Each parser here bounds, before any result is handed back:

- size: the input's bytes (``max_bytes``);
- structure: nesting depth and the number of nodes *after* alias expansion (YAML aliases are
  counted as many times as they are used, in linear time over the shared graph; an alias that
  refers to itself is refused);
- time: the parse runs under a deadline (``max_seconds``), checked as nodes are counted;
- lines: ``lines()`` caps their count and length.

A refusal is :class:`Unparseable` (a ``ValueError``) whose message says, in one line, which
bound was broken; checks turn it into their own failure (``fail(str(exc))``) so a hostile
artefact fails the check that read it, never the grader (the ``error`` verdict stays for our
own faults). Every value returned is plain data (dict, list, str, int, float, bool, None) small
enough to print in a message.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

MAX_BYTES = 256 * 1024
MAX_DEPTH = 64
MAX_NODES = 100_000  # nodes after alias expansion (a real rules file has a few hundred)
MAX_SECONDS = 5.0
MAX_LINES = 100_000
MAX_LINE_CHARS = 16 * 1024


class Unparseable(ValueError):
    """The artefact cannot be accepted; ``str(exc)`` says why in one line."""


def _size(data: bytes | str, what: str, max_bytes: int) -> bytes:
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise Unparseable(f"{what} is {len(raw)} bytes; the grader reads at most {max_bytes}")
    return raw


def _one_line(text: object, limit: int = 200) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[:limit] + "..."


# -- YAML ------------------------------------------------------------------------------------
def load_yaml(
    data: bytes | str,
    what: str = "the YAML document",
    *,
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
    max_nodes: int = MAX_NODES,
    max_seconds: float = MAX_SECONDS,
) -> Any:
    """One YAML document, safely loaded (no tags beyond the standard ones), with its expanded
    size and depth bounded *before* any Python object is built from it."""
    import yaml

    raw = _size(data, what, max_bytes)
    deadline = time.monotonic() + max_seconds
    _scan_yaml(raw, what, max_depth, deadline)
    loader = yaml.SafeLoader(raw)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise Unparseable(f"{what} is nested too deeply to parse") from None
        except yaml.YAMLError as exc:
            raise Unparseable(f"{what} is not YAML: {_one_line(exc)}") from None
        if node is None:
            return None
        _check_yaml_graph(node, what, max_depth, max_nodes, deadline)
        try:
            return loader.construct_document(node)
        except yaml.YAMLError as exc:
            raise Unparseable(f"{what} is not plain YAML data: {_one_line(exc)}") from None
    finally:
        loader.dispose()


def _scan_yaml(raw: bytes, what: str, max_depth: int, deadline: float) -> None:
    """A first pass over the tokens alone, stopped as soon as the nesting (flow brackets or
    block indentation) passes ``max_depth``: PyYAML's scanner costs time quadratic in the flow
    depth and its composer recurses once per level, so depth is bounded before either runs."""
    import yaml

    scanner = yaml.SafeLoader(raw)
    try:
        count = 0
        while scanner.check_token():
            scanner.get_token()  # type: ignore[no-untyped-call]
            if scanner.flow_level > max_depth or len(scanner.indents) > max_depth:
                raise Unparseable(f"{what} is nested deeper than {max_depth} levels")
            count += 1
            if count % 1024 == 0 and time.monotonic() > deadline:
                raise Unparseable(f"{what} took too long to read")
    except yaml.YAMLError as exc:
        raise Unparseable(f"{what} is not YAML: {_one_line(exc)}") from None
    finally:
        scanner.dispose()


def _check_yaml_graph(
    root: Any, what: str, max_depth: int, max_nodes: int, deadline: float
) -> None:
    """Count the nodes the document expands to, each alias as often as it is used, in time
    linear in the composed graph (an alias is one shared node: its expanded size is memoised),
    and its depth; iteratively, so a deep document cannot exhaust the stack here."""
    import yaml

    expanded: dict[int, int] = {}  # id(node) -> nodes it stands for
    height: dict[int, int] = {}  # id(node) -> depth below it
    on_path: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    steps = 0
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            kids = _children(node, yaml)
            expanded[key] = 1 + sum(expanded[id(k)] for k in kids)
            height[key] = 1 + max((height[id(k)] for k in kids), default=0)
            if expanded[key] > max_nodes:
                raise Unparseable(
                    f"{what} expands to more than {max_nodes} nodes (YAML aliases); "
                    "write the rules out plainly"
                )
            if height[key] > max_depth:
                raise Unparseable(f"{what} is nested deeper than {max_depth} levels")
            continue
        if key in expanded:
            continue
        if key in on_path:
            raise Unparseable(f"{what} holds an alias that refers to itself")
        steps += 1
        if steps % 1024 == 0 and time.monotonic() > deadline:
            raise Unparseable(f"{what} took too long to read")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node, yaml) if id(k) not in expanded)


def _children(node: Any, yaml: Any) -> list[Any]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


# -- JSON ------------------------------------------------------------------------------------
def load_json(
    data: bytes | str,
    what: str = "the JSON document",
    *,
    max_bytes: int = MAX_BYTES * 4,
    max_depth: int = MAX_DEPTH,
) -> Any:
    """A JSON value, its size and nesting depth bounded (the depth is measured on the text, so
    a document nested a million deep is refused before the parser recurses into it, and no
    value handed back is deep enough to exhaust the recursion of whoever prints it)."""
    raw = _size(data, what, max_bytes)
    if _json_deeper_than(raw, max_depth):
        raise Unparseable(f"{what} is nested deeper than {max_depth} levels")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise Unparseable(f"{what} is not JSON: {_one_line(exc, 120)}") from None


def _json_deeper_than(raw: bytes, max_depth: int) -> bool:
    """Whether [ and { nest deeper than ``max_depth`` outside strings, at C speed: strings are
    cut out by one regular expression, everything but brackets is dropped, then each round
    removes the innermost pairs; pairs left after ``max_depth`` rounds are deeper. (Unbalanced
    brackets are left for the JSON parser to refuse.)"""
    if raw.count(b"[") + raw.count(b"{") <= max_depth:
        return False  # the common case (a small message), at the cost of two counts
    brackets = _JSON_STRING.sub(b"", raw).translate(_JSON_SQUARE, _JSON_NOT_BRACKET)
    too_deep = b"[" * (max_depth + 1)  # a run of openings: the common hostile shape, one search
    for _ in range(max_depth):
        if too_deep in brackets:
            return True
        if b"[]" not in brackets:
            break
        brackets = brackets.replace(b"[]", b"")
    # pairs still nested, or more openings never closed (all open at once at the end)
    return b"[]" in brackets or brackets.count(b"[") > max_depth


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_JSON_SQUARE = bytes.maketrans(b"{}", b"[]")
_JSON_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


# -- text ------------------------------------------------------------------------------------
def lines(
    data: bytes | str,
    what: str = "the text",
    *,
    max_bytes: int = 1 << 20,
    max_lines: int = MAX_LINES,
    max_line_chars: int = MAX_LINE_CHARS,
) -> Iterator[str]:
    """The ``\n``-separated lines of a text artefact (the Prometheus text format, JSON-lines
    logs), decoded leniently, each bounded in length and their count bounded; refuses past a
    bound rather than cutting silently."""
    raw = _size(data, what, max_bytes)
    text = raw.decode("utf-8", "replace")
    for count, line in enumerate(text.split("\n"), 1):
        if count > max_lines:
            raise Unparseable(f"{what} has more than {max_lines} lines")
        if len(line) > max_line_chars:
            raise Unparseable(f"{what}: line {count} is longer than {max_line_chars} characters")
        yield line
