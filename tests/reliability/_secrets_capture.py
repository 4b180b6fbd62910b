"""A local OTLP/HTTP receiver that keeps the raw bytes of every request it gets.

The secrets test scans exactly what left the process, so nothing here parses or
re-encodes before storing: the body is kept as received (and, when the exporter
compressed it, also gunzipped, because a secret inside a gzip stream is still a leak).
Binds 127.0.0.1 on a free port, serves from a daemon thread, stops by itself.
"""

from __future__ import annotations

import gzip
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Captured:
    __slots__ = ("path", "headers", "raw", "body")

    def __init__(self, path: str, headers: dict[str, str], raw: bytes, body: bytes) -> None:
        self.path, self.headers, self.raw, self.body = path, headers, raw, body


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        encoding = (self.headers.get("content-encoding") or "").lower()
        body = raw
        if encoding == "gzip":
            body = gzip.decompress(raw)
        elif encoding == "deflate":
            body = zlib.decompress(raw)
        server: _Server = self.server  # type: ignore[assignment]
        with server.lock:
            server.captured.append(Captured(self.path, {k.lower(): v for k, v in self.headers.items()}, raw, body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    captured: list[Captured]
    lock: threading.Lock


class CaptureServer:
    """``with CaptureServer() as otlp: ... otlp.url ... otlp.requests()``."""

    def __init__(self, lifetime: float = 120.0) -> None:
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.captured = []
        self._httpd.lock = threading.Lock()
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="otlp-capture", daemon=True)
        self._timer = threading.Timer(lifetime, self.stop)
        self._timer.daemon = True
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self._httpd.server_address[1]

    def requests(self) -> list[Captured]:
        with self._httpd.lock:
            return list(self._httpd.captured)

    def start(self) -> CaptureServer:
        self._thread.start()
        self._timer.start()
        return self

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._timer.cancel()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> CaptureServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
