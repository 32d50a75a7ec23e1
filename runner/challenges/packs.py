"""A challenge's public and private parts: writing each, and joining them for a run.

What a challenge publishes (the candidate may see it): ``challenge.toml``, the brief, the visible
checks, ``load/``, ``sidecars/``, ``starters/``. What it keeps (only the interviewer has it): the
hidden checks and ``solutions/``. A bundled challenge holds both; ``assess pack --public`` writes
the candidate-safe bundle (hidden checks cut out of the source, no solutions, and a
``[publication]`` table announcing how many hidden checks exist), ``assess pack --private``
writes the rest as a private pack:

    private.toml      challenge = "<id>", version = "<challenge version>", hidden_checks = N
    checks/           complete check files: each replaces the public file of the same name
    solutions/        reference and flawed variants
    mutants/          (a ``kind = "tests"`` challenge) the mutant table and switches: its
                      hidden checks, counted in ``hidden_checks``

A private pack is a directory, a store of packs (``<id>/private.toml`` below it), or a git URL
(cloned for the run). It comes from ``--private`` or ``$ASSESS_PRIVATE``. Joining copies the
public part to a work directory and overlays the pack, so grading code sees one ordinary
challenge directory. Interviewer mode refuses a public-only challenge without its pack: grading
on the visible checks only would be a silently wrong grade.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import tomllib
import weakref
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runner.challenges import checkscan
from runner.challenges.registry import Challenge, Registry, load_challenge
from runner.errors import ChallengeError, UsageError
from runner.intake import repos

PRIVATE_TOML = "private.toml"
ENV = "ASSESS_PRIVATE"
# What a public bundle may carry, besides the check files (filtered) and challenge.toml.
PUBLIC_FILES = ("README.md",)
PUBLIC_DIRS = ("load", "sidecars", "starter", "starters")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")


class PrivateManifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    challenge: str
    version: str
    hidden_checks: int = Field(ge=0)


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _mutants(challenge: Challenge) -> Path | None:
    """The mutant layer of a tests challenge (None for a service challenge)."""
    target = challenge.config.target
    return challenge.root / target.mutants if target is not None else None


def _hidden_total(challenge: Challenge, checks_dir: Path | None = None) -> int:
    """Hidden checks, or a tests challenge's mutants (each is one hidden check of its run)."""
    layer = _mutants(challenge)
    if layer is not None:
        from runner.challenges.registry import load_mutants

        return len(load_mutants(challenge)) if layer.is_dir() else 0
    return checkscan.hidden_count(checks_dir or challenge.checks_dir)


def write_public(challenge: Challenge, out: Path) -> Path:
    """Write the candidate-safe bundle of ``challenge`` to ``out/<id>``; return that directory."""
    if challenge.config.publication is not None:
        raise UsageError(f"challenge {challenge.id} is already a public bundle; pack its source")
    dest = out / challenge.id
    if dest.exists():
        raise UsageError(f"{dest} exists; give an empty --public directory")
    defs = checkscan.scan(challenge.checks_dir)
    hidden = (
        sum(d.hidden for d in defs) if _mutants(challenge) is None else _hidden_total(challenge)
    )
    dest.mkdir(parents=True)
    toml = (challenge.root / "challenge.toml").read_text(encoding="utf-8").rstrip("\n")
    toml += f'\n\n[publication]\npart = "public"\nhidden_checks = {hidden}\n'
    (dest / "challenge.toml").write_text(toml, encoding="utf-8")
    for name in PUBLIC_FILES:
        if (challenge.root / name).is_file():
            shutil.copyfile(challenge.root / name, dest / name)
    for name in PUBLIC_DIRS:
        if (challenge.root / name).is_dir():
            shutil.copytree(challenge.root / name, dest / name, ignore=_IGNORE)
    if _mutants(challenge) is not None:
        return dest  # a tests challenge publishes its brief; mutants and suites stay private
    checks_out = dest / "checks"
    shutil.copytree(challenge.checks_dir, checks_out, ignore=_IGNORE)
    by_file: dict[str, list[checkscan.CheckDef]] = {}
    for d in defs:
        by_file.setdefault(d.file, []).append(d)
    for rel, file_defs in by_file.items():
        path = checks_out / rel
        if all(d.hidden for d in file_defs):
            path.unlink()  # a file of hidden checks only: even its name stays private
        elif any(d.hidden for d in file_defs):
            path.write_text(
                checkscan.strip_hidden(path.read_text(encoding="utf-8"), file_defs),
                encoding="utf-8",
            )
    left = checkscan.hidden_count(checks_out)
    if left:  # the cut must be complete: never publish a hidden check by accident
        raise ChallengeError(f"{challenge.id}: {left} hidden check(s) survived the cut; not packed")
    return dest


