"""One line per service action a check asked for (kill, stop, start, restart), for every report."""

from __future__ import annotations

from graders.protocol import ServiceAnswer


def action_line(a: ServiceAnswer) -> str:
    """``at 12.3 s: restart candidate: exited with code 0, ..., ready again in 0.8 s``."""
    what = a.message or ("done" if a.ok else "failed")
    state = "" if a.ok else "FAILED: "
    return f"at {a.t:.1f} s: {a.action} {a.service}: {state}{what} ({a.seconds:.1f} s)"
