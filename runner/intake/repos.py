"""Git repositories fetched for a run: a submission or a private challenge pack given as a URL.

Cloned shallowly with ``git`` into a directory the caller owns, with a deadline, no prompts
(a missing credential is an error, never a hang) and no hooks. ``URL#REF`` or ``ref=`` picks a
branch or tag; a commit id needs a full clone, which happens only when one is asked for.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from runner.errors import UsageError
from runner.reports.safe_text import safe_text

CLONE_TIMEOUT_S = 300.0
_URL = re.compile(r"^(?:(?:https?|ssh|git|file)://|[\w.-]+@[\w.-]+:)")
_COMMIT = re.compile(r"^[0-9a-f]{7,40}$")


def is_git_url(source: str) -> bool:
    """A URL git can clone (https, ssh, git, file, or scp-like ``user@host:path``)."""
    return bool(_URL.match(source))


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GIT_TERMINAL_PROMPT="0",  # no interactive credential prompt: fail instead
        GIT_ASKPASS="true",
        GIT_CONFIG_NOSYSTEM="1",
        LC_ALL="C",
    )
    return env


def _git(args: list[str], what: str, url: str, cwd: Path | None = None) -> None:
    if shutil.which("git") is None:
        raise UsageError(
            f"{what} {redact(url)} is a git URL but git is not installed; apt-get install git"
        )
    try:
        proc = subprocess.run(
            ["git", "-c", "core.hooksPath=/dev/null", *args],
            cwd=cwd,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=CLONE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise UsageError(
            f"{what} {redact(url)}: git did not finish within {CLONE_TIMEOUT_S:.0f}s"
        ) from None
    if proc.returncode != 0:
        raise UsageError(f"{what} {redact(url)}: git {args[0]} failed: {git_message(proc.stderr)}")


MAX_MESSAGE = 1200
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@")
_SECRET = re.compile(r"(?i)\b(authorization:\s*\w+\s+|(?:token|password|passwd)[=:]\s*)\S+")


def redact(text: str) -> str:
    """``scheme://user:token@host`` and ``token=…``/``Authorization: …`` with the secret hidden."""
    return _SECRET.sub(r"\1***", _USERINFO.sub(r"\1***@", text))


def git_message(stderr: str) -> str:
    """Git's whole message on one line (its cause is rarely the last line: "Please make sure
    you have the correct access rights / and the repository exists."), credentials redacted,
    control characters shown escaped, capped at :data:`MAX_MESSAGE` characters."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    text = safe_text(redact(" / ".join(lines))) or "(no message)"
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def clone(source: str, dest: Path, *, ref: str | None = None, what: str = "repository") -> Path:
    """Clone ``source`` (``URL`` or ``URL#REF``) into ``dest``; return ``dest``."""
    url, _, fragment = source.partition("#")
    ref = ref or fragment or None
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if ref and _COMMIT.match(ref):
        _git(["clone", "--quiet", "--no-checkout", url, str(dest)], what, url)
        _git(["checkout", "--quiet", "--detach", ref], what, url, cwd=dest)
    else:
        args = ["clone", "--quiet", "--depth", "1"]
        if ref:
            args += ["--branch", ref]
        _git([*args, url, str(dest)], what, url)
    shutil.rmtree(dest / ".git", ignore_errors=True)  # not part of what is graded or joined
    return dest
