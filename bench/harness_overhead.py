#!/usr/bin/env python3
"""What assess's load generator costs, against bare Locust and against wrk, on one core.

A local nginx (one worker, pinned to core 1) serves a tiny JSON body for ``GET /item/<n>``.
Each round drives it, one tool at a time, from core 0 with the same profile (32 users or
connections, unpaced, 10 s):

- bare Locust: a minimal ``FastHttpUser`` locustfile, headless, ``wait_time = constant(0)``;
- assess: the same locustfile through ``graders.load.generator.run`` in a subprocess, started exactly
  as ``graders/load/phase.py`` starts it, with a target rate so high that pacing never waits;
- wrk: ``wrk -t1 -c32 -d10s``, a C load generator, as a ceiling for one core.

How to read it: ``assess/bare`` near 1.0 means the runner's bookkeeping (per-request listener,
per-second samples, paced wait) costs little next to Locust itself; below 1.0 is its overhead.
``locust/wrk`` is how much of one core's HTTP capacity a Python generator reaches; when the
nginx worker's CPU is near 1.0 under wrk, wrk was limited by nginx, so that ratio is an upper
bound. ``gen cpu`` is the generator process's CPU time over wall time (1.0 = one core busy);
assess's own figure comes from its ``load_result`` event, and ``saturated`` is its verdict
(generator CPU >= 0.90). Rounds are repeated (``--runs``) and min/max are printed, since other
work on the machine moves the figures.

    python bench/harness_overhead.py [--runs 3] [--seconds 10] [--users 32] [--port 18400]
    python bench/harness_overhead.py --smoke   # one round of 5 s per tool, 4 users

Installs Debian's ``nginx-light`` and ``wrk`` with apt-get if they are missing. Traffic goes
to 127.0.0.1 only; every phase is bounded by ``--seconds`` (and a kill timer).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from _common import machine_facts  # bench/ is on sys.path when run as a script

from graders.protocol import (  # pure dataclasses: no gevent or locust in this process
    LoadPlan,
    LoadResult,
    LoadResultEvent,
    Plan,
    Slo,
    decode_event,
    dumps,
)

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
# Same bootstrap as graders/load/phase.py (kept literal so this process never imports gevent/locust).
BOOTSTRAP = (
    "from gevent import monkey; monkey.patch_all(); import runpy, sys; "
    "sys.argv = sys.argv[:1] + sys.argv[1:]; runpy.run_module('graders.load.generator', run_name='__main__')"
)
GEN_CORE, SERVER_CORE = "0", "1"

LOCUSTFILE = '''\
"""Minimal profile for bench/harness_overhead.py: one GET per task, no think time."""

import random

from locust import FastHttpUser, constant, task


class ItemUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def item(self):
        self.client.get(f"/item/{random.randint(1, 10000)}", name="/item/[n]")
'''

NGINX_CONF = """\
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 60s;
    server {{
        listen 127.0.0.1:{port};
        default_type application/json;
        location ~ "^/item/([0-9]+)$" {{ return 200 '{{"id":$1,"name":"item","ok":true}}'; }}
        location = /healthz {{ return 200 '{{"ok":true}}'; }}
        location / {{ return 404 '{{"error":"not found"}}'; }}
    }}
}}
"""


def ensure_tools() -> None:
    missing = [pkg for pkg, exe in (("nginx-light", "nginx"), ("wrk", "wrk")) if not find(exe)]
    if not missing:
        print(f"install: nginx ({find('nginx')}) and wrk ({find('wrk')}) already present")
        return
    pid_before = Path("/run/nginx.pid").exists()
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    print(f"install: missing {', '.join(missing)}; running: {' '.join(cmd)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    rc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if rc.returncode != 0:  # an old or empty package list: refresh it once
        print("install: apt-get install failed; running apt-get update and retrying")
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=False)
        rc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if rc.returncode != 0 or not find("nginx") or not find("wrk"):
        sys.exit(f"install failed:\n{rc.stdout[-2000:]}\n{rc.stderr[-2000:]}")
    print(f"install: done ({len(rc.stdout.splitlines())} lines of apt output)")
    stop_packaged_nginx(pid_before)


def stop_packaged_nginx(pid_before: bool) -> None:
    """If the package's scripts started the system nginx (port 80), stop that one process."""
    pidfile = Path("/run/nginx.pid")
    if pid_before or not pidfile.exists():
        return
    try:
        pid = int(pidfile.read_text().strip())
        if Path(f"/proc/{pid}/comm").read_text().strip() == "nginx":
            os.kill(pid, signal.SIGQUIT)
            print(f"install: the package started the system nginx (pid {pid}); stopped it")
    except (OSError, ValueError):
        pass


