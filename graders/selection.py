"""Which checks a partial run selects (``assess run -k EXPR``, ``--check ID``).

One rule, imported by both sides: the host uses it on the statically scanned checks (to refuse a
selection that matches nothing before anything is built) and the grader on pytest's items, so
the two cannot disagree. ``-k`` takes pytest's own expression syntax (``and``, ``or``, ``not``,
parentheses); a word matches a check when it is a case-insensitive substring of one of the
check's names: its id, its function name, its file, its class, its skill, its marks. A check is
selected when its id is one of ``--check`` or it matches ``-k``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from _pytest.mark.expression import Expression


class SelectionError(ValueError):
    """A ``-k`` expression that does not parse."""


@dataclass(frozen=True)
class Selection:
    ids: tuple[str, ...] = ()
    keyword: str = ""

    @property
    def active(self) -> bool:
        return bool(self.ids or self.keyword)

    def compiled(self) -> Expression | None:
        if not self.keyword:
            return None
        try:
            return Expression.compile(self.keyword)
        except Exception as exc:  # SyntaxError (pytest 9), ParseError before
            raise SelectionError(f"-k {self.keyword!r} does not parse: {exc}") from None

    def wants(self, check_id: str, names: Iterable[str], expr: Expression | None = None) -> bool:
        """Whether the check ``check_id``, known by ``names``, is selected (all when inactive)."""
        if not self.active:
            return True
        if check_id in self.ids:
            return True
        expr = expr if expr is not None else self.compiled()
        if expr is None:
            return False
        return expr.evaluate(_Matcher([n.lower() for n in (check_id, *names)]))


class _Matcher:
    """pytest's keyword rule: a word matches a name it is a case-insensitive substring of."""

    def __init__(self, names: list[str]) -> None:
        self.names = names

    def __call__(self, word: str, /, **kwargs: str | int | bool | None) -> bool:
        return any(word.lower() in n for n in self.names)
