"""Values to span attributes: bounded JSON strings with secrets removed.

Why this shape:

* Never call ``repr``/``str`` on an object we do not know: user objects may raise or
  hang there. Unknown objects are described by their public ``__dict__`` (no properties
  are evaluated) or by their class name.
* Every string is capped, and so is the whole document, with a visible marker, and the
  result is always valid JSON: trace servers parse these attributes.
* Secrets are removed twice: by key (``api_key``, ``authorization``, ``apiKey``, ...) while
  walking, and by value shape (``sk-...``, ``Bearer ...``, AWS keys, JWTs) on each string
  *before* it is cut (a key cut in two by the cap would no longer look like one, and its
  first half would leave) and again on the final text, so a key pasted into a prompt does
  not leave either. Exception messages and tracebacks get the same shape redaction.
* And by exact value: every string redacted here first loses the values the SDK clients
  were given (``secrets``), shaped like a key or not, so that a server echoing a key (a
  401 quoting it, a 404 quoting the URL with its query) does not export it.
* Walking never lets a user object break or hang the call: builtin containers are read
  through the builtin methods (a subclass's ``items``/``__iter__``/``__len__`` is never
  called), attributes are read without ``__getattr__``, anything that still raises becomes
  a ``{"_type": ..., "_error": ...}`` placeholder.
* The text is always encodable as UTF-8 (lone surrogates become U+FFFD): one unencodable
  attribute would make the OTLP exporter drop the whole batch it is in.
"""

from __future__ import annotations

import enum
import functools
import itertools
import json
import math
import re
import traceback
from typing import Any

from .secrets import REDACTED
from .secrets import scrub as _scrub_known

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
# camelCase keys (``apiKey``, ``accessToken``, ``clientSecret``), lower-cased.
_SECRET_CAMEL_SUFFIXES = ("apikey", "accesstoken", "authtoken", "refreshtoken", "sessiontoken", "idtoken",
                          "clientsecret", "secretkey", "privatekey", "password")

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
# Redaction looks this far past the cut: a key that starts before the cut is seen whole
# (or at least its first 512 characters, which still match), so no prefix of it survives.
_REDACT_MARGIN = 512
_SURROGATE = re.compile("[\ud800-\udfff]")


def is_secret_key(key: str) -> bool:
    k = key.lower()
    return k in _SECRET_KEYS or k.endswith(_SECRET_SUFFIXES) or k.endswith(_SECRET_CAMEL_SUFFIXES)


def redact_text(text: str) -> str:
    """Replace the secrets the clients were given (``secrets.scrub``: exact values, first,
    so that no part of one is left beside a shape's match), then secret-shaped substrings
    (API keys, bearer tokens, JWTs)."""
    return _SECRET_VALUE.sub(REDACTED, _scrub_known(text))


def cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + TRUNCATED.format(len(text) - limit)


def redact_and_cap(text: str, limit: int) -> str:
    """``text`` with secret shapes removed, then cut at ``limit``; reads only the first
    ``limit`` + 512 characters, so a 10 MB prompt costs what a 32 KB one does."""
    if len(text) <= limit:
        return redact_text(text)
    window = redact_text(text[: limit + _REDACT_MARGIN])
    if len(window) <= limit and len(text) <= limit + _REDACT_MARGIN:
        return window  # redaction alone brought it under the limit: nothing is cut
    kept = window[:limit]
    return kept + TRUNCATED.format(len(text) - len(kept))


