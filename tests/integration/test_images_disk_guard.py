"""The build disk guard on the real engine: a Dockerfile that forges our run label is still
stopped, and a concurrent unrelated build on the same engine is left alone."""

from __future__ import annotations

import contextlib
import io
import shutil
import tarfile
import threading
import time
from typing import Any

import pytest

from runner.grading.images import BASE_TAG, docker_root, stream_build

pytestmark = pytest.mark.docker


def _context(dockerfile: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_forged_labels_do_not_hide_a_step_and_other_builds_live(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = docker_root(client)
    free_mb = shutil.disk_usage(root).free / 2**20
    # A few hundred MiB below the free space now: the guard trips early, the host is safe.
    # The filler writes at most 1.5 GiB, so without a working guard it ends by itself.
    monkeypatch.setenv("ASSESS_MIN_FREE_DISK_MB", str(int(free_mb - 300)))

    # An unrelated build, started first, whose step is running while the guard trips.
    other_log: list[str] = []
    other_running = threading.Event()

    def other_build() -> None:
        for chunk in client.api.build(
            fileobj=io.BytesIO(_context(f"FROM {BASE_TAG}\nRUN sleep 10 && echo unrelated-done\n")),
            custom_context=True,
            tag="assess-test/unrelated-build:latest",
            rm=True,
            forcerm=True,
            nocache=True,
            decode=True,
            labels={"assess.managed": "true"},  # looks like ours: must not matter
        ):
            other_log.append(str(chunk.get("stream", "")) + str(chunk.get("error", "")))
            if "Running in" in other_log[-1]:
                other_running.set()

    thread = threading.Thread(target=other_build, daemon=True)
    thread.start()
    try:
        assert other_running.wait(60), "".join(other_log)
        filler = (
            f"FROM {BASE_TAG}\n"
            "LABEL assess.run=forged assess.owner-pid=1 assess.role=candidate\n"
            "RUN dd if=/dev/zero of=/fill bs=1M count=1500 status=none\n"
        )
        start = time.monotonic()
        result = stream_build(
            client, _context(filler), tag="assess-test/disk-filler:latest", timeout_s=120
        )
        assert not result.ok, result.log_tail
        assert "free disk fell below" in result.reason
        assert time.monotonic() - start < 60
        thread.join(60)
        assert not thread.is_alive()
        text = "".join(other_log)
        assert "unrelated-done" in text
        assert "Successfully built" in text, text
        # the killed step's container went with what it wrote
        assert shutil.disk_usage(root).free / 2**20 > free_mb - 200
    finally:
        thread.join(60)
        for tag in ("assess-test/unrelated-build:latest", "assess-test/disk-filler:latest"):
            with contextlib.suppress(Exception):
                client.images.remove(tag, force=True)
