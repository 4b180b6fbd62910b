"""Media in message content (images, audio, documents sent inline): never their bytes on a span.

The conventions' ``blob`` part carries the bytes themselves (base64) and their ``uri``
part a location. A trace is the wrong place for megabytes of image data (OTLP batches
have size limits, trace servers index attributes, and an image is often personal data),
so the agent exports neither by default. What it does instead:

* ``OTEL_INSTRUMENTATION_GENAI_UPLOAD_BASE_PATH`` set (the variable OpenTelemetry's GenAI
  upload hook reads): the bytes are written under that base (a local folder or a
  ``file://`` URL; any other URL through ``fsspec`` when it is installed) as
  ``<uuid>.<extension of the MIME type>``, and the part is a ``uri`` part pointing at the
  file, with ``modality``, ``mime_type`` and ``byte_size``. The write happens on one
  background thread (decoding and writing megabytes must not hold the app's call), from a
  bounded queue: when it is full the part falls back to the placeholder below and one
  warning says so. A failed write is logged once, never raised; the queue is drained at
  exit for at most ``WEAVE_AGENT_EXIT_TIMEOUT`` seconds. The bytes are written as they
  are, so ``OTEL_INSTRUMENTATION_GENAI_UPLOAD_FORMAT`` (JSON or JSON lines for uploaded
  message documents) does not apply.
* Not set: a ``generic`` part, ``{"type": "generic", "generic_type": "blob", "modality",
  "mime_type", "byte_size"}``. A ``blob`` part must hold the bytes and a ``uri`` part a
  location; with neither at hand, the conventions' catch-all says what was there
  without claiming data it does not carry (an empty ``content`` would claim an empty file).

Vendor-neutral: the instrumentations call ``media_part`` / ``data_url_part`` through the
part helpers of ``weave_agent.genai``.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections import deque
from typing import Any

from .. import _log
from ..lifecycle import current_settings

# Writes waiting for the background thread at most; past it the part is a placeholder.
MAX_PENDING = 64


def byte_size(data: str | bytes | bytearray, base64_encoded: bool) -> int:
    """The size of the bytes ``data`` holds, without decoding it."""
    if isinstance(data, (bytes, bytearray)):
        return len(data)
    if not base64_encoded:
        return len(data.encode("utf-8"))
    n = len(data)
    return n * 3 // 4 - (2 if data.endswith("==") else 1 if data.endswith("=") else 0)


def media_part(data: Any, modality: str, mime_type: str | None = None, base64_encoded: bool = True,
               **extra: Any) -> dict[str, Any]:
    """The part for inline media ``data`` (a base64 string, or raw bytes/text with
    ``base64_encoded=False``): a ``uri`` part when uploads are configured, else the
    ``generic`` placeholder. ``extra`` fields (a file name) are kept on either."""
    size = byte_size(data, base64_encoded) if isinstance(data, (str, bytes, bytearray)) else None
    uri = None
    if size is not None:
        base = current_settings().upload_base_path  # the started agent's, never setting up the pipeline
        if base:
            uri = _uploader(base).submit(data, base64_encoded, mime_type)
    part: dict[str, Any]
    if uri is not None:
        part = {"type": "uri", "modality": modality, "uri": uri}
    else:
        part = {"type": "generic", "generic_type": "blob", "modality": modality}
    if mime_type:
        part["mime_type"] = mime_type
    if size is not None:
        part["byte_size"] = size
    part.update(extra)
    return part


def data_url_part(url: str, modality: str, **extra: Any) -> dict[str, Any]:
    """The part for a ``data:`` URL (``data:image/png;base64,...``)."""
    header, _, body = url.partition(",")
    mime = header[5:].split(";", 1)[0] or None
    if ";base64" in header:
        return media_part(body, modality, mime, True, **extra)
    from urllib.parse import unquote_to_bytes

    return media_part(unquote_to_bytes(body), modality, mime, False, **extra)


# --- the background writer -------------------------------------------------------------------


class _Uploader:
    """Writes media under one base path, on one daemon thread, from a bounded queue."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.local: str | None = None
        if "://" not in base:
            self.local = os.path.abspath(os.path.expanduser(base))
            self.prefix = _file_uri(self.local)
        elif base.startswith("file://"):
            from urllib.request import url2pathname

            self.local = url2pathname(base[len("file://"):])
            self.prefix = _file_uri(self.local)
        else:
            self.prefix = base.rstrip("/")
        self.pending: deque[tuple[str, Any, bool]] = deque()
        self.cond = threading.Condition()
        self.thread: threading.Thread | None = None
        self.busy = False
        self.fsspec_ok: bool | None = None

    def submit(self, data: Any, base64_encoded: bool, mime_type: str | None) -> str | None:
        """Queue ``data`` for writing; its URI, or None when it cannot be written."""
        if self.local is None and not self._has_fsspec():
            _log.warn_once("media-fsspec", "OTEL_INSTRUMENTATION_GENAI_UPLOAD_BASE_PATH=%s needs fsspec for its "
                           "scheme (pip install fsspec); media parts are placeholders", self.base)
            return None
        name = "%s%s" % (os.urandom(16).hex(), _extension(mime_type))
        with self.cond:
            if len(self.pending) >= MAX_PENDING:
                _log.warn_once("media-queue", "media uploads to %s fall behind; parts past %d waiting writes are "
                               "placeholders", self.base, MAX_PENDING)
                return None
            self.pending.append((name, data, base64_encoded))
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="weave-agent-media", daemon=True)
                self.thread.start()
            self.cond.notify()
        return "%s/%s" % (self.prefix, name)

    def _has_fsspec(self) -> bool:
        if self.fsspec_ok is None:
            import importlib.util

            self.fsspec_ok = importlib.util.find_spec("fsspec") is not None
        return self.fsspec_ok

    def _run(self) -> None:
        while True:
            with self.cond:
                while not self.pending:
                    self.busy = False
                    self.cond.notify_all()
                    self.cond.wait()
                name, data, base64_encoded = self.pending.popleft()
                self.busy = True
            try:
                self._write(name, _decode(data, base64_encoded))
            except Exception:
                _log.warn_once("media-write:" + self.base, "writing media under %s failed; the parts point at "
                               "files that are missing", self.base, exc_info=True)

    def _write(self, name: str, payload: bytes) -> None:
        if self.local is not None:
            os.makedirs(self.local, exist_ok=True)
            with open(os.path.join(self.local, name), "xb") as f:
                f.write(payload)
            return
        import fsspec

        with fsspec.open("%s/%s" % (self.prefix, name), "wb") as f:
            f.write(payload)

    def drain(self, timeout: float) -> bool:
        """Wait until every queued write is done (at most ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.pending or self.busy:
                if self.thread is None or not self.thread.is_alive():
                    return not self.pending
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
        return True


def _decode(data: Any, base64_encoded: bool) -> bytes:
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    if base64_encoded:
        import base64

        return base64.b64decode(data)
    return str(data).encode("utf-8")


def _file_uri(path: str) -> str:
    from pathlib import Path

    return Path(path).as_uri()


_EXTENSIONS = {"image/jpeg": ".jpg", "audio/mpeg": ".mp3", "audio/mp3": ".mp3", "audio/wav": ".wav",
               "audio/x-wav": ".wav", "application/pdf": ".pdf", "text/plain": ".txt"}


def _extension(mime_type: str | None) -> str:
    if not mime_type:
        return ".bin"
    ext = _EXTENSIONS.get(mime_type)
    if ext is None:
        import mimetypes

        ext = _EXTENSIONS[mime_type] = mimetypes.guess_extension(mime_type) or ".bin"
    return ext


_uploaders: dict[str, _Uploader] = {}
_lock = threading.Lock()


def _uploader(base: str) -> _Uploader:
    up = _uploaders.get(base)
    if up is None:
        with _lock:
            up = _uploaders.get(base)
            if up is None:
                up = _uploaders[base] = _Uploader(base)
    return up


def drain(timeout: float = 5.0) -> bool:
    """Wait for every queued media write (at exit, and for tests)."""
    deadline = time.monotonic() + timeout
    return all(up.drain(max(0.0, deadline - time.monotonic())) for up in list(_uploaders.values()))


def _drain_at_exit() -> None:
    if _uploaders:
        try:
            drain(current_settings().exit_timeout)
        except Exception:
            pass


def _forget_after_fork() -> None:
    """A forked child has none of the parent's threads: start its own writer when needed."""
    global _lock
    _uploaders.clear()
    _lock = threading.Lock()


atexit.register(_drain_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
