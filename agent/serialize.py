"""Values to span attributes: bounded JSON strings with secrets removed.

Why this shape:

* Never call ``repr``/``str`` on an object we do not know: user objects may raise or
  hang there. Unknown objects are described by their public ``__dict__`` (no properties
  are evaluated) or by their class name.
* Every string is capped, and so is the whole document, with a visible marker, and the
  result is always valid JSON: trace servers parse these attributes.
* Secrets are removed twice: by key (``api_key``, ``authorization``, ...) while walking,
  and by value shape (``sk-...``, ``Bearer ...``, AWS keys, JWTs) on the final text, so a
  key pasted into a prompt does not leave either.
"""

from __future__ import annotations

import enum
import json
import math
import re
from typing import Any

REDACTED = "[REDACTED]"
TRUNCATED = "…[truncated {} chars]"

_SECRET_KEYS = frozenset(
    {
        "api_key", "apikey", "api-key", "x-api-key", "authorization", "proxy-authorization",
        "password", "passwd", "secret", "client_secret", "token", "access_token",
        "refresh_token", "id_token", "auth_token", "session_token", "aws_secret_access_key",
        "aws_session_token", "aws_secret_key", "private_key", "cookie", "set-cookie",
        "openai-organization", "openai-project", "wandb-api-key", "credentials",
    }
)
_SECRET_SUFFIXES = ("_api_key", "-api-key", "_secret", "-secret", "_password", "_token", "-token", "secret_key")

_SECRET_VALUE = re.compile(
    r"(?:sk-(?:ant-|proj-|svcacct-)?[A-Za-z0-9_\-]{16,})"
    r"|(?:Bearer\s+[A-Za-z0-9._~+/=\-]{8,})"
    r"|(?:Basic\s+[A-Za-z0-9+/=]{12,})"
    r"|(?:AKIA[0-9A-Z]{16})"
    r"|(?:xox[abposr]-[A-Za-z0-9\-]{10,})"
    r"|(?:gh[pousr]_[A-Za-z0-9]{20,})"
    r"|(?:eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*)"
)

_MAX_DEPTH = 24
_MAX_ITEMS = 1000


def is_secret_key(key: str) -> bool:
    k = key.lower()
    return k in _SECRET_KEYS or k.endswith(_SECRET_SUFFIXES)


def redact_text(text: str) -> str:
    """Replace secret-shaped substrings (API keys, bearer tokens, JWTs)."""
    return _SECRET_VALUE.sub(REDACTED, text)


def cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + TRUNCATED.format(len(text) - limit)


class _Walker:
    __slots__ = ("limit", "seen")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen: set[int] = set()

    def walk(self, value: Any, depth: int = 0) -> Any:
        if value is None or value is True or value is False:
            return value
        t = type(value)
        if t is str:
            return cap(value, self.limit)
        if t is int:
            return value
        if t is float:
            return value if math.isfinite(value) else str(value)  # JSON has no NaN/inf
        if isinstance(value, enum.Enum):
            return self.walk(value.value, depth)
        if isinstance(value, str):
            return cap(str.__str__(value), self.limit)
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            return self.walk(float(value), depth)
        if isinstance(value, (bytes, bytearray, memoryview)):
            return {"type": "bytes", "size": len(value)}
        if depth >= _MAX_DEPTH:
            return "<max depth>"
        ident = id(value)
        if ident in self.seen:
            return "<cycle>"
        self.seen.add(ident)
        try:
            return self._container(value, depth + 1)
        finally:
            self.seen.discard(ident)

    def _container(self, value: Any, depth: int) -> Any:
        if isinstance(value, dict):
            out = {}
            for i, (k, v) in enumerate(value.items()):
                if i >= _MAX_ITEMS:
                    out["…"] = "%d more items" % (len(value) - _MAX_ITEMS)
                    break
                key = k if isinstance(k, str) else self._key(k)
                out[key] = REDACTED if is_secret_key(key) else self.walk(v, depth)
            return out
        if isinstance(value, (list, tuple, set, frozenset)):
            items = value if isinstance(value, (list, tuple)) else list(value)
            out_list = [self.walk(v, depth) for v in items[:_MAX_ITEMS]]
            if len(items) > _MAX_ITEMS:
                out_list.append("…%d more items" % (len(items) - _MAX_ITEMS))
            return out_list
        # numpy-like arrays and scalars: small ones as lists, large ones as a summary.
        shape = getattr(type(value), "shape", None) is not None and getattr(value, "shape", None)
        if shape is not None and shape is not False and hasattr(value, "tolist"):
            size = getattr(value, "size", None)
            if isinstance(size, int) and size > _MAX_ITEMS:
                return {"type": type(value).__name__, "shape": list(shape), "dtype": str(getattr(value, "dtype", ""))}
            return self.walk(value.tolist(), depth)
        # dataclasses, pydantic models and plain objects: their stored public fields.
        fields = getattr(value, "__dict__", None)
        if isinstance(fields, dict):
            out = {"_type": type(value).__name__}
            for k, v in fields.items():
                if isinstance(k, str) and not k.startswith("_"):
                    out[k] = REDACTED if is_secret_key(k) else self.walk(v, depth)
            extra = getattr(value, "__pydantic_extra__", None)
            if isinstance(extra, dict):
                for k, v in extra.items():
                    out[k] = REDACTED if is_secret_key(str(k)) else self.walk(v, depth)
            return out
        slots = getattr(type(value), "__slots__", None)
        if slots:
            out = {"_type": type(value).__name__}
            for k in (slots,) if isinstance(slots, str) else slots:
                if not k.startswith("_") and hasattr(value, k):
                    out[k] = REDACTED if is_secret_key(k) else self.walk(getattr(value, k), depth)
            return out
        return {"_type": type(value).__name__}

    def _key(self, key: Any) -> str:
        if isinstance(key, (int, float, bool)) or key is None:
            return json.dumps(key)
        if isinstance(key, enum.Enum):
            return str(key.value)
        return "<%s>" % type(key).__qualname__


def to_jsonable(value: Any, limit: int = 32768) -> Any:
    """A JSON-ready copy of ``value``: secrets by key removed, strings capped."""
    return _Walker(limit).walk(value)


def to_json(value: Any, limit: int = 32768) -> str:
    """``value`` as a JSON string of at most about ``limit`` characters, secrets removed.

    Strings are capped first; if the document is still too large, the cap is lowered in
    proportion and the value walked again (twice at most). Always valid JSON: as a last
    resort the whole text is kept as one JSON string, cut, with the truncation marker.
    """
    string_cap = limit
    text = _dump(value, string_cap)
    for _ in range(2):
        if len(text) <= limit:
            break
        string_cap = max(64, int(string_cap * limit / len(text) * 0.9))
        text = _dump(value, string_cap)
    if len(text) > limit:
        # Escaping grows the text again: shrink the cut until the JSON string fits.
        cut, whole = limit, text
        while True:
            text = json.dumps(cap(whole, cut), ensure_ascii=False)
            if len(text) <= limit + 64 or cut <= 64:
                break
            cut = max(64, int(cut * limit / len(text)) - 32)
    return text


def _dump(value: Any, string_cap: int) -> str:
    text = json.dumps(to_jsonable(value, string_cap), ensure_ascii=False, separators=(",", ":"))
    return redact_text(text)
