"""A package index behind a password, for the tests: PEP 503 simple pages over a directory of wheels,
every request refused without the right HTTP Basic credentials. The formula's installs go through it
to prove that index credentials from pillar reach pip (and nothing else)."""

import base64
import html
import http.server
import pathlib
import re
import threading


def _project(filename):
    # "prisma-0.15.0-py3-none-any.whl" -> "prisma" (PEP 503 normalized)
    return re.sub(r"[-_.]+", "-", filename.split("-", 1)[0]).lower()


class WheelIndex:
    """``with WheelIndex(wheels, user, password) as index: index.url`` (credentials not in it)."""

    def __init__(self, wheels, user, password):
        self.wheels = pathlib.Path(wheels)
        self.expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.authorized = 0
        self.refused = 0
        index = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.headers.get("Authorization") != index.expected:
                    index.refused += 1
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="wheels"')
                    self.end_headers()
                    return
                index.authorized += 1
                parts = [part for part in self.path.split("?")[0].split("/") if part]
                if parts[:1] == ["simple"] and len(parts) == 2:
                    links = [f'<a href="/files/{html.escape(w.name)}">{html.escape(w.name)}</a>'
                             for w in sorted(index.wheels.glob("*.whl")) if _project(w.name) == parts[1].lower()]
                    self._send(200, "text/html", ("<html><body>" + "".join(links) + "</body></html>").encode()
                               if links else b"")
                elif parts[:1] == ["files"] and len(parts) == 2 and (index.wheels / parts[1]).is_file():
                    self._send(200, "application/octet-stream", (index.wheels / parts[1]).read_bytes())
                else:
                    self._send(404, "text/plain", b"not found")

            def _send(self, status, kind, body):
                if status == 200 and not body:
                    status, body = 404, b"not found"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
