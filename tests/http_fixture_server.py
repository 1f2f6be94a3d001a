"""A loopback HTTP server for download tests: serves fixture bytes, honours Range requests, and can
misbehave on purpose (cut a connection mid-body, ignore Range, answer 5xx, redirect).

    with FixtureServer({"/a.zip": data}) as srv:
        srv.cut_after["/a.zip"] = (1000, 1)   # the first GET gets 1000 bytes, then the socket closes
        url = srv.url("/a.zip")

Every request is recorded (path and headers) in ``srv.requests``. Binds 127.0.0.1 only.
"""

from __future__ import annotations

import re
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Seen:
    """One request as the server saw it, and what it answered."""

    path: str
    headers: dict[str, str]
    status: int = 0


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        fx = self.server.fixture
        seen = Seen(self.path, {k.lower(): v for k, v in self.headers.items()})
        with fx.lock:
            fx.requests.append(seen)
            count = fx.counts.get(self.path, 0)
            fx.counts[self.path] = count + 1
        if self.path in fx.redirects:
            seen.status = 302
            self.send_response(302)
            self.send_header("Location", fx.redirects[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        fail = fx.fail_first.get(self.path)
        if fail and count < fail[1]:
            seen.status = fail[0]
            self.send_error(fail[0])
            return
        data = fx.files.get(self.path)
        if data is None:
            seen.status = 404
            self.send_error(404)
            return
        start = 0
        rng = self.headers.get("Range")
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng or "")
        if m and not fx.ignore_range:
            start = int(m.group(1))
            if start >= len(data):
                seen.status = 416
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            end = int(m.group(2)) if m.group(2) else len(data) - 1
            body = data[start : end + 1]
            seen.status = 206
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{start + len(body) - 1}/{len(data)}")
        else:
            body = data
            seen.status = 200
            self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "none" if fx.ignore_range else "bytes")
        self.end_headers()
        cut = fx.cut_after.get(self.path)
        if cut and count < cut[1]:
            self.wfile.write(body[: cut[0]])
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fixture: FixtureServer


class FixtureServer:
    """Context manager running the server in a background thread on 127.0.0.1 (random port).

    ``cut_after[path] = (n_bytes, times)``: the first ``times`` GETs of ``path`` send ``n_bytes`` of
    the body (with the full Content-Length announced) and then close the connection.
    ``fail_first[path] = (status, times)``: the first ``times`` GETs answer ``status``.
    ``ignore_range``: answer every GET with 200 and the whole file.
    ``redirects[path] = url``: answer 302 to ``url``.
    """

    def __init__(self, files: dict[str, bytes] | None = None) -> None:
        self.files: dict[str, bytes] = dict(files or {})
        self.cut_after: dict[str, tuple[int, int]] = {}
        self.fail_first: dict[str, tuple[int, int]] = {}
        self.redirects: dict[str, str] = {}
        self.ignore_range = False
        self.requests: list[Seen] = []
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> FixtureServer:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fixture = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def seen(self, path: str) -> list[Seen]:
        """The requests made for ``path``, in order."""
        with self.lock:
            return [r for r in self.requests if r.path == path]
