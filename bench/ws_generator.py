#!/usr/bin/env python3
"""How much WebSocket load the generator itself sustains on one core (realtime challenge).

Starts a trivial Node.js broadcast server on 127.0.0.1 (the `ws` package from the realtime
reference's node_modules, as the reference's own image installed them: the first run builds
that image with `npm ci` inside Docker and copies them to the bench cache) that
sends a small JSON tick, carrying its send time, to every connection RATE times a second. This
process is the generator, built exactly like the load profile's receivers: gevent, graders.ws
connections, one receive greenlet each, JSON parsing and a latency per message, pinned to one
core. Steps: hold CONNECTIONS connections, then raise the broadcast rate step by step and
print, per step, offered and received deliveries/s, the generator's CPU and the delivery p99.
The last step where received >= 98 % of offered and p99 < 250 ms is the sustained figure.
Bounded: each step lasts STEP_S seconds; the whole run stays under two minutes.

    .venv/bin/python bench/ws_generator.py [--connections 400] [--step-s 5]
    .venv/bin/python bench/ws_generator.py --smoke   # 20 connections, two 1 s steps
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_facts, node_modules  # noqa: E402

from graders.expect import CheckFailed  # noqa: E402
from graders.ws import connect as ws_connect  # noqa: E402

REFERENCE = ROOT / "challenges/realtime/solutions/reference"
PORT = 18765
SERVER_JS = r"""
const http = require('http');
const { WebSocketServer } = require('ws');
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
const clients = new Set();
let rate = 0, seq = 0, timer = null;
function tick() {
  seq += 1;
  const text = JSON.stringify({ type: 'message', channel: 'bench', seq,
    data: { price: 64210.5, size: 0.25, side: 'buy', ts: Date.now() / 1000 } });
  for (const ws of clients) ws.send(text);
}
const server = http.createServer((req, res) => {
  const m = /^\/rate\/(\d+)$/.exec(req.url);
  if (m) {
    rate = Number(m[1]);
    if (timer) clearInterval(timer);
    timer = rate > 0 ? setInterval(tick, 1000 / rate) : null;
  }
  res.end(JSON.stringify({ clients: clients.size, seq }));
});
server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => {
  clients.add(ws);
  ws.on('close', () => clients.delete(ws));
}));
server.listen(Number(process.env.PORT), '127.0.0.1');
"""


class Stats:
    received = 0
    latencies: list[float] = []


def receiver(base: str, stop: list[bool], opened: list[int]) -> None:
    try:
        ws = ws_connect(base, "/ws", timeout_s=10)
    except CheckFailed:
        return
    opened[0] += 1
    last_ping = time.monotonic()
    try:
        while not stop[0]:
            got = ws.poll_message(0.25)
            now = time.monotonic()
            if now - last_ping > 1:
                ws.send_ping(b"hb")
                last_ping = now
            if got is not None:
                event = json.loads(got[1])
                Stats.received += 1
                Stats.latencies.append(time.time() - event["data"]["ts"])
    except CheckFailed:
        pass
    finally:
        ws.close()


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def set_rate(base: str, rate: int) -> None:
    with urllib.request.urlopen(f"{base}/rate/{rate}", timeout=5) as r:  # loopback only
        r.read(4096)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connections", type=int, default=400)
    ap.add_argument("--step-s", type=float, default=5.0)
    ap.add_argument(
        "--rates",
        default="5,10,20,40,60,80,100",
        help="broadcast messages/s per step (each goes to every connection)",
    )
    ap.add_argument("--smoke", action="store_true", help="20 connections, two 1 s steps")
    args = ap.parse_args()
    if args.smoke:
        args.connections, args.step_s, args.rates = 20, 1.0, "5,10"
    if shutil.which("node") is None:
        sys.exit("node not found: apt-get install nodejs (the broadcast server runs on the host)")
    machine_facts()
    modules = node_modules("realtime", REFERENCE)
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # the generator gets one core
    env = {**os.environ, "PORT": str(PORT), "NODE_PATH": str(modules)}
    server = subprocess.Popen(["node", "-e", SERVER_JS], env=env)
    base = f"http://127.0.0.1:{PORT}"
    stop, opened = [False], [0]
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                set_rate(base, 0)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                gevent.sleep(0.1)  # poll until the server listens
        t0 = time.monotonic()
        greenlets = [gevent.spawn(receiver, base, stop, opened) for _ in range(args.connections)]
        while opened[0] < args.connections and time.monotonic() - t0 < 20:
            gevent.sleep(0.05)
        print(
            f"connections: {opened[0]}/{args.connections} open in {time.monotonic() - t0:.1f} s "
            f"(generator pinned to one core)"
        )
        print(
            f"{'msgs/s':>7} {'offered/s':>10} {'received/s':>11} {'cpu':>5} {'p50 ms':>7} "
            f"{'p99 ms':>7}"
        )
        best = None
        for rate in [int(r) for r in args.rates.split(",")]:
            set_rate(base, rate)
            gevent.sleep(1.0)  # settle into the new rate before measuring
            Stats.received, Stats.latencies = 0, []
            c0, w0 = cpu_s(), time.monotonic()
            gevent.sleep(args.step_s)
            wall = time.monotonic() - w0
            got = Stats.received / wall
            offered = rate * opened[0]
            lat = sorted(Stats.latencies) or [0.0]
            p50 = lat[len(lat) // 2] * 1000
            p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
            cpu = (cpu_s() - c0) / wall
            print(f"{rate:>7} {offered:>10.0f} {got:>11.0f} {cpu:>5.0%} {p50:>7.1f} {p99:>7.1f}")
            if got >= 0.98 * offered and p99 < 250:
                best = (opened[0], got)
            elif best is not None:
                break
        set_rate(base, 0)
        print("figures:")
        if best:
            print(f"sustained: {best[0]} connections, {best[1]:.0f} deliveries/s on one core")
        else:
            print("sustained: none of the steps (the generator could not keep up)")
    finally:
        stop[0] = True
        gevent.joinall(greenlets if "greenlets" in dir() else [], timeout=3)
        server.terminate()
        server.wait(timeout=5)
    print(f"load at end: {Path('/proc/loadavg').read_text().strip()}")


if __name__ == "__main__":
    main()
