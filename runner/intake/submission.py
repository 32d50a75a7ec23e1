"""A candidate's submission: a directory with a Dockerfile, or an assess.toml naming a preset.

Parsed once into a :class:`Submission`; the build context is made here as a tar so that a
preset's generated Dockerfile never touches the candidate's directory, and symlinks are kept
as symlinks (never followed out of the submission).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shlex
import tarfile
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from runner.errors import SubmissionError

RUNTIMES = ("python", "node")
GENERATED_DOCKERFILE = ".assess.Dockerfile"
EXCLUDED_DIRS = {".git", "__pycache__", "node_modules", ".venv", ".mypy_cache", ".pytest_cache"}
MAX_CONTEXT_BYTES = 200 * 1024 * 1024
SERVICE_PORT = 8080


class AssessToml(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    runtime: Literal["python", "node"]
    start: str = Field(min_length=1)
    env: dict[str, str] = {}

    @field_validator("start")
    @classmethod
    def _splits(cls, v: str) -> str:
        try:
            if not shlex.split(v):
                raise ValueError("start command is empty")
        except ValueError as exc:
            raise ValueError(f"cannot split start command: {exc}") from None
        return v


@dataclass(frozen=True)
class Submission:
    root: Path
    kind: Literal["dockerfile", "preset"]
    preset: AssessToml | None = None
    files: tuple[Path, ...] = field(default=(), repr=False)

    @property
    def runtime(self) -> str:
        return self.preset.runtime if self.preset else "dockerfile"

    def dockerfile_text(self, images: dict[str, str]) -> str:
        """The Dockerfile of a preset submission (``images`` maps runtime -> image tag)."""
        assert self.preset is not None
        p = self.preset
        lines = [f"FROM {images[p.runtime]}", "WORKDIR /app"]
        names = {f.as_posix() for f in self.files}
        if p.runtime == "python" and "requirements.txt" in names:
            lines += [
                "COPY requirements.txt /app/requirements.txt",
                "RUN pip install --no-cache-dir -r requirements.txt",
            ]
        if p.runtime == "node" and "package.json" in names:
            lock = "package-lock.json" in names
            lines += [
                "COPY package.json " + ("package-lock.json " if lock else "") + "/app/",
                "RUN npm " + ("ci" if lock else "install") + " --omit=dev --no-audit --no-fund",
            ]
        lines.append("COPY . /app")
        env = {"PORT": str(SERVICE_PORT), **p.env}
        lines += [f"ENV {k}={json.dumps(v)}" for k, v in env.items()]
        lines.append(f"EXPOSE {SERVICE_PORT}")
        lines.append("CMD " + json.dumps(shlex.split(p.start)))
        return "\n".join(lines) + "\n"

    def context_tar(self, images: dict[str, str]) -> bytes:
        """The build context as an uncompressed tar (with the generated Dockerfile for presets)."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for rel in self.files:
                info = tar.gettarinfo(str(self.root / rel), arcname=rel.as_posix())
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                if info.isfile():
                    with open(self.root / rel, "rb") as fh:
                        tar.addfile(info, fh)
                else:
                    tar.addfile(info)
            if self.kind == "preset":
                data = self.dockerfile_text(images).encode()
                info = tarfile.TarInfo(GENERATED_DOCKERFILE)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    @property
    def dockerfile_name(self) -> str:
        return GENERATED_DOCKERFILE if self.kind == "preset" else "Dockerfile"

    def content_hash(self, images: dict[str, str]) -> str:
        return hashlib.sha256(self.context_tar(images)).hexdigest()


def _inside(root: Path, paths: Iterable[Path]) -> set[Path]:
    """``paths`` (report files of this run) that fall inside ``root``, relative to it."""
    inside = set()
    for p in paths:
        try:
            inside.add(p.resolve().relative_to(root))
        except ValueError:
            continue
    return inside


