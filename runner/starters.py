"""The starter services ``assess init`` writes: honest but quiet (``/healthz`` answers, every
other request is a 501), one per runtime. Data only; the batch similarity flags discount them."""

from __future__ import annotations

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
