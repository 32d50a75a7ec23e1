#!/usr/bin/env python3
"""The data challenge's database: image build, start-up, and what two services send to it.

1. Builds the db sidecar image as a grading does (``Images.ensure_sidecar``; ``--rebuild`` forces
   it, timing generation + COPY + VACUUM; otherwise it reports the cached image).
2. Starts it ``--starts`` times as a grading would (no network but loopback, the image's user,
   limits of challenge.toml) and times start to ready (the supervisor's ready file: PostgreSQL up
   and the grader's password set).
3. Builds the reference and the n-plus-one variant, runs each in the database's network
   namespace, times its start (migrations: five indexes on the loaded tables), then sends 20
   order-history requests (customers with 20+ orders) and 20 product pages and prints the
   statements, rows and shared blocks per request, read from pg_stat_statements by the grader's
   role, the way the checks read them.

    python bench/data_sidecar.py [--starts 3] [--rebuild]

Everything stays inside containers on their own loopback; each container is labelled
``assess.managed=true`` and removed at the end.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import machine_facts
from runner.challenges.registry import Registry
from runner.challenges.solutions import load_solution
from runner.grading.build import build_submission
from runner.grading.images import Images
from runner.grading.pipeline import RunOptions
from runner.grading.pod import docker_client
from runner.intake.submission import load_submission

LABELS = {"assess.managed": "true", "assess.kind": "bench"}
CONTROL_PORT = 5480


def wait(container: Any, cmd: list[str], timeout_s: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if container.exec_run(cmd).exit_code == 0:
            return time.monotonic() - start
        time.sleep(0.05)
    raise RuntimeError(f"{container.name}: not ready within {timeout_s:.0f} s")


def start_db(client: Any, image: str, token: str) -> tuple[Any, float]:
    t0 = time.monotonic()
    c = client.containers.run(
        image,
        detach=True,
        network_mode="none",
        user="postgres",
        labels=LABELS,
        environment={
            "ASSESS_CONTROL_TOKEN": token,
            "CONTROL_PORT": str(CONTROL_PORT),
            "PORT": "5432",
        },
        mem_limit="768m",
        nano_cpus=1_000_000_000,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
    )
    wait(c, ["test", "-f", "/var/lib/postgresql/assess-ready"], 60)
    return c, time.monotonic() - t0


def http(db: Any, method: str, path: str, token: str, body: Any = None) -> Any:
    """A request from inside the db container (its loopback is the pod's)."""
    code = (
        "import json,sys,urllib.request;"
        f"r=urllib.request.Request('http://127.0.0.1:{{}}{path}'.format(sys.argv[1]),method='{method}',"
        "data=(sys.argv[3].encode() if sys.argv[3] else None),"
        "headers={'Authorization':'Bearer '+sys.argv[2],'Content-Type':'application/json'});"
        "print(urllib.request.urlopen(r,timeout=30).read().decode())"
    )
    port = CONTROL_PORT if path.startswith("/control") else 8080
    out = db.exec_run(["python3", "-c", code, str(port), token, json.dumps(body) if body else ""])
    if out.exit_code != 0:
        raise RuntimeError(f"{method} {path}: {out.output.decode()[-300:]}")
    return json.loads(out.output)


def figures(client: Any, images: Images, db_image: str, name: str) -> None:
    challenge = Registry().get("data")
    solution = load_solution(challenge, name)
    with tempfile.TemporaryDirectory() as tmp:
        build = build_submission(
            client,
            images,
            challenge,
            load_submission(solution.materialize(Path(tmp))),
            RunOptions(),
        )
    if not build.ok or build.image_id is None:
        sys.exit(f"{name} did not build: {build.reason}")
    token = secrets.token_hex(16)
    db, _ = start_db(client, db_image, token)
    svc = None
    try:
        t0 = time.monotonic()
        svc = client.containers.run(
            build.image_id,
            detach=True,
            network_mode=f"container:{db.id}",
            labels=LABELS,
            environment={
                "DATABASE_URL": "postgresql://app:app@127.0.0.1:5432/shop",
                "PORT": "8080",
            },
            mem_limit="512m",
            nano_cpus=1_000_000_000,
        )
        probe = [
            "python3",
            "-c",
            "import urllib.request;urllib.request.urlopen('http://127.0.0.1:8080/healthz',timeout=2)",
        ]
        ready = wait(db, probe, 120)
        print(
            f"{name}: ready in {time.monotonic() - t0:.1f} s (migrations included; probe {ready:.1f} s)"
        )
        busy = http(db, "POST", "/control/query", token, {
            "sql": "SELECT customer_id FROM public.orders GROUP BY customer_id HAVING count(*) >= 20 ORDER BY 1 LIMIT 20"
        })["rows"]  # fmt: skip
        for label, paths in (
            ("GET /customers/{id}/orders?limit=20", [f"/customers/{r['customer_id']}/orders?limit=20" for r in busy]),
            ("GET /products?category=..&sort=price", [f"/products?category={c}&sort=price&limit=20" for c in ("toys", "books", "audio", "pets")] * 5),
        ):  # fmt: skip
            before = http(db, "GET", "/control/stats", token)
            t1 = time.monotonic()
            for p in paths:
                http(db, "GET", p, token)
            took = time.monotonic() - t1
            after = http(db, "GET", "/control/stats", token)
            n = len(paths)
            per = {k: (after[k] - before[k]) / n for k in ("total", "rows", "blocks")}
            print(
                f"  {label}: {per['total']:.1f} statements, {per['rows']:.1f} rows, "
                f"{per['blocks']:.0f} shared blocks per request ({n} requests, {took / n * 1000:.0f} ms each "
                "through docker exec)"
            )
    finally:
        for c in (svc, db):
            if c is not None:
                c.remove(force=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--starts", type=int, default=3)
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="one start, the reference's figures only")
    args = ap.parse_args()
    if args.smoke:
        args.starts = 1
    machine_facts()
    client = docker_client()
    images = Images(client)
    challenge = Registry().get("data")
    sc = next(s for s in challenge.config.sidecars if s.name == "db")
    t0 = time.monotonic()
    image = images.ensure_sidecar(
        "data", "db", challenge.root / sc.path, sc.dockerfile or "Dockerfile", force=args.rebuild
    )
    built = time.monotonic() - t0
    size = client.images.get(image).attrs["Size"] / 2**20
    print(f"db image: {'built' if args.rebuild else 'ensured'} in {built:.1f} s, {size:.0f} MiB")
    times = []
    for _ in range(args.starts):
        c, s = start_db(client, image, secrets.token_hex(16))
        c.remove(force=True)
        times.append(s)
    print(f"db start to ready: {', '.join(f'{t:.2f}' for t in times)} s (docker run included)")
    for name in ("reference",) if args.smoke else ("reference", "n-plus-one"):
        figures(client, images, image, name)


if __name__ == "__main__":
    main()