def dockerignore_patterns(root: Path) -> list[str] | None:
    """The patterns of ``root/.dockerignore``, read as docker-py reads them; None if absent."""
    path = root / ".dockerignore"
    if not path.is_file() or path.is_symlink():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SubmissionError(f"{path}: cannot read it ({exc}); save it as UTF-8 text") from None
    lines = [line.strip() for line in text.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def _not_ignored(root: Path, dockerfile: str) -> set[Path] | None:
    """Paths ``docker build`` would send given the .dockerignore (docker-py's own matcher, the
    Dockerfile always kept, as the engine keeps it); None when there is no .dockerignore."""
    patterns = dockerignore_patterns(root)
    if patterns is None:
        return None
    from docker.utils.build import exclude_paths

    return {Path(p) for p in exclude_paths(str(root), patterns, dockerfile=dockerfile)}


def _list_files(
    root: Path, exclude: set[Path] | None = None, dockerfile: str = "Dockerfile"
) -> tuple[Path, ...]:
    exclude = exclude or set()
    kept = _not_ignored(root, dockerfile)
    # folders that are sent or hold something sent (a `!` pattern inside an ignored folder)
    holders = kept | {d for p in kept for d in p.parents} if kept is not None else set()
    files: list[Path] = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in EXCLUDED_DIRS)
        if kept is not None:  # an ignored folder is never read, nor counted against the cap
            base = Path(dirpath).relative_to(root)
            dirnames[:] = [d for d in dirnames if base / d in holders]
        for name in sorted(filenames):
            full = Path(dirpath) / name
            rel = full.relative_to(root)
            if rel in exclude:  # a report this run writes: never part of what is built
                continue
            if kept is not None and rel not in kept:  # .dockerignore
                continue
            if not full.is_symlink():
                total += full.stat().st_size
                if total > MAX_CONTEXT_BYTES:
                    raise SubmissionError(
                        f"{root}: submission is larger than {MAX_CONTEXT_BYTES >> 20} MiB; "
                        "remove build outputs and dependencies (they are installed at build)"
                    )
            files.append(rel)
        for d in dirnames:
            if (Path(dirpath) / d).is_symlink():
                rel = (Path(dirpath) / d).relative_to(root)
                if kept is None or rel in kept:
                    files.append(rel)
    return tuple(files)


def load_submission(path: Path, *, reports: Iterable[Path] = ()) -> Submission:
    """Validate a submission directory; raise SubmissionError naming the problem and the fix.

    ``reports``: files this run will write; those inside the submission are left out of the
    build context and its cache key, so writing them cannot change what is built.
    """
    if not path.exists():
        raise SubmissionError(f"submission path {path} does not exist")
    if not path.is_dir():
        raise SubmissionError(f"submission {path} is not a directory; pass the service's folder")
    root = path.resolve()
    exclude = _inside(root, reports)
    has_dockerfile = (root / "Dockerfile").is_file()
    toml_path = root / "assess.toml"
    if toml_path.is_file():
        try:
            raw = tomllib.loads(toml_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SubmissionError(f"{toml_path}: invalid TOML: {exc}") from None
        if raw.get("runtime") is not None and raw.get("runtime") not in RUNTIMES:
            raise SubmissionError(
                f"{toml_path}: unknown runtime {raw.get('runtime')!r}; use one of "
                f"{', '.join(RUNTIMES)}, or ship a Dockerfile instead"
            )
        try:
            preset = AssessToml.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
            raise SubmissionError(f"{toml_path}: field '{loc}': {err['msg']}") from None
        return Submission(root, "preset", preset, _list_files(root, exclude, GENERATED_DOCKERFILE))
    if has_dockerfile:
        return Submission(root, "dockerfile", None, _list_files(root, exclude))
    raise SubmissionError(
        f"{root}: no Dockerfile and no assess.toml; add one "
        '(see docs/submissions.md: runtime = "python" | "node" and a start command)'
    )
