"""Fills /tmp (a small tmpfs) and tries to write to the read-only root, then serves."""

import app


def attempt(path, size):
    try:
        with open(path, "wb") as fh:
            for _ in range(size):
                fh.write(b"x" * (1 << 20))
        print(f"wrote {path}", flush=True)
    except OSError as exc:
        print(f"denied: {path}: {exc}", flush=True)


attempt("/tmp/fill", 10_000)
for path in ("/app/evil", "/etc/evil", "/evil", "/usr/bin/evil"):
    attempt(path, 1)
app.serve()
