"""This host as a run records it: the machine's fingerprint (CPU model, cores, memory, OS), which
calibration figures are stored under, and the versions of the tools that graded."""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata as md
import os
import platform
from pathlib import Path
from typing import Any


def host_fingerprint() -> dict[str, Any]:
    """This machine, as calibration records and manifests name it. Read once per process (the
    machine does not change under a run; one `assess run` asked three times): a copy each call."""
    return dict(_fingerprint())


@functools.cache
def _fingerprint() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_mb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_mb = int(line.split()[1]) // 1024
    except OSError:
        pass
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count() or 0,
        "memory_mb": mem_mb,
        "os": platform.platform(),
        "machine": platform.machine(),
    }


def tool_versions(client: Any | None) -> dict[str, str]:
    tools = {"python": platform.python_version()}
    for name in ("pytest", "locust", "docker"):
        with contextlib.suppress(md.PackageNotFoundError):
            tools[name] = md.version(name)
    if client is not None:
        with contextlib.suppress(Exception):
            tools["docker_engine"] = str(client.version().get("Version", "?"))
    return tools
