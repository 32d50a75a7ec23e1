"""Honest soak: reference submissions graded under CPU and I/O stress; ``tampered`` must be 0.

A false accusation is worse than a missed one (runner/grading/attribution.py). This grades the reference
solutions of challenges with sidecars and of the tiny fixture, round robin, ``--runs`` times,
while stress-ng (Debian's package: ``apt-get install stress-ng``) keeps the CPU and the disk
busy, bounded by its own ``--timeout``. It prints each grading's verdict and the integrity notes
(what the watch found suspicious but not certain), then the totals: gradings, verdicts, tampered
(must be 0: exit 1 otherwise), notes, the machine, the date and the load average before, during
and after.

    .venv/bin/python bench/honest_soak.py --runs 12            # skip load (the default)
    .venv/bin/python bench/honest_soak.py --runs 6 --load-s 5  # with a short load phase
    .venv/bin/python bench/honest_soak.py --smoke              # 2 gradings, 20 s of stress
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import machine_facts  # noqa: E402
from runner.challenges.registry import Registry, load_challenge  # noqa: E402
from runner.grading.pipeline import RunOptions, grade  # noqa: E402
from runner.grading.pod import docker_client  # noqa: E402
from runner.intake.submission import load_submission  # noqa: E402
from runner.results import Verdict  # noqa: E402

TINY = ROOT / "tests" / "fixtures" / "tiny"
DEFAULT_CHALLENGES = ("tiny", "cache", "rest-api")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def start_stress(cpu: int, io: int, seconds: int) -> subprocess.Popen[bytes]:
    """stress-ng in its own process group, bounded by its own --timeout (and ours, below)."""
    exe = shutil.which("stress-ng")
    if exe is None:
        sys.exit("stress-ng is missing: install it with `apt-get install -y stress-ng` (exit 2)")
    cmd = [exe, "--timeout", f"{seconds}s", "--quiet"]
    if cpu:
        cmd += ["--cpu", str(cpu), "--cpu-load", "100"]
    if io:
        # hdd workers write and read back a bounded file each in a scratch folder
        cmd += ["--hdd", str(io), "--hdd-bytes", "64M", "--temp-path", "/tmp"]
    return subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL)


def stop_stress(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def pool(names: list[str]) -> list[tuple[str, Any, Path]]:
    out = []
    registry = Registry()
    for name in names:
        challenge = load_challenge(TINY) if name == "tiny" else registry.get(name)
        out.append((name, challenge, challenge.root / "solutions" / "reference"))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=12, help="gradings (default 12)")
    parser.add_argument(
        "--challenges", default=",".join(DEFAULT_CHALLENGES), help="comma-separated ids"
    )
    parser.add_argument("--load-s", type=float, default=0.0, help="load phase seconds (0: skip)")
    parser.add_argument("--cpu", type=int, default=os.cpu_count() or 2, help="stress-ng CPU hogs")
    parser.add_argument("--io", type=int, default=1, help="stress-ng disk writers")
    parser.add_argument("--stress-s", type=int, default=900, help="stress-ng --timeout (s)")
    parser.add_argument("--smoke", action="store_true", help="2 gradings, 20 s of stress")
    args = parser.parse_args()
    if args.smoke:
        args.runs, args.stress_s, args.challenges = 2, 20, "tiny,cache"
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    client = docker_client()
    subjects = pool([c.strip() for c in args.challenges.split(",") if c.strip()])
    machine_facts()
    print(
        f"honest soak: {args.runs} gradings of {', '.join(n for n, _, _ in subjects)} "
        f"references; stress-ng --cpu {args.cpu} --hdd {args.io} --timeout {args.stress_s}s; "
        f"load {'skipped' if not args.load_s else f'{args.load_s:g} s'}"
    )
    before = loadavg()
    stress = start_stress(args.cpu, args.io, args.stress_s)
    verdicts: collections.Counter[str] = collections.Counter()
    notes: list[str] = []
    during: list[str] = []
    started = time.monotonic()
    try:
        time.sleep(2.0)  # let the hogs take the CPU before the first grading
        for i in range(args.runs):
            name, challenge, path = subjects[i % len(subjects)]
            opts = RunOptions(
                skip_load=not args.load_s,
                load_duration_s=args.load_s or None,
            )
            t = time.monotonic()
            results = grade(client, challenge, load_submission(path), opts)
            verdicts[results.verdict.value] += 1
            mine = [n for n in results.score_notes if n.startswith("integrity:")]
            notes += mine
            during.append(loadavg())
            stressed = "stressed" if stress.poll() is None else "stress over"
            print(
                f"{i + 1:4d} {name:10s} {results.verdict.value:12s} score {results.score:5.1f} "
                f"{time.monotonic() - t:6.1f} s  load {during[-1]}  ({stressed})",
                flush=True,
            )
            for note in mine:
                print(f"       {note}")
    finally:
        stop_stress(stress)
    tampered = verdicts.get(Verdict.TAMPERED.value, 0)
    print()
    print(f"gradings: {sum(verdicts.values())} in {time.monotonic() - started:.0f} s")
    print(f"verdicts: {dict(sorted(verdicts.items()))}")
    print(f"tampered: {tampered} (must be 0)")
    print(f"integrity notes (uncertain, not punished): {len(notes)}")
    print(f"load average: before {before}; during {' | '.join(during)}; after {loadavg()}")
    return 1 if tampered else 0


if __name__ == "__main__":
    sys.exit(main())
