"""The starter services ``assess init`` writes: honest but quiet (``/healthz`` answers, every
other request is a 501), one per runtime: the challenge's own (``challenges/<id>/starters/<runtime>/``,
answering its protocol's first step) or the generic stub below. Data only; the batch similarity
flags discount them."""

from __future__ import annotations

from pathlib import Path

STARTERS = {
    # Honest but quiet: /healthz answers 200 so the checks run and fail on what is missing;
    # every other request is a short 501 problem+json, and only the start line is logged.
    "python": {
        "assess.toml": 'runtime = "python"\nstart = "python3 app.py"\n',
        "app.py": (
            '"""Starter service: answers GET /healthz; everything else is 501 until you build it\n'
            'from BRIEF.md."""\n\n'
            "import json\nimport os\nfrom http.server import BaseHTTPRequestHandler, "
            "ThreadingHTTPServer\n\n"
            'NOT_IMPLEMENTED = json.dumps({"title": "not implemented", "status": 501}).encode()\n'
            "\n\n"
            "class Handler(BaseHTTPRequestHandler):\n"
            '    protocol_version = "HTTP/1.1"\n\n'
            "    def answer(self):\n"
            '        length = int(self.headers.get("Content-Length") or 0)\n'
            "        if length:\n"
            "            self.rfile.read(length)  # read the body so the connection stays usable\n"
            '        if self.command == "GET" and self.path == "/healthz":\n'
            '            status, body, ctype = 200, b"ok", "text/plain"\n'
            "        else:\n"
            '            status, body, ctype = 501, NOT_IMPLEMENTED, "application/problem+json"\n'
            "        self.send_response(status)\n"
            '        self.send_header("Content-Type", ctype)\n'
            '        self.send_header("Content-Length", str(len(body)))\n'
            "        self.end_headers()\n"
            "        self.wfile.write(body)\n\n"
            "    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer\n\n"
            "    def log_message(self, *args):\n"
            "        pass  # no line per request: the service log stays readable\n\n\n"
            'if __name__ == "__main__":\n'
            '    port = int(os.environ.get("PORT", "8080"))\n'
            '    print(f"starter listening on {port}", flush=True)\n'
            '    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()\n'
        ),
    },
    "node": {
        "assess.toml": 'runtime = "node"\nstart = "node server.js"\n',
        "server.js": (
            "// Starter service: answers GET /healthz; everything else is 501 until you build it\n"
            "// from BRIEF.md.\n"
            "const http = require('http');\n"
            "const port = Number(process.env.PORT || 8080);\n"
            "const notImplemented = JSON.stringify({title: 'not implemented', status: 501});\n"
            "http.createServer((req, res) => {\n"
            "  req.resume();  // drain the body so the connection stays usable\n"
            "  req.on('end', () => {\n"
            "    if (req.method === 'GET' && req.url === '/healthz') {\n"
            "      res.writeHead(200, {'Content-Type': 'text/plain'});\n"
            "      return res.end('ok');\n"
            "    }\n"
            "    res.writeHead(501, {'Content-Type': 'application/problem+json'});\n"
            "    res.end(notImplemented);\n"
            "  });\n"
            "}).listen(port, '0.0.0.0', () => console.log(`starter listening on ${port}`));\n"
        ),
    },
}

# A challenge ships its own starters as data: ``challenges/<id>/starters/<runtime>/...`` (every
# file below is written as is, dependency files included). A challenge without one for a runtime
# gets the generic stub above.
STARTERS_DIR = "starters"
_SKIP = {"__pycache__", "node_modules", ".pytest_cache"}


def challenge_starter(challenge_root: Path, runtime: str) -> dict[str, str] | None:
    """The challenge's own starter for ``runtime`` (relative path -> text), or None."""
    base = challenge_root / STARTERS_DIR / runtime
    if not base.is_dir():
        return None
    files = {}
    for p in sorted(base.rglob("*")):
        rel = p.relative_to(base)
        if p.is_file() and not _SKIP.intersection(rel.parts) and p.suffix != ".pyc":
            files[rel.as_posix()] = p.read_text(encoding="utf-8")
    return files or None


def starter_for(challenge_root: Path, runtime: str) -> dict[str, str]:
    """What ``assess init`` writes for ``runtime``: the challenge's starter, else the stub."""
    return challenge_starter(challenge_root, runtime) or STARTERS[runtime]
