"""The submission's image: built, or reused when its inputs are unchanged, before any pod starts.

Tagged ``assess-sub/<challenge>:<hash of the inputs>`` and labelled with the whole hash, so an
unchanged submission is never rebuilt and ``assess gc --images`` knows what is ours.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from runner.challenges.registry import Challenge
from runner.grading.events import HasListener, emit
from runner.grading.images import RUNTIME_TAGS, BuildResult, Images, stream_build
from runner.intake.submission import Submission

SUBMISSION_REPO = "assess-sub"


def build_submission(
    client: Any,
    images: Images,
    challenge: Challenge,
    submission: Submission,
    opts: HasListener,
) -> BuildResult:
    """Build (or reuse) the submission's image."""
    import docker.errors

    start = time.monotonic()
    if submission.kind == "preset":
        images.ensure_runtime(submission.runtime)
    digest = submission.content_hash(RUNTIME_TAGS)
    tag = f"{SUBMISSION_REPO}/{challenge.id}:{digest[:16]}"
    try:
        image = client.images.get(tag)
        if (image.labels or {}).get("assess.inputs") == digest:
            emit(opts.listener, "build", state="cached", tag=tag)
            return BuildResult(
                True,
                str(image.id),
                ["(image reused: the submission is unchanged)"],
                0.0,
                cached=True,
            )
    except docker.errors.ImageNotFound:
        pass
    result = stream_build(
        client,
        submission.context_tar(RUNTIME_TAGS),
        tag=tag,
        dockerfile=submission.dockerfile_name,
        labels={"assess.inputs": digest, "assess.kind": "submission"},
        timeout_s=challenge.config.limits.build_s,
        progress=lambda line: emit(opts.listener, "build_log", line=line),
    )
    return replace(result, seconds=time.monotonic() - start)