def write_private(challenge: Challenge, out: Path) -> Path:
    """Write the private pack of ``challenge`` (complete checks, solutions) to ``out/<id>``."""
    if challenge.config.publication is not None and challenge.private is None:
        raise UsageError(f"challenge {challenge.id} has no private part here to pack")
    dest = out / challenge.id
    if dest.exists():
        raise UsageError(f"{dest} exists; give an empty --private directory")
    dest.mkdir(parents=True)
    files = sorted({d.file for d in checkscan.scan(challenge.checks_dir) if d.hidden})
    for rel in files:
        (dest / "checks" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(challenge.checks_dir / rel, dest / "checks" / rel)
    if challenge.solutions_dir.is_dir():
        shutil.copytree(challenge.solutions_dir, dest / "solutions", symlinks=True, ignore=_IGNORE)
    layer = _mutants(challenge)
    if layer is not None:
        shutil.copytree(layer, dest / layer.relative_to(challenge.root), ignore=_IGNORE)
    hidden = _hidden_total(challenge)
    (dest / PRIVATE_TOML).write_text(
        f"challenge = {_toml_str(challenge.id)}\n"
        f"version = {_toml_str(challenge.config.version)}\n"
        f"hidden_checks = {hidden}\n",
        encoding="utf-8",
    )
    return dest


def _read_manifest(pack: Path) -> PrivateManifest:
    path = pack / PRIVATE_TOML
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        return PrivateManifest.model_validate(raw)
    except tomllib.TOMLDecodeError as exc:
        raise ChallengeError(f"{path}: invalid TOML: {exc}") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise ChallengeError(f"{path}: field '{field}': {err['msg']}") from None


def locate(source: str, challenge_id: str, workdir: Path) -> Path:
    """The pack directory for ``challenge_id`` in ``source`` (a path or a git URL)."""
    if repos.is_git_url(source):
        root = repos.clone(source, workdir / "private-pack", what="private pack")
    else:
        root = Path(source).expanduser()
        if not root.is_dir():
            raise UsageError(f"private pack {source} is not a directory or a git URL")
    for pack in (root, root / challenge_id):
        if (pack / PRIVATE_TOML).is_file():
            return pack
    raise UsageError(
        f"{source} holds no private pack for {challenge_id} "
        f"(neither {PRIVATE_TOML} nor {challenge_id}/{PRIVATE_TOML}); "
        f"write one with `assess pack {challenge_id} --private DIR`"
    )


def attach(challenge: Challenge, pack: Path, workdir: Path, source: str) -> Challenge:
    """The challenge with its private part joined in, as one directory under ``workdir``."""
    manifest = _read_manifest(pack)
    if manifest.challenge != challenge.id or manifest.version != challenge.config.version:
        raise ChallengeError(
            f"private pack {source} is for {manifest.challenge} {manifest.version}, not "
            f"{challenge.id} {challenge.config.version}; use the pack of this version"
        )
    dest = workdir / "joined" / challenge.id
    shutil.copytree(challenge.root, dest, symlinks=True, ignore=_IGNORE)
    if (pack / "checks").is_dir():
        shutil.copytree(pack / "checks", dest / "checks", dirs_exist_ok=True, ignore=_IGNORE)
    if (pack / "solutions").is_dir():
        shutil.copytree(pack / "solutions", dest / "solutions", symlinks=True, ignore=_IGNORE)
    layer = _mutants(challenge)
    if layer is not None and (pack / layer.name).is_dir():
        shutil.copytree(pack / layer.name, dest / layer.name, dirs_exist_ok=True, ignore=_IGNORE)
    joined = load_challenge(dest)
    have = _hidden_total(joined)
    announced = challenge.config.publication.hidden_checks if challenge.config.publication else None
    if have != manifest.hidden_checks or (announced is not None and have != announced):
        raise ChallengeError(
            f"private pack {source}: {have} hidden checks after joining, but the pack says "
            f"{manifest.hidden_checks}"
            + (f" and the public part {announced}" if announced is not None else "")
            + "; the pack and the challenge do not belong together"
        )
    joined.private = source
    return joined


def resolve(
    challenge: Challenge, *, private: str | None, interviewer: bool, workdir: Path
) -> Challenge:
    """The challenge to grade: joined with its private part when one is given or needed.

    Raises UsageError (exit 2) when interviewer mode has no private part to grade with.
    """
    source = private or os.environ.get(ENV) or None
    if source is not None and (challenge.config.publication is not None or private):
        return attach(challenge, locate(source, challenge.id, workdir), workdir, source)
    if interviewer and not challenge.complete:
        pub = challenge.config.publication
        count = pub.hidden_checks if pub else 0
        raise UsageError(
            f"challenge {challenge.id} is public-only here: its {count} hidden check(s) are "
            f"not loaded; give --private PATH|URL (or set {ENV}), or grade with --candidate"
        )
    return challenge


def open_challenge(challenge_id: str, *, private: str | None, interviewer: bool) -> Challenge:
    """Load a challenge by id or directory and join its private part if given or needed.

    The joined copy lives in a temporary directory removed when the returned challenge is
    collected (or at exit): a run needs it to the end, and callers need not manage it.
    """
    challenge = Registry().get(challenge_id)
    if not (private or os.environ.get(ENV)) and (challenge.complete or not interviewer):
        return challenge
    work = Path(tempfile.mkdtemp(prefix="assess-challenge-"))
    try:
        joined = resolve(challenge, private=private, interviewer=interviewer, workdir=work)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    if joined is challenge:
        shutil.rmtree(work, ignore_errors=True)
    else:
        weakref.finalize(joined, shutil.rmtree, str(work), True)
    return joined
