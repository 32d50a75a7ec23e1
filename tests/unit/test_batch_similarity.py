"""Similarity flags: a disguised copy is flagged, independent solutions and the starter are not.

The corpus is the challenges' own solutions: each reference against the independent solution
written from the brief alone (another language, or another author), and a copy of a reference
with every identifier it defines renamed and its functions and methods reordered.
"""

from __future__ import annotations

import ast
import builtins
import random
import shutil
from pathlib import Path

import pytest

from runner.batch import similarity as sim
from runner.challenges.registry import Registry
from runner.challenges.solutions import load_solution
from runner.intake.submission import load_submission
from runner.starters import STARTERS


def disguise(src: str, seed: int = 7) -> str:
    """Rename every name the source defines (functions, classes, arguments, variables,
    attributes it assigns) and shuffle the order of functions and methods; as ``ast.unparse``
    prints it, comments and formatting are gone too."""
    tree = ast.parse(src)
    defined: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defined.add(node.name)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined.add(node.id)
    keep = set(dir(builtins)) | {"self", "cls"}
    names = {
        d: f"q{i}_{d[::-1].strip('_')}"
        for i, d in enumerate(sorted(defined - keep))
        if not d.startswith(("__", "do_"))  # dunders and http.server's do_GET hooks
    }

    class Rename(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.Name:
            node.id = names.get(node.id, node.id)
            return node

        def visit_arg(self, node: ast.arg) -> ast.arg:
            node.arg = names.get(node.arg, node.arg)
            return node

        def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
            node.name = names.get(node.name, node.name)
            self.generic_visit(node)
            return node

        def visit_ClassDef(self, node: ast.ClassDef) -> ast.ClassDef:
            node.name = names.get(node.name, node.name)
            self.generic_visit(node)
            return node

        def visit_Attribute(self, node: ast.Attribute) -> ast.Attribute:
            self.generic_visit(node)
            node.attr = names.get(node.attr, node.attr)
            return node

    tree = Rename().visit(tree)
    rng = random.Random(seed)

    def shuffle(body: list[ast.stmt]) -> None:
        at = [i for i, s in enumerate(body) if isinstance(s, ast.FunctionDef)]
        defs = [body[i] for i in at]
        rng.shuffle(defs)
        for i, d in zip(at, defs, strict=True):
            body[i] = d

    shuffle(tree.body)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            shuffle(node.body)
    return ast.unparse(tree) + "\n"


def prints(name: str, root: Path) -> sim.Fingerprints:
    sub = load_submission(root)
    return sim.fingerprint_dir(name, sub.root, sub.files, name)


def solution(tmp_path: Path, challenge: str, name: str) -> Path:
    ch = Registry().get(challenge)
    dest = tmp_path / challenge
    dest.mkdir(exist_ok=True)
    return load_solution(ch, name).materialize(dest)


@pytest.fixture
def corpus(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for challenge in ("rest-api", "cache"):
        for name in ("reference", "stranger-node"):
            out[f"{challenge}/{name}"] = solution(tmp_path, challenge, name)
        copy = tmp_path / f"{challenge}-copy"
        copy.mkdir()
        ref = out[f"{challenge}/reference"]
        shutil.copy(ref / "assess.toml", copy)
        (copy / "main.py").write_text(disguise((ref / "app.py").read_text()))
        out[f"{challenge}/copy"] = copy
    return out


def flagged(subs: dict[str, Path], challenge: str | None = None) -> dict[frozenset[str], float]:
    root = Registry().get(challenge).root if challenge else None
    ignore = sim.boilerplate_hashes(sim.published_texts(root))
    pairs = sim.compare([prints(n, p) for n, p in subs.items()], ignore)
    return {frozenset((p.a, p.b)): p.similarity for p in pairs}


def test_the_disguise_renames_and_reorders(corpus: dict[str, Path]) -> None:
    original = (corpus["rest-api/reference"] / "app.py").read_text()
    copy = (corpus["rest-api/copy"] / "main.py").read_text()
    assert "make_server" in original
    assert "make_server" not in copy

    def shapes(src: str) -> list[int]:  # top-level functions by size, in file order
        return [len(ast.unparse(n)) for n in ast.parse(src).body if isinstance(n, ast.FunctionDef)]

    assert shapes(copy) != shapes(disguise(original, seed=99))  # the order depends on the seed
    assert len(shapes(copy)) == len(shapes(original))


@pytest.mark.parametrize("challenge", ["rest-api", "cache"])
def test_a_disguised_copy_is_flagged_and_independent_work_is_not(
    corpus: dict[str, Path], challenge: str
) -> None:
    subs = {k: v for k, v in corpus.items() if k.startswith(challenge)}
    pairs = flagged(subs, challenge)
    copy = frozenset((f"{challenge}/reference", f"{challenge}/copy"))
    assert copy in pairs, pairs
    assert pairs[copy] >= 0.7
    assert set(pairs) == {copy}  # stranger-node is like neither


def test_independent_solutions_in_the_same_language_are_not_flagged(tmp_path: Path) -> None:
    subs = {
        "rest-api": solution(tmp_path, "rest-api", "reference"),
        "cache": solution(tmp_path, "cache", "reference"),
        "realtime-python": solution(tmp_path, "realtime", "stranger-python"),
        "cache-node": solution(tmp_path, "cache", "stranger-node"),
        "rest-api-node": solution(tmp_path, "rest-api", "stranger-node"),
    }
    assert flagged(subs) == {}


def test_the_starter_is_ignored(tmp_path: Path) -> None:
    """Two candidates who both kept `assess init`'s starter and added little are not alike."""
    subs = {}
    for who, extra in (("ann", "x = 1\n"), ("ben", "y = [2, 3]\n")):
        d = tmp_path / who
        d.mkdir()
        for name, text in STARTERS["python"].items():
            (d / name).write_text(text + (extra if name.endswith(".py") else ""))
        subs[who] = d
    assert flagged(subs) == {}
    both = sim.compare([prints(n, p) for n, p in subs.items()])  # not ignoring it: alike
    assert both


def test_matching_regions_point_at_the_copied_lines(corpus: dict[str, Path]) -> None:
    subs = {k: corpus[k] for k in ("rest-api/reference", "rest-api/copy")}
    (pair,) = sim.compare([prints(n, p) for n, p in subs.items()])
    assert pair.regions
    region = pair.regions[0]
    assert region.a_file == "app.py"
    assert region.b_file == "main.py"
    assert region.a_lines[0] <= region.a_lines[1]
    assert region.fingerprints >= 2
    original = (corpus["rest-api/reference"] / "app.py").read_text().splitlines()
    assert region.a_text.splitlines()[0] == original[region.a_lines[0] - 1]


def test_winnowing_guarantee() -> None:
    """Every window of W hashes contributes a fingerprint: a shared run of K + W - 1 tokens
    always shares one."""
    hashes = [random.Random(i).randrange(1 << 30) for i in range(200)]
    chosen = set(sim.winnow(hashes))
    for start in range(len(hashes) - sim.W + 1):
        assert chosen & set(range(start, start + sim.W))


def test_unknown_languages_are_left_out_minified_files_are_not(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello " * 100)
    (tmp_path / "bundle.js").write_text("var a=1;" * 2000)  # a copy on one line is a copy
    (tmp_path / "ok.py").write_text("def f(a):\n    return a + 1\n")
    files = [Path("notes.txt"), Path("bundle.js"), Path("ok.py")]
    assert sorted(rel for rel, _ in sim.source_files(tmp_path, files)) == ["bundle.js", "ok.py"]


def test_reading_a_submission_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sim, "MAX_SUBMISSION_BYTES", 1000)
    for i in range(10):
        (tmp_path / f"m{i}.py").write_text(f"def f{i}(a):\n    return a + {i}\n" * 10)
    files = sorted(p.relative_to(tmp_path) for p in tmp_path.iterdir())
    unread: list[str] = []
    assert 0 < len(list(sim.source_files(tmp_path, files, unread=unread))) < 10
    assert unread  # what was not compared is named
