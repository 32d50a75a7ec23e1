"""The hostile archives of tests/adversarial/_archives, through ``assess run``: each is refused
with exit 2 and one line naming its rule, nothing is written outside the folder it was unpacked
into, and unpacking the largest of them costs bounded memory (measured in a child process).
No Docker: an archive is unpacked, and refused, before the sandbox is touched."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import pytest
from typer.testing import CliRunner

from runner.cli import app
from tests.conftest import ROOT, TINY

MAKE = ROOT / "tests" / "adversarial" / "_archives" / "make.py"
MAX_RSS_GROWTH = 32 << 20  # bytes of peak resident memory gained while unpacking


def _make() -> ModuleType:
    spec = importlib.util.spec_from_file_location("adversarial_archives", MAKE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKER = _make()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile-archives")
    MAKER.build(folder)
    return folder


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("name", sorted(MAKER.CASES))
def test_assess_run_refuses_in_one_line(name: str, hostile: Path) -> None:
    sentinel = Path(tempfile.gettempdir()) / MAKER.SENTINEL
    sentinel.mkdir(exist_ok=True)
    (sentinel / "keep").write_text("untouched\n")
    before = _listing(sentinel)
    hostname = Path("/etc/hostname").read_bytes() if Path("/etc/hostname").exists() else b""
    result = CliRunner().invoke(app, ["run", str(TINY), str(hostile / name)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()  # stdout may hold the progress line
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ")
    assert MAKER.CASES[name] in lines[0]
    assert "Traceback" not in result.output
    assert _listing(sentinel) == before, "an archive wrote next to the submission's folder"
    if hostname:
        assert Path("/etc/hostname").read_bytes() == hostname


def test_markup_in_a_member_name_is_printed_as_text(tmp_path: Path) -> None:
    import zipfile

    archive = tmp_path / "markup.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("[/]/../[bold]x", b"x")
    result = CliRunner().invoke(app, ["run", str(TINY), str(archive)])
    assert result.exit_code == 2, result.output
    assert "[/]/../[bold]x" in result.output


_MEASURE = """
import json, sys, tempfile
from pathlib import Path
from runner.intake.archives import unpack
from runner.errors import SubmissionError
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
with open("/proc/self/clear_refs", "w") as fh:  # reset the high-water mark to the current RSS
    fh.write("5")
base = status("VmHWM")
with tempfile.TemporaryDirectory() as tmp:
    try:
        unpack(Path(sys.argv[1]), Path(tmp) / "out")
        outcome = "unpacked"
    except SubmissionError as exc:
        outcome = exc.message
peak = status("VmHWM")
print(json.dumps({"base_kib": base, "peak_kib": peak, "outcome": outcome}))
"""


@pytest.mark.parametrize(
    "name",
    [
        "tar-bomb.tar.gz",
        "entry-bomb.zip",
        "entry-bomb.tar.gz",
        "zip-bomb.zip",
        "pax-header-bomb.tar.gz",
        "longname-header-bomb.tar.gz",
        "tar-many-mib.tar.gz",
    ],
)
def test_hostile_archives_cost_bounded_memory(name: str, hostile: Path) -> None:
    """The peak resident memory of a child while it only unpacks (its high-water mark reset
    first): a 1 MB archive of 1 GiB must not cost the host its size (figures printed for the
    README)."""
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(hostile / name)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout)
    growth = (figures["peak_kib"] - figures["base_kib"]) << 10
    size = (hostile / name).stat().st_size
    print(
        f"{name}: {size >> 10} KiB archive, peak RSS {figures['peak_kib']} KiB "
        f"(+{growth >> 10} KiB while unpacking): {figures['outcome']}"
    )
    assert MAKER.CASES[name] in figures["outcome"]
    assert growth < MAX_RSS_GROWTH
