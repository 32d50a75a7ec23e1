"""What a challenge's check files declare, read statically (ast): ids, skills, hidden marks.

Used where the checks must not be imported or run: writing a candidate-safe public bundle
(the hidden checks are cut out of the source), counting the hidden checks a candidate never
sees, authoring errors (a check without a skill, a misspelled skill) and the coverage matrix.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from runner.errors import ChallengeError


@dataclass(frozen=True)
class CheckDef:
    """One ``test_*`` function of a check file, as written."""

    file: str  # relative to checks/
    name: str
    skill: str | None
    hidden: bool
    first_line: int  # the first decorator's line (1-based)
    last_line: int
    cls: str = ""  # the Test* class holding it, if any
    marks: tuple[str, ...] = ()  # names of its pytest marks (module and class marks included)

    @property
    def id(self) -> str:
        """The check id the results use (graders.plugin.check_id)."""
        return self.name[5:] if self.name.startswith("test_") else self.name

    def names(self) -> list[str]:
        """What ``-k`` matches besides the id (graders/selection.py; the grader's side is
        graders.main._names)."""
        names = [self.name, Path(self.file).name, *self.marks]
        if self.cls:
            names.append(self.cls)
        if self.skill:
            names.append(self.skill)
        return names


def _mark_name(node: ast.expr) -> tuple[str, ast.expr] | None:
    """``pytest.mark.NAME`` or ``pytest.mark.NAME(...)`` -> (NAME, node)."""
    target = node.func if isinstance(node, ast.Call) else node
    if (
        isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Attribute)
        and target.value.attr == "mark"
    ):
        return target.attr, node
    return None


def _marks(decorators: list[ast.expr]) -> dict[str, ast.expr]:
    found: dict[str, ast.expr] = {}
    for dec in decorators:
        named = _mark_name(dec)
        if named:
            found[named[0]] = named[1]
    return found


def _module_marks(tree: ast.Module) -> dict[str, ast.expr]:
    """Marks applied to every check of a module through ``pytestmark = ...``."""
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in stmt.targets
        ):
            value = stmt.value
            items = value.elts if isinstance(value, ast.List | ast.Tuple) else [value]
            return _marks(list(items))
    return {}


def _skill_of(marks: dict[str, ast.expr]) -> str | None:
    node = marks.get("skill")
    if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
        return str(node.args[0].value)
    return None


def scan_file(path: Path, rel: str) -> list[CheckDef]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as exc:
        raise ChallengeError(f"{path}: line {exc.lineno}: {exc.msg}") from None
    module = _module_marks(tree)
    found: list[CheckDef] = []

    def visit(body: list[ast.stmt], inherited: dict[str, ast.expr], cls: str = "") -> None:
        for stmt in body:
            if isinstance(stmt, ast.ClassDef) and stmt.name.startswith("Test"):
                visit(stmt.body, {**inherited, **_marks(stmt.decorator_list)}, stmt.name)
            elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef) and stmt.name.startswith(
                "test"
            ):
                marks = {**inherited, **_marks(stmt.decorator_list)}
                first = min([d.lineno for d in stmt.decorator_list] + [stmt.lineno])
                found.append(
                    CheckDef(
                        file=rel,
                        name=stmt.name,
                        skill=_skill_of(marks),
                        hidden="hidden" in marks,
                        first_line=first,
                        last_line=stmt.end_lineno or stmt.lineno,
                        cls=cls,
                        marks=tuple(marks),
                    )
                )

    visit(tree.body, module)
    return found


def check_files(checks_dir: Path) -> list[Path]:
    return sorted(p for p in checks_dir.rglob("test_*.py") if "__pycache__" not in p.parts)


def scan(checks_dir: Path) -> list[CheckDef]:
    """Every check under ``checks_dir`` (files named ``test_*.py``), in file order."""
    found: list[CheckDef] = []
    for path in check_files(checks_dir):
        found += scan_file(path, path.relative_to(checks_dir).as_posix())
    return found


def hidden_count(checks_dir: Path) -> int:
    return sum(c.hidden for c in scan(checks_dir)) if checks_dir.is_dir() else 0


def strip_hidden(source: str, defs: list[CheckDef]) -> str:
    """``source`` without the hidden checks' lines (decorators included)."""
    drop: set[int] = set()
    for d in defs:
        if d.hidden:
            drop.update(range(d.first_line, d.last_line + 1))
    kept = [line for n, line in enumerate(source.splitlines(keepends=True), 1) if n not in drop]
    return "".join(kept)


def authoring_errors(checks_dir: Path, skills: set[str]) -> list[str]:
    """Checks without a ``skill`` mark, or naming a skill the challenge does not weigh."""
    errors: list[str] = []
    for c in scan(checks_dir):
        where = f"checks/{c.file}::{c.name}"
        if c.skill is None:
            errors.append(
                f'{where}: no @pytest.mark.skill("...") mark; add one of: {", ".join(sorted(skills))}'
            )
        elif c.skill not in skills:
            errors.append(
                f"{where}: skill {c.skill!r} is not in challenge.toml [skills] "
                f"({', '.join(sorted(skills))}); fix the spelling or add it there"
            )
    return errors
