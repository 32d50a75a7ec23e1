"""The wrong-port watch: says at once that the service listens elsewhere, never while it is
still busy starting, never when the contract's port is held."""

from __future__ import annotations

from runner.grading.readiness import WrongPortWatch, idle
from runner.grading.watchers import Sample


def samples(cpu_per_s: float, seconds: int = 4) -> list[Sample]:
    return [Sample(t=float(t), cpu_s=cpu_per_s * t, mem_mb=10.0, pids=3) for t in range(seconds)]


def test_an_idle_service_on_the_wrong_port_is_told_at_once() -> None:
    watch = WrongPortWatch(8080, settle_s=0.0)
    msg = watch.look({9000: {"candidate"}, 5557: {"grader"}}, samples(0.001), 3.2)
    assert msg is not None
    assert msg.startswith("the service listens on 9000, the contract is 8080")


def test_a_busy_service_is_left_to_start() -> None:
    """Still running migrations (CPU busy) with a metrics port open: not cut short."""
    watch = WrongPortWatch(8080, settle_s=0.0)
    assert watch.look({9090: {"candidate"}}, samples(0.5), 3.2) is None


def test_the_contract_port_held_or_nothing_held_is_fine() -> None:
    watch = WrongPortWatch(8080, settle_s=0.0)
    assert watch.look({8080: {"candidate"}, 9090: {"candidate"}}, samples(0.0), 3.2) is None
    assert watch.look({}, samples(0.0), 3.2) is None
    assert watch.look({5432: {"sidecar-db"}}, samples(0.0), 3.2) is None


def test_it_waits_the_settle_time_and_for_samples() -> None:
    watch = WrongPortWatch(8080, settle_s=60.0)
    assert watch.look({9000: {"candidate"}}, samples(0.0), 3.2) is None
    assert not idle([], 3.0)
    assert not idle(samples(0.0, 1), 1.0)  # one sample: cannot tell
    assert not idle(samples(0.0), 10.0)  # the last sample is stale


def test_url_mode_says_at_once_that_nothing_listens() -> None:
    import socket

    from runner.grading.readiness import ClosedPortWatch

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # a port nothing listens on
    watch = ClosedPortWatch(f"http://127.0.0.1:{port}", settle_s=0.0)
    msg = watch.look()
    assert msg == (
        f"nothing listens on 127.0.0.1:{port} (connection refused for 0 s): "
        "start the service first, or give its address with --url"
    )
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    try:
        assert ClosedPortWatch(f"http://127.0.0.1:{server.getsockname()[1]}").look() is None
    finally:
        server.close()
