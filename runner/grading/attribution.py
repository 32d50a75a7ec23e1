"""When an ownership reading of the pod's listening sockets becomes a ``tampered`` verdict.

A false accusation is worse than a missed one: on a busy host a socket of our own can look
unowned for a moment (it closed, or its process forked or exec'd, between reading the socket
table and reading the processes' descriptors). So a reserved port held by someone else is only
ever *confirmed* from several readings taken apart in time, each of them consistent
(:meth:`runner.grading.pod.Pod.listener_owners` keeps a socket only when it is in the table both
before and after the descriptors were read, and labels a socket "unverified" rather than
"unknown" when one of our own containers' process lists could not be read):

- the candidate's process holding a reserved port's socket is confirmed by two readings in a
  row (the socket inode is in the candidate's own descriptors: there is no race that puts it
  there);
- a socket nobody of the pod holds ("unknown") is confirmed only when it is there in every one
  of ``1 + len(RECHECK_DELAYS_S)`` readings spread over about a second and a half;
- "unverified" (our own process list was unreadable) never confirms anything.

Anything seen once and gone on a re-check is transient; anything that persisted without being
certain is noted and looked at again on the next turn of the watch, never punished. This module
holds only the decision (a pure function over readings, unit-tested with fakes); the readings
come from the Pod.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# Delays before each re-check of a suspicious reading (seconds): a port of our own that looked
# unowned under CPU starvation was seen again, owned, within a few hundred ms.
RECHECK_DELAYS_S: tuple[float, ...] = (0.1, 0.4, 1.0)
CANDIDATE_CONFIRMATIONS = 2  # readings in a row for a candidate-held reserved port

Owners = Mapping[int, set[str]]


@dataclass(frozen=True)
class Finding:
    """A reserved ``port`` whose listening sockets are held by ``others`` besides ``owner``."""

    port: int
    owner: str
    others: frozenset[str]


@dataclass(frozen=True)
class Decision:
    """``confirmed``: findings certain enough to be a verdict; ``note``: what was suspicious
    but not certain (recorded, retried on the next turn); both empty: all is well."""

    confirmed: tuple[Finding, ...] = ()
    note: str = ""


def findings(owners: Owners, reserved: Mapping[int, str]) -> list[Finding]:
    """Reserved ports held by anyone but their owner in one reading."""
    out = []
    for port, owner in sorted(reserved.items()):
        others = set(owners.get(port, set())) - {owner}
        if owner != "candidate":
            others.discard("helper")  # uid rule (no host view): one of ours, cannot tell which
        if others:
            out.append(Finding(port, owner, frozenset(others)))
    return out


def enough(readings: Sequence[Sequence[Finding]]) -> bool:
    """True when more readings cannot change :func:`decide`'s answer (stop re-checking)."""
    return (
        not readings[-1]
        or len(readings) >= 1 + len(RECHECK_DELAYS_S)
        or bool(decide(readings).confirmed)
    )


def _held(readings: Sequence[Sequence[Finding]]) -> dict[int, list[frozenset[str]]]:
    """Port -> who else held it in each reading, for ports found in every reading."""
    per_port: dict[int, list[frozenset[str]]] = {}
    for reading in readings:
        for f in reading:
            per_port.setdefault(f.port, []).append(f.others)
    return {p: seen for p, seen in per_port.items() if len(seen) == len(readings)}


def decide(readings: Sequence[Sequence[Finding]]) -> Decision:
    """The verdict-worthy findings of consecutive readings (the first one suspicious).

    A port is confirmed when it is found in every reading and either the candidate held it in
    the last CANDIDATE_CONFIRMATIONS readings, or an "unknown" socket held it in all of at
    least ``1 + len(RECHECK_DELAYS_S)`` readings. Anything else is a note.
    """
    if not readings or not readings[0]:
        return Decision()
    held = _held(readings)
    confirmed: list[Finding] = []
    for f in readings[-1]:
        seen = held.get(f.port)
        if seen is None:
            continue
        recent = seen[-CANDIDATE_CONFIRMATIONS:]
        by_candidate = len(recent) == CANDIDATE_CONFIRMATIONS and all(
            "candidate" in o for o in recent
        )
        by_nobody = len(seen) >= 1 + len(RECHECK_DELAYS_S) and all("unknown" in o for o in seen)
        if by_candidate or by_nobody:
            confirmed.append(f)
    if confirmed:
        return Decision(tuple(confirmed))
    first = readings[0][0]
    who = ", ".join(sorted(first.others))
    if not readings[-1]:
        return Decision(
            note=f"port {first.port} (reserved for {first.owner}) looked held by {who}; "
            f"gone on re-check ({len(readings)} readings): transient, not tampering"
        )
    return Decision(
        note=f"port {first.port} (reserved for {first.owner}) looked held by {who}, but the "
        f"owner could not be established with certainty in {len(readings)} readings: "
        "not counted as tampering, looked at again"
    )
