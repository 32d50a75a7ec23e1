"""Every challenge's starters: one per runtime, the challenge's own where it ships one (its
protocol's first step), with a dependency file wherever they import a library; they stay quiet
and answer /healthz; the batch similarity discounts them and the public bundle carries them."""

from __future__ import annotations

import io
import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from rich.console import Console

from runner.batch.similarity import published_texts
from runner.challenges import packs
from runner.challenges.registry import Registry
from runner.commands import init_starter
from runner.starters import STARTERS, challenge_starter, starter_for

SERVICES = [c.id for c in Registry().all() if c.config.kind == "service"]
# Challenges whose protocol's first step is more than /healthz ship their own starters.
OWN = {"realtime", "monitoring", "data", "events"}
PY_STDLIB = set(sys.stdlib_module_names)
NODE_BUILTIN = {"http", "https", "url", "net", "crypto", "events", "fs", "path", "os", "util"}


def python_imports(text: str) -> set[str]:
    found = re.findall(
        r"^\s*(?:from\s+([A-Za-z_]\w*)[\w.]*\s+import\b|import\s+([A-Za-z_]\w*))", text, re.M
    )
    return {a or b for a, b in found} - {"__future__"}


def node_requires(text: str) -> set[str]:
    return {m.removeprefix("node:") for m in re.findall(r"require\('([^']+)'\)", text)}


@pytest.mark.parametrize("challenge_id", SERVICES)
@pytest.mark.parametrize("runtime", ["python", "node"])
def test_every_challenge_has_starters(challenge_id: str, runtime: str) -> None:
    root = Registry().get(challenge_id).root
    own = challenge_starter(root, runtime)
    if challenge_id in OWN:
        assert own, f"{challenge_id} ships no {runtime} starter"
    files = starter_for(root, runtime)
    assert "assess.toml" in files
    assert f'runtime = "{runtime}"' in files["assess.toml"]
    code = "".join(t for n, t in files.items() if n.endswith((".py", ".js")))
    assert "/healthz" in code
    assert "501" in code
    assert "problem+json" in code
    if runtime == "python":
        libs = python_imports(code) - PY_STDLIB
        if libs:
            reqs = files.get("requirements.txt", "").lower()
            assert reqs, f"{challenge_id} python starter imports {libs}: no requirements.txt"
            for lib in libs:
                assert re.search(rf"^{lib.lower()}\s*==", reqs, re.M), (lib, reqs)
    else:
        libs = node_requires(code) - NODE_BUILTIN
        if libs:
            pkg = json.loads(files["package.json"])
            lock = json.loads(files["package-lock.json"])
            for lib in libs:
                assert lib in pkg["dependencies"], lib
                assert (
                    lock["packages"][f"node_modules/{lib}"]["version"] == (pkg["dependencies"][lib])
                ), lib


def test_realtime_starter_answers_the_first_step() -> None:
    root = Registry().get("realtime").root
    py, js = starter_for(root, "python")["app.py"], starter_for(root, "node")["server.js"]
    for code in (py, js):
        assert "/ws" in code
        assert "subscribe" in code
        assert "subscribed" in code
    assert "aiohttp" in python_imports(py)
    assert "ws" in node_requires(js)
    mon = Registry().get("monitoring").root
    for code in starter_for(mon, "python").values():
        assert "# TYPE http_requests_total counter" in code or "runtime" in code


@pytest.mark.parametrize("runtime", ["python", "node"])
def test_init_writes_the_challenges_own_starter(runtime: str, tmp_path: Path) -> None:
    init_starter("realtime", tmp_path / "c", runtime, Console(file=io.StringIO()))
    names = {p.name for p in (tmp_path / "c").iterdir()}
    deps = {"requirements.txt"} if runtime == "python" else {"package.json", "package-lock.json"}
    assert deps <= names
    assert "BRIEF.md" in names
    init_starter("cache", tmp_path / "g", runtime, Console(file=io.StringIO()))
    assert {p.name for p in (tmp_path / "g").iterdir()} == {*STARTERS[runtime], "BRIEF.md"}


def test_similarity_discounts_every_starter() -> None:
    everywhere = {t for _, t in published_texts(None)}
    for cid in OWN:
        root = Registry().get(cid).root
        for runtime in ("python", "node"):
            for name, text in starter_for(root, runtime).items():
                if name.endswith((".py", ".js")):
                    assert text in everywhere, (cid, runtime, name)
                    assert text in {t for _, t in published_texts(root)}, (cid, name)


def test_public_bundle_carries_starters(tmp_path: Path) -> None:
    dest = packs.write_public(Registry().get("realtime"), tmp_path)
    assert (dest / "starters" / "python" / "requirements.txt").is_file()
    assert (dest / "starters" / "node" / "package-lock.json").is_file()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("challenge_id", ["monitoring", "data", "events", "cache"])
@pytest.mark.parametrize("runtime", ["python", "node"])
def test_stdlib_starter_is_quiet_and_answers(
    challenge_id: str, runtime: str, tmp_path: Path
) -> None:
    """The starters without a library run as written: /healthz 200, other paths 501
    problem+json, one log line (never a password), /metrics in the text format where the brief
    asks for it."""
    node = shutil.which("node")
    if runtime == "node" and node is None:
        pytest.skip("no node on this machine")
    init_starter(challenge_id, tmp_path / "s", runtime, Console(file=io.StringIO()))
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "app.py"] if runtime == "python" else [str(node), "server.js"],
        cwd=tmp_path / "s",
        env={"PORT": str(port), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
                    assert r.status == 200
                break
            except urllib.error.URLError:
                time.sleep(0.05)
        else:
            pytest.fail("starter did not answer /healthz")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(base + "/orders", timeout=2)
        assert err.value.code == 501
        assert err.value.headers["Content-Type"] == "application/problem+json"
        err.value.close()
        if challenge_id == "monitoring":
            with urllib.request.urlopen(base + "/metrics", timeout=2) as r:
                body = r.read().decode()
                assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            assert '{method="GET",route="/healthz",status="200"} 1' in body
            assert '{method="GET",route="unmatched",status="501"} 1' in body
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    lines = out.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"starter listening on {port}"), lines
    assert "app:app" not in out
    assert "service:service" not in out