def find(exe: str) -> str | None:
    return shutil.which(exe) or next(
        (p for d in ("/usr/sbin", "/sbin") if os.access(p := f"{d}/{exe}", os.X_OK)), None
    )


def get(url: str) -> tuple[int, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=2) as resp:
        return resp.status, resp.read()


def start_nginx(tmp: Path, port: int) -> subprocess.Popen[bytes]:
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, port=port))
    nginx = find("nginx")
    assert nginx is not None
    cmd = ["taskset", "-c", SERVER_CORE, nginx, "-p", str(tmp), "-c", str(conf), "-e", "stderr"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(100):
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            sys.exit(f"nginx exited at start: {err.strip()}")
        try:
            status, _ = get(f"http://127.0.0.1:{port}/healthz")
            s2, b2 = get(f"http://127.0.0.1:{port}/item/7")
            if status == 200 and s2 == 200 and json.loads(b2)["id"] == 7:
                print(f"nginx:  pid {proc.pid} on 127.0.0.1:{port}, core {SERVER_CORE}: {b2!r}")
                return proc
        except (OSError, ValueError, KeyError):
            time.sleep(0.05)
    stop(proc)
    sys.exit("nginx did not answer /healthz")


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGQUIT)  # nginx: graceful shutdown of master and worker
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def nginx_worker_cpu(master: int) -> float:
    """CPU seconds of the nginx worker(s): children of the master (the taskset'd process)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == master:  # ppid
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def core_idle_ticks(core: str) -> int:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{core} "):
            return int(line.split()[4]) + int(line.split()[5])  # idle + iowait
    return 0


class Measure:
    """Wall time, CPU of waited-for children, the nginx worker's CPU and the generator core's
    idle share, around one tool (idle near 0 with generator CPU well below 1: core shared)."""

    def __init__(self, master: int) -> None:
        self.master = master

    def __enter__(self) -> Measure:
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu0 = ru.ru_utime + ru.ru_stime
        self.srv0 = nginx_worker_cpu(self.master)
        self.idle0 = core_idle_ticks(GEN_CORE)
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.monotonic() - self.t0
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu = ru.ru_utime + ru.ru_stime - self.cpu0
        self.server_cpu = (nginx_worker_cpu(self.master) - self.srv0) / self.wall
        idle = (core_idle_ticks(GEN_CORE) - self.idle0) / os.sysconf("SC_CLK_TCK")
        self.core_idle = idle / self.wall


def run_bounded(cmd: list[str], timeout: float, **kw: Any) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{cmd[2]} outlived its {timeout:.0f} s budget") from exc


def num(text: str) -> float:
    """A figure from Locust's CSV ("N/A" when nothing was measured: NaN, printed as nan)."""
    try:
        return float(text)
    except ValueError:
        return float("nan")


def div(a: float, b: float) -> float:
    return a / b if b else float("nan")


def bare_locust(tmp: Path, url: str, users: int, seconds: int, master: int) -> dict[str, float]:
    prefix = tmp / "bare"
    cmd = [
        "taskset", "-c", GEN_CORE, str(VENV_BIN / "locust"), "-f", str(tmp / "locustfile.py"),
        "--headless", "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "-H", url,
        "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "1",
    ]  # fmt: skip
    with Measure(master) as m:
        cp = run_bounded(cmd, seconds + 60, cwd=tmp)
    rows = list(csv.DictReader((tmp / "bare_stats.csv").open()))
    agg = next(r for r in rows if r["Name"] == "Aggregated")
    if cp.returncode not in (0, 1):  # 1: some requests failed (reported below)
        raise RuntimeError(f"locust exited {cp.returncode}: {cp.stderr[-500:]}")
    return {
        "rps": num(agg["Requests/s"]),
        "requests": num(agg["Request Count"]),
        "failures": num(agg["Failure Count"]),
        "p95_ms": num(agg["95%"]),
        "cpu": m.cpu / m.wall,  # includes start-up and shutdown, so a little low
        "server_cpu": m.server_cpu,
        "core_idle": m.core_idle,
    }


