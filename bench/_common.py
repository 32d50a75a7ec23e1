"""What every benchmark prints first: the machine it ran on (figures mean nothing without it)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from runner.grading import host_fingerprint


def machine_facts() -> None:
    host = host_fingerprint()
    print(f"date:   {datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"cores:  {host['cores']}  cpu: {host['cpu_model']}  memory: {host['memory_mb']} MiB")
    print(
        f"load:   {Path('/proc/loadavg').read_text().strip()}  (other work on the machine shows here)"
    )
