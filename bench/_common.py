"""What every benchmark prints first: the machine it ran on (figures mean nothing without it)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from runner.challenges.registry import Challenge, Load, Registry
from runner.grading.images import BuildResult, Images
from runner.grading.pipeline import RunOptions, build_submission, host_fingerprint
from runner.grading.pod import docker_client
from runner.intake.submission import load_submission


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
