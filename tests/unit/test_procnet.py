"""Reading listening sockets from /proc/net/tcp text."""

from __future__ import annotations

from graders.procnet import parse_listeners

SAMPLE = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 65534        0 1 1
   1: 0100007F:15B5 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1
   2: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000 65534        0 3 1
   0: 00000000000000000000000000000000:15B5 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 65534 0 4 1
"""


def test_listeners_by_port_with_owning_uids() -> None:
    listeners = parse_listeners(SAMPLE)
    assert listeners == {8080: {65534}, 5557: {0, 65534}}  # 5557: root and a squatter (IPv6)


def test_connections_and_headers_are_not_listeners() -> None:
    assert parse_listeners(SAMPLE.splitlines()[0]) == {}
    assert 0xD2F0 not in parse_listeners(SAMPLE)
