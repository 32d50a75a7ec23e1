"""Calibration: the challenge's reference solution measured on this machine.

Load figures depend on the machine. ``assess calibrate CHALLENGE`` grades the reference with its
load profile and stores its figures, keyed by challenge version and a host fingerprint (CPU
model, cores, memory). A later run on the same machine reports each load figure also as a
ratio to the reference's, so grades from a laptop and a CI runner can be compared: "0.8x the
reference's capacity" means the same on both.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from graders.protocol import LoadResult
from runner.challenges.registry import Challenge

FIGURES = ("achieved_rps", "p50_ms", "p95_ms", "p99_ms", "capacity_rps")
METHOD = "knee"  # how capacity was found; records of the old fixed step-up do not score


def figures(load: LoadResult) -> dict[str, float | None]:
    m = load.measured
    return {
        "achieved_rps": m.achieved_rps,
        "p50_ms": m.p50_ms,
        "p95_ms": m.p95_ms,
        "p99_ms": m.p99_ms,
        "capacity_rps": load.capacity_rps,
    }


def store_dir() -> Path:
    home = os.environ.get("ASSESS_HOME")
    base = Path(home) if home else Path.home() / ".cache" / "assess"
    return base / "calibration"


def host_key(host: dict[str, Any]) -> str:
    ident = f"{host.get('cpu_model')}|{host.get('cores')}|{round(host.get('memory_mb', 0) / 1024)}"
    return hashlib.sha256(ident.encode()).hexdigest()[:12]


def path_for(challenge: Challenge, host: dict[str, Any]) -> Path:
    return store_dir() / f"{challenge.id}-{challenge.config.version}-{host_key(host)}.json"


def save(challenge: Challenge, host: dict[str, Any], load: LoadResult, run_id: str) -> Path:
    path = path_for(challenge, host)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "challenge": challenge.id,
        "challenge_version": challenge.config.version,
        "host_key": host_key(host),
        "host": host,
        "run_id": run_id,
        "figures": figures(load),
        "method": METHOD,
        "capacity_lower_rps": load.capacity_lower_rps,
        "generator_limited": load.generator_limited,
    }
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


def stored(challenge: Challenge, host: dict[str, Any]) -> dict[str, Any] | None:
    path = path_for(challenge, host)
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def compare(load: LoadResult, record: dict[str, Any]) -> dict[str, Any]:
    """Each figure as a ratio to the reference's (higher is better for rates, lower for times)."""
    ratios: dict[str, float | None] = {}
    mine_all = figures(load)
    for key in FIGURES:
        mine, ref = mine_all.get(key), record["figures"].get(key)
        ok = isinstance(mine, int | float) and isinstance(ref, int | float) and ref > 0
        ratios[key] = round(float(mine) / float(ref), 3) if ok else None  # type: ignore[arg-type]
    return {
        "reference": record["figures"],
        "ratios": ratios,
        "host_key": record["host_key"],
        "reference_run_id": record.get("run_id"),
    }


def reference_capacity(challenge: Challenge, host: dict[str, Any]) -> float | None:
    """The reference's capacity on this host (the offered rate on the search's grid), if it
    was calibrated by the knee search: the full mark of the capacity points."""
    record = stored(challenge, host)
    if record is None or record.get("method") != METHOD:
        return None
    value = record.get("capacity_lower_rps")
    return float(value) if isinstance(value, int | float) and value > 0 else None


# -- the load generator's own ceiling -------------------------------------------------------
def ceiling_path(host: dict[str, Any], workers: int) -> Path:
    return store_dir() / f"generator-ceiling-{host_key(host)}-w{workers}.json"


def save_ceiling(host: dict[str, Any], workers: int, rps: float, detail: dict[str, Any]) -> Path:
    path = ceiling_path(host, workers)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"host_key": host_key(host), "host": host, "workers": workers, "rps": rps, **detail}
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


def stored_ceiling(host: dict[str, Any], workers: int) -> float | None:
    """The highest rate the generator sustained on this host with this many workers."""
    try:
        value = json.loads(ceiling_path(host, workers).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    rps = value.get("rps") if isinstance(value, dict) else None
    return float(rps) if isinstance(rps, int | float) and rps > 0 else None
