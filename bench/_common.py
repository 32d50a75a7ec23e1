"""What every benchmark prints first: the machine it ran on (figures mean nothing without it)."""

from __future__ import annotations

import io
import os
import socket
import sys
import tarfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from runner.challenges.registry import Challenge, Load, Registry
from runner.grading.build import build_submission
from runner.grading.host import host_fingerprint
from runner.grading.images import BuildResult, Images
from runner.grading.pipeline import RunOptions
from runner.grading.pod import docker_client
from runner.intake.submission import load_submission


def load_average() -> str:
    return Path("/proc/loadavg").read_text().strip()


def machine_facts() -> None:
    host = host_fingerprint()
    print(f"date:   {datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"cores:  {host['cores']}  cpu: {host['cpu_model']}  memory: {host['memory_mb']} MiB")
    print(
        f"load:   {Path('/proc/loadavg').read_text().strip()}  (other work on the machine shows here)"
    )


@dataclass
class Prepared:
    client: Any
    challenge: Challenge
    load: Load
    grader_image: str
    build: BuildResult
    seconds: float


def prepare(challenge_id: str, submission: Path) -> Prepared:
    """The engine, the challenge, warm images and the built submission; exits on failure."""
    start = time.monotonic()
    try:
        client = docker_client()
        challenge = Registry().get(challenge_id)
        if challenge.config.load is None:
            sys.exit(f"setup: challenge {challenge_id} has no load profile")
        images = Images(client)
        grader = images.ensure_grader()
        build = build_submission(
            client, images, challenge, load_submission(submission), RunOptions()
        )
    except Exception as exc:  # setup failure: no engine, no images, no challenge
        sys.exit(f"setup failed: {exc.__class__.__name__}: {exc}")
    if not build.ok:
        sys.exit(f"setup: {submission} did not build: {build.reason}")
    return Prepared(
        client, challenge, challenge.config.load, grader, build, time.monotonic() - start
    )


def cache_dir() -> Path:
    home = os.environ.get("ASSESS_HOME")
    return (Path(home) if home else Path.home() / ".cache" / "assess") / "bench"


def node_modules(challenge_id: str, submission: Path) -> Path:
    """The submission's ``node_modules`` as its own image installed them (``npm ci`` inside the
    Docker build a grading runs), copied once into the bench cache: nothing to install by hand,
    and the source tree stays as it is."""
    dest = cache_dir() / f"{challenge_id}-{submission.name}"
    if (dest / "node_modules").is_dir():
        return dest / "node_modules"
    ready = prepare(challenge_id, submission)
    from runner.grading.labels import LABEL_MANAGED, LABEL_PID, LABEL_ROLE

    labels = {LABEL_MANAGED: "true", LABEL_ROLE: "bench", LABEL_PID: str(os.getpid())}
    labels["assess.owner-host"] = socket.gethostname()
    container = ready.client.containers.create(
        ready.build.image_id, command=["true"], labels=labels
    )
    try:
        chunks, _ = container.get_archive("/app/node_modules")
        archive = io.BytesIO(b"".join(chunks))
    finally:
        container.remove(force=True)
    partial = dest.with_name(dest.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=archive) as tar:
        tar.extractall(partial, filter="data")  # our own image's files; the filter all the same
    partial.rename(dest)
    print(f"node_modules: copied from the {challenge_id} {submission.name} image to {dest}")
    return dest / "node_modules"
