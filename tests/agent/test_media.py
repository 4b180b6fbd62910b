"""Media in message content (``weave_agent.tracing.media``): never the bytes on a span; with
``OTEL_INSTRUMENTATION_GENAI_UPLOAD_BASE_PATH`` written off the caller's thread and pointed
at by a ``uri`` part; every way the upload cannot happen falls back to the placeholder and
never raises into the app."""

from __future__ import annotations

import base64
import threading
from pathlib import Path
from typing import Any

import pytest

import weave_agent.lifecycle as lifecycle
from weave_agent.settings import Settings
from weave_agent.tools import conventions_check
from weave_agent.tracing import media

DATA = bytes(range(256)) * 4
B64 = base64.b64encode(DATA).decode()


@pytest.fixture
def upload_to(monkeypatch: pytest.MonkeyPatch) -> Any:
    def configure(base: str | None) -> None:
        env = {"OTEL_INSTRUMENTATION_GENAI_UPLOAD_BASE_PATH": base} if base else {}
        monkeypatch.setattr(lifecycle, "_settings", Settings.load(env))

    return configure


def _ok(part: dict[str, Any]) -> None:
    found = conventions_check.check_content("gen_ai.input.messages", [{"role": "user", "parts": [part]}])
    assert found is None, found


def test_byte_size_without_decoding() -> None:
    for raw in (b"", b"a", b"ab", b"abc", DATA):
        assert media.byte_size(base64.b64encode(raw).decode(), True) == len(raw)
    assert media.byte_size(b"abc", False) == 3 and media.byte_size("é", False) == 2


def test_no_upload_configured_gives_a_placeholder(upload_to: Any) -> None:
    upload_to(None)
    part = media.media_part(B64, "image", "image/png")
    assert part == {"type": "generic", "generic_type": "blob", "modality": "image", "mime_type": "image/png",
                    "byte_size": len(DATA)}
    _ok(part)


def test_a_local_folder_gets_the_bytes_and_the_part_points_at_them(upload_to: Any, tmp_path: Path) -> None:
    upload_to(str(tmp_path / "media"))
    writer_threads: list[str] = []
    real_write = media._Uploader._write

    def spy(self: Any, name: str, payload: bytes) -> None:
        writer_threads.append(threading.current_thread().name)
        real_write(self, name, payload)

    media._Uploader._write = spy  # type: ignore[method-assign]
    try:
        part = media.media_part(B64, "image", "image/jpeg", filename="cat.jpg")
        raw = media.media_part(b"plain text", "document", "text/plain", base64_encoded=False)
        assert media.drain(10)
    finally:
        media._Uploader._write = real_write  # type: ignore[method-assign]
    assert writer_threads and all(name == "weave-agent-media" for name in writer_threads)  # not the caller's
    assert part["type"] == "uri" and part["modality"] == "image" and part["mime_type"] == "image/jpeg"
    assert part["byte_size"] == len(DATA) and part["filename"] == "cat.jpg"
    assert part["uri"].startswith((tmp_path / "media").as_uri() + "/") and part["uri"].endswith(".jpg")
    assert Path(part["uri"][len("file://"):]).read_bytes() == DATA
    assert Path(raw["uri"][len("file://"):]).read_bytes() == b"plain text"
    _ok(part)


def test_a_file_url_base_and_a_data_url(upload_to: Any, tmp_path: Path) -> None:
    upload_to((tmp_path / "up").as_uri())
    part = media.data_url_part("data:image/png;base64," + B64, "image")
    quoted = media.data_url_part("data:text/plain,hello%20world", "document")
    assert media.drain(10)
    assert part["mime_type"] == "image/png" and Path(part["uri"][len("file://"):]).read_bytes() == DATA
    assert Path(quoted["uri"][len("file://"):]).read_bytes() == b"hello world"


def test_a_scheme_without_fsspec_falls_back_to_the_placeholder(
    upload_to: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload_to("s3://bucket/prefix")
    monkeypatch.setattr(media._uploader("s3://bucket/prefix"), "fsspec_ok", False)
    part = media.media_part(B64, "image", "image/png")
    assert part["type"] == "generic" and part["byte_size"] == len(DATA)


def test_a_full_queue_falls_back_to_the_placeholder(upload_to: Any, tmp_path: Path) -> None:
    base = str(tmp_path / "slow")
    upload_to(base)
    uploader = media._uploader(base)
    release = threading.Event()
    real_write = media._Uploader._write

    def blocked(self: Any, name: str, payload: bytes) -> None:
        release.wait(10)
        real_write(self, name, payload)

    media._Uploader._write = blocked  # type: ignore[method-assign]
    try:
        parts = [media.media_part(B64, "image", "image/png") for _ in range(media.MAX_PENDING + 5)]
        assert parts[-1]["type"] == "generic"  # the queue was full: no bytes, no missing file
        assert sum(p["type"] == "uri" for p in parts) <= media.MAX_PENDING + 1
    finally:
        release.set()
        media._Uploader._write = real_write  # type: ignore[method-assign]
    assert uploader.drain(10)


def test_a_failed_write_never_reaches_the_app(upload_to: Any, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    upload_to(str(blocker))
    part = media.media_part(B64, "image", "image/png")  # the call goes on
    assert part["type"] == "uri"
    assert media.drain(10)  # the writer logged a warning and is still alive
    again = media.media_part(B64, "image", "image/png")
    assert again["type"] == "uri" and media.drain(10)