def assess_loadgen(tmp: Path, url: str, users: int, seconds: int, master: int) -> dict[str, Any]:
    plan = Plan(
        service_url=url,
        challenge_dir=str(tmp),
        results_path=str(tmp / "results.json"),
        seed=1,
        load=LoadPlan(
            locustfile="locustfile.py",
            users=users,
            target_rps=100_000,
            warmup_s=1,
            duration_s=seconds,
            max_steps=0,
            step_s=5,
            slo=Slo(p95_ms=1000, p99_ms=2000, max_error_rate=0.01),
        ),
    )
    path = tmp / "assess_config.json"
    path.write_text(dumps(plan))
    cmd = ["taskset", "-c", GEN_CORE, sys.executable, "-c", BOOTSTRAP, str(path)]
    env = {**os.environ, "ASSESS_SEED": "1", "PYTHONPATH": str(ROOT)}
    with Measure(master) as m:
        cp = run_bounded(cmd, seconds + 60, env=env, cwd=ROOT)
    result: LoadResult | None = None
    for line in cp.stdout.splitlines():
        decoded = decode_event(line)
        if decoded is not None and isinstance(decoded[1], LoadResultEvent):
            result = decoded[1].result
    if result is None:
        raise RuntimeError(f"no load_result (exit {cp.returncode}): {cp.stderr[-800:]}")
    measured = [s for s in result.series if s.stage == "measured"]
    return {
        "rps": result.measured.achieved_rps,
        "requests": result.measured.requests,
        "error_rate": result.measured.error_rate,
        "p95_ms": result.measured.p95_ms,
        "cpu": result.measured.generator_cpu,
        "cpu_min": min((s.generator_cpu for s in measured), default=0.0),
        "saturated": result.generator_saturated,
        "server_cpu": m.server_cpu,
        "core_idle": m.core_idle,
    }