def encodable(text: str) -> str:
    """``text`` as UTF-8 can carry it: lone surrogates (from ``surrogateescape`` decoding,
    broken JSON, sliced emoji in UTF-16 data) become U+FFFD."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


def exception_attributes(exc: BaseException) -> tuple[str, dict[str, str]]:
    """(status description, ``record_exception`` attributes) for ``exc``, secret shapes
    removed: an SDK or user error that quotes the key it was given (``invalid key
    sk-...``) must not carry it out in ``exception.message``/``exception.stacktrace``."""
    try:
        message = str(exc)
    except Exception:
        message = "<unprintable %s>" % type(exc).__name__
    try:
        stack = "".join(traceback.format_exception(exc))
    except Exception:
        stack = "%s: %s" % (type(exc).__qualname__, message)
    message = encodable(redact_text(message))
    return "%s: %s" % (type(exc).__name__, message), {
        "exception.message": message,
        "exception.stacktrace": encodable(redact_text(stack)),
    }


def _plain(value: Any, name: str) -> Any:
    """An attribute as stored on the object (``__dict__``, a slot), never through a user
    ``__getattr__``/``__getattribute__``; ``None`` when there is none."""
    try:
        return object.__getattribute__(value, name)
    except Exception:
        return None


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
            return redact_and_cap(value, self.limit)
        if t is int:
            return value
        if t is float:
            return value if math.isfinite(value) else str(value)  # JSON has no NaN/inf
        if isinstance(value, enum.Enum):
            return self.walk(value.value, depth)
        if isinstance(value, str):
            return redact_and_cap(str.__str__(value), self.limit)
        if isinstance(value, int):  # the builtin conversions: a subclass's __int__ may raise
            return int.__int__(value)
        if isinstance(value, float):
            return self.walk(float.__float__(value), depth)
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
        except Exception as exc:  # a user object that fought back: describe it, go on
            return {"_type": type(value).__name__, "_error": type(exc).__name__}
        finally:
            self.seen.discard(ident)

    def _container(self, value: Any, depth: int) -> Any:
        # Builtin methods, not the value's: a subclass may override items/__iter__/__len__
        # to raise, lie or never end.
        if isinstance(value, dict):
            out = {}
            size = dict.__len__(value)
            for k, v in itertools.islice(dict.items(value), _MAX_ITEMS):
                key = k if type(k) is str else self._key(k)
                out[key] = REDACTED if is_secret_key(key) else self.walk(v, depth)
            if size > _MAX_ITEMS:
                out["…"] = "%d more items" % (size - _MAX_ITEMS)
            return out
        if isinstance(value, (list, tuple)):
            size = list.__len__(value) if isinstance(value, list) else tuple.__len__(value)
            head = list.__getitem__(value, slice(0, _MAX_ITEMS)) if isinstance(value, list) \
                else tuple.__getitem__(value, slice(0, _MAX_ITEMS))
            out_list = [self.walk(v, depth) for v in head]
            if size > _MAX_ITEMS:
                out_list.append("…%d more items" % (size - _MAX_ITEMS))
            return out_list
        if isinstance(value, (set, frozenset)):
            size = set.__len__(value) if isinstance(value, set) else frozenset.__len__(value)
            it = set.__iter__(value) if isinstance(value, set) else frozenset.__iter__(value)
            out_list = [self.walk(v, depth) for v in itertools.islice(it, _MAX_ITEMS)]
            if size > _MAX_ITEMS:
                out_list.append("…%d more items" % (size - _MAX_ITEMS))
            return out_list
        # numpy-like arrays and scalars: small ones as lists, large ones as a summary.
        shape = getattr(type(value), "shape", None) is not None and getattr(value, "shape", None)
        if shape is not None and shape is not False and hasattr(value, "tolist"):
            n = getattr(value, "size", None)
            if isinstance(n, int) and n > _MAX_ITEMS:
                return {"type": type(value).__name__, "shape": list(shape), "dtype": str(getattr(value, "dtype", ""))}
            return self.walk(value.tolist(), depth)
        # dataclasses, pydantic models and plain objects: their stored public fields.
        fields = _plain(value, "__dict__")
        if isinstance(fields, dict):
            out = {"_type": type(value).__name__}
            for k, v in itertools.islice(dict.items(fields), _MAX_ITEMS):
                if type(k) is str and not k.startswith("_"):
                    out[k] = REDACTED if is_secret_key(k) else self.walk(v, depth)
            extra = _plain(value, "__pydantic_extra__")
            if isinstance(extra, dict):
                for k, v in itertools.islice(dict.items(extra), _MAX_ITEMS):
                    key = k if type(k) is str else self._key(k)
                    out[key] = REDACTED if is_secret_key(key) else self.walk(v, depth)
            return out
        slots = getattr(type(value), "__slots__", None)
        if slots:
            out = {"_type": type(value).__name__}
            missing = object()
            for k in (slots,) if isinstance(slots, str) else slots:
                if isinstance(k, str) and not k.startswith("_"):
                    try:
                        v = object.__getattribute__(value, k)
                    except AttributeError:  # an unset slot
                        v = missing
                    if v is not missing:
                        out[k] = REDACTED if is_secret_key(k) else self.walk(v, depth)
            return out
        return {"_type": type(value).__name__}

    def _key(self, key: Any) -> str:
        if isinstance(key, str):
            return str.__str__(key)
        if isinstance(key, enum.Enum):
            return self._key(key.value)
        if isinstance(key, (int, float)) or key is None:
            return json.dumps(self.walk(key))
        return "<%s>" % type(key).__qualname__


def to_jsonable(value: Any, limit: int = 32768) -> Any:
    """A JSON-ready copy of ``value``: secrets by key removed, strings capped."""
    return _Walker(limit).walk(value)


# The fast path: message content is nearly always plain JSON data that the extractors
# built (exact dicts, lists, strings, numbers), small, with no secret-named key. One scan
# checks that (no user code can run: only exact builtin types pass), the C encoder writes
# it, and one redaction pass over its text gives the walker's very result several times
# faster. Anything else (a user object, a subclass, NaN, a cycle, a secret-named key, more
# than the walker's depth or item limits, a document over the size limit) takes the walker.
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
# ``_SECRET_VALUE`` as it appears in encoded text: the whitespace after ``Bearer``/``Basic``
# may have become an escape sequence (``\n``, ``\t``, ``\u000b``).
_SECRET_VALUE_IN_JSON = re.compile(
    _SECRET_VALUE.pattern.replace(r"\s+", r"(?:\s|\\[a-z]|\\u[0-9a-fA-F]{4})+")
)
_LEAF_TYPES = frozenset({str, int, float, bool, type(None)})


@functools.lru_cache(maxsize=4096)
def _secret_key_cached(key: str) -> bool:
    """``is_secret_key``, remembered: content keys repeat ("role", "parts", "content")."""
    return is_secret_key(key)


def _plain_budget(value: Any, depth: int, budget: int) -> int:
    """``budget`` less the characters of ``value``'s strings; negative when ``value`` is
    not plain data or its strings alone exceed the budget (the walker then caps them,
    rather than the C encoder writing megabytes only for them to be thrown away)."""
    t = type(value)
    if t is str:
        return budget - len(value)
    if t is dict:
        if depth >= _MAX_DEPTH or len(value) > _MAX_ITEMS:
            return -1
        for k, v in value.items():
            if type(k) is not str or _secret_key_cached(k):
                return -1
            budget = _plain_budget(v, depth + 1, budget - len(k))
            if budget < 0:
                return -1
        return budget
    if t is list:
        if depth >= _MAX_DEPTH or len(value) > _MAX_ITEMS:
            return -1
        for v in value:
            budget = _plain_budget(v, depth + 1, budget)
            if budget < 0:
                return -1
        return budget
    return budget if t in _LEAF_TYPES else -1


def _plain_json(value: Any, limit: int) -> str | None:
    """The fast path's text, or None when ``value`` needs the walker."""
    if type(value) not in (dict, list) or _plain_budget(value, 0, limit) < 0:
        return None
    try:
        text = _ENCODE(value)
    except (ValueError, RecursionError):  # NaN or infinity, a cycle
        return None
    if len(text) > limit:
        return None
    return encodable(_SECRET_VALUE_IN_JSON.sub(REDACTED, _scrub_known(text)))


def to_json(value: Any, limit: int = 32768) -> str:
    """``value`` as a JSON string of at most about ``limit`` characters, secrets removed.

    Strings are capped first; if the document is still too large, the cap is lowered in
    proportion and the value walked again (twice at most). Always valid JSON: as a last
    resort the whole text is kept as one JSON string, cut, with the truncation marker.
    """
    fast = _plain_json(value, limit)
    if fast is not None:
        return fast
    return _walked_json(value, limit)


def _walked_json(value: Any, limit: int) -> str:
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
    return encodable(redact_text(text))
