"""Similarity reads every source file a submission holds, whatever folder it sits in; only the
challenge's own files and known dependency files (by content) are left out."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from runner.batch import similarity as sim
from runner.challenges.registry import Registry
from runner.challenges.solutions import load_solution
from runner.starters import STARTERS

HIDING_PLACES = ["dist", "build", "vendor", "node_modules/lib", ".hidden", ".git/x", "a/.b/c"]


def reference(tmp_path: Path, challenge: str = "rest-api") -> tuple[Path, str]:
    ch = Registry().get(challenge)
    root = load_solution(ch, "reference").materialize(tmp_path / "ref")
    return root, (root / "app.py").read_text()


def flagged(roots: dict[str, Path], known: frozenset[str] = frozenset()) -> set[frozenset[str]]:
    ignore = sim.boilerplate_hashes(sim.published_texts(Registry().get("rest-api").root))
    prints = [sim.fingerprint_dir(n, r, None, n, known) for n, r in roots.items()]
    return {frozenset((p.a, p.b)) for p in sim.compare(prints, ignore)}


@pytest.mark.parametrize("folder", HIDING_PLACES)
def test_a_copy_is_found_in_any_folder(tmp_path: Path, folder: str) -> None:
    ref, code = reference(tmp_path)
    copy = tmp_path / "copy"
    (copy / folder).mkdir(parents=True)
    (copy / folder / "service.py").write_text(code)
    (copy / "Dockerfile").write_text("FROM scratch\n")
    (copy / ".dockerignore").write_text(f"{folder.split('/')[0]}\n")  # not even built
    assert flagged({"ref": ref, "copy": copy}) == {frozenset({"ref", "copy"})}


def test_a_known_dependency_file_is_left_out_by_content_not_by_folder(tmp_path: Path) -> None:
    _, code = reference(tmp_path)
    vendored = tmp_path / "a"
    (vendored / "vendor").mkdir(parents=True)
    (vendored / "vendor" / "lib.py").write_text(code)
    other = tmp_path / "b"
    (other / "deps").mkdir(parents=True)
    (other / "deps" / "lib.py").write_text(code)
    known = frozenset({hashlib.sha256(code.encode()).hexdigest()})
    assert flagged({"a": vendored, "b": other}) == {frozenset({"a", "b"})}
    assert flagged({"a": vendored, "b": other}, known) == set()
    # one byte changed: not the known file any more, compared again
    (other / "deps" / "lib.py").write_text(code + "\nX = 1\n")
    assert sim.fingerprint_dir("a", vendored, known=known).files == []
    assert [f for f, _ in sim.fingerprint_dir("b", other, known=known).files] == ["deps/lib.py"]


def test_known_hashes_come_from_the_challenge_file(tmp_path: Path) -> None:
    digest = hashlib.sha256(b"x").hexdigest()
    (tmp_path / sim.KNOWN_FILE).write_text(f"{digest.upper()}  node_modules/x/index.js\nnoise\n")
    assert sim.known_hashes(tmp_path) == {digest}
    assert sim.known_hashes(None) == frozenset()


def test_starters_are_still_left_out(tmp_path: Path) -> None:
    roots = {}
    for who in ("a", "b"):
        root = tmp_path / who
        for files in STARTERS.values():
            for name, text in files.items():
                (root / ".hidden").mkdir(parents=True, exist_ok=True)
                (root / ".hidden" / name).write_text(text)
        roots[who] = root
    assert flagged(roots) == set()


def test_links_are_not_followed(tmp_path: Path) -> None:
    ref, _ = reference(tmp_path)
    linker = tmp_path / "linker"
    linker.mkdir()
    (linker / "dist").symlink_to(ref)
    assert sim.all_files(linker) == []
    assert flagged({"ref": ref, "linker": linker}) == set()


def test_a_padding_of_large_files_cannot_push_a_copy_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, code = reference(tmp_path)
    monkeypatch.setattr(sim, "MAX_SUBMISSION_BYTES", 4 * len(code))
    padded = tmp_path / "padded"
    padded.mkdir()
    for i in range(6):
        (padded / f"a{i}.py").write_text("\n".join(f"v{i}_{j} = {j}" for j in range(2000)))
    (padded / "zz" / "deep").mkdir(parents=True)
    (padded / "zz" / "deep" / "copy.py").write_text(code)
    fp = sim.fingerprint_dir("padded", padded)
    assert "zz/deep/copy.py" in [f for f, _ in fp.files]
    assert fp.unread  # the padding that did not fit is named
    shutil.rmtree(padded / "zz")


def test_the_batch_names_what_was_not_compared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from runner.commands import flag_similar

    monkeypatch.setattr(sim, "MAX_FILE_BYTES", 1000)
    sub = tmp_path / "big"
    (sub / "dist").mkdir(parents=True)
    (sub / "Dockerfile").write_text("FROM scratch\n")
    (sub / "dist" / "huge.py").write_text("x = 1\n" * 1000)
    job = SimpleNamespace(name="big", path=sub, digest="d")
    unread: dict[str, list[str]] = {}
    flag_similar(Registry().get("rest-api"), [job], unread=unread)
    assert list(unread) == ["big"]
    assert unread["big"][0].startswith("dist/huge.py")