def wrk(url: str, users: int, seconds: int, master: int) -> dict[str, float]:
    cmd = [
        "taskset", "-c", GEN_CORE, find("wrk") or "wrk", "-t1", f"-c{users}", f"-d{seconds}s",
        "--latency", f"{url}/item/42",
    ]  # fmt: skip
    with Measure(master) as m:
        cp = run_bounded(cmd, seconds + 30)
    found = re.search(r"Requests/sec:\s*([\d.]+)", cp.stdout)
    if cp.returncode != 0 or not found:
        raise RuntimeError(f"wrk failed ({cp.returncode}): {cp.stdout[-500:]} {cp.stderr[-500:]}")
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", cp.stdout)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", cp.stdout)
    p99_ms = 0.0
    if p99:
        p99_ms = float(p99.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    return {
        "rps": float(found.group(1)),
        "non2xx": float(errors.group(1)) if errors else 0.0,
        "p99_ms": p99_ms,
        "cpu": m.cpu / m.wall,
        "server_cpu": m.server_cpu,
        "core_idle": m.core_idle,
    }


def spread(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.3g} (one run)"
    mean = statistics.mean(values)
    cv = statistics.stdev(values) / mean if mean else 0.0
    return f"mean {mean:.4g}  min {min(values):.4g}  max {max(values):.4g}  cv {cv:.1%}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="rounds of bare/assess/wrk (default 3)")
    ap.add_argument("--seconds", type=int, default=10, help="seconds per tool (default 10)")
    ap.add_argument("--users", type=int, default=32, help="users / connections (default 32)")
    ap.add_argument("--port", type=int, default=18400)
    ap.add_argument("--smoke", action="store_true", help="1 round of 5 s per tool, 4 users")
    args = ap.parse_args()
    if args.smoke:
        args.runs, args.seconds, args.users = 1, 5, 4
    if not 1 <= args.runs <= 10 or not 1 <= args.seconds <= 60 or not 1 <= args.users <= 512:
        sys.exit("--runs must be 1..10, --seconds 1..60, --users 1..512")
    if (os.cpu_count() or 1) < 2:
        sys.exit("needs at least 2 cores (generator on core 0, nginx on core 1)")
    machine_facts()
    ensure_tools()
    url = f"http://127.0.0.1:{args.port}"
    rounds: list[dict[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="assess-bench-") as tmpdir:
        tmp = Path(tmpdir)
        (tmp / "locustfile.py").write_text(LOCUSTFILE)
        nginx = start_nginx(tmp, args.port)
        try:
            print(
                f"profile: {args.users} users/connections, unpaced, {args.seconds} s per tool, "
                f"generator on core {GEN_CORE}, nginx on core {SERVER_CORE}\n"
            )
            for k in range(args.runs):
                r: dict[str, dict[str, Any]] = {}
                # alternate which Locust goes first, so drift on the machine favours neither
                for name in ("bare", "assess") if k % 2 == 0 else ("assess", "bare"):
                    tool = bare_locust if name == "bare" else assess_loadgen
                    r[name] = tool(tmp, url, args.users, args.seconds, nginx.pid)
                r["wrk"] = wrk(url, args.users, args.seconds, nginx.pid)
                rounds.append(r)
                b, a, w = r["bare"], r["assess"], r["wrk"]
                if k == 0:
                    print(
                        f"{'run':>3} | {'bare rps':>8} {'cpu':>5} | {'assess rps':>10} "
                        f"{'gen cpu':>7} {'satur.':>6} | {'assess/bare':>11} | {'wrk rps':>8} "
                        f"{'cpu':>5} {'nginx cpu':>9} | {'locust/wrk':>10} | core0 idle b/a/w"
                    )
                print(
                    f"{k + 1:>3} | {b['rps']:>8.0f} {b['cpu']:>5.2f} | {a['rps']:>10.0f} "
                    f"{a['cpu']:>7.3f} {a['saturated']!s:>6} | {div(a['rps'], b['rps']):>11.3f} | "
                    f"{w['rps']:>8.0f} {w['cpu']:>5.2f} {w['server_cpu']:>9.2f} | "
                    f"{div(b['rps'], w['rps']):>10.3f} | "
                    f"{b['core_idle']:.2f}/{a['core_idle']:.2f}/{w['core_idle']:.2f}",
                    flush=True,
                )
        finally:
            stop(nginx)
            print(f"\nnginx stopped (exit {nginx.returncode})")

    def col(tool: str, key: str) -> list[float]:
        return [float(r[tool][key]) for r in rounds]

    print(f"\nfigures: over {len(rounds)} rounds:")
    print(f"  bare Locust rps      {spread(col('bare', 'rps'))}")
    print(f"  assess rps           {spread(col('assess', 'rps'))}")
    ratio = [div(r["assess"]["rps"], r["bare"]["rps"]) for r in rounds]
    print(f"  assess / bare        {spread(ratio)}")
    print(f"  wrk rps              {spread(col('wrk', 'rps'))}")
    print(
        f"  Locust / wrk         {spread([div(r['bare']['rps'], r['wrk']['rps']) for r in rounds])}"
    )
    print(f"  assess gen cpu       {spread(col('assess', 'cpu'))}  (from load_result)")
    print(f"  bare Locust cpu      {spread(col('bare', 'cpu'))}  (rusage / wall, incl. start-up)")
    print(f"  nginx cpu under bare {spread(col('bare', 'server_cpu'))}")
    print(f"  nginx cpu under wrk  {spread(col('wrk', 'server_cpu'))}")
    print(
        "  errors: bare failures "
        f"{[int(x) for x in col('bare', 'failures')]}, assess error_rate "
        f"{col('assess', 'error_rate')}, wrk non-2xx {[int(x) for x in col('wrk', 'non2xx')]}"
    )
    print(
        f"  latency: bare p95 ms {col('bare', 'p95_ms')}, assess p95 ms "
        f"{col('assess', 'p95_ms')}, wrk p99 ms {[round(x, 2) for x in col('wrk', 'p99_ms')]}"
    )
    print(f"load at end: {Path('/proc/loadavg').read_text().strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
