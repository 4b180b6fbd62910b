"""Secrets known by value: what the SDK clients were given, scrubbed from what we export.

Redaction by *shape* (``serialize``: ``sk-...``, ``Bearer ...``, JWTs) misses a key with no
telltale shape (Mistral's 32 letters and digits, a proxy's hex key, a value in a query
string), and servers echo what they were sent: a 401 repeats the key ("Incorrect API key
provided: 0a1b..."), a 404 repeats the URL with its query string. The SDK's exception
then carries the key into ``exception.message``, the stack trace and the status
description, with content capture on or off.

But the agent knows the exact strings: the instrumentations read them from the client a
call is made on (its ``credentials(client)``: ``api_key``, auth and default headers,
default query values, Azure keys and AD tokens, cloud credentials) the first time they see
that client (``remember_client``, cached by object: one dict lookup per call after that).
``scrub`` replaces every known value, and the forms it takes once sent (percent-encoded in
a URL, escaped in JSON or a ``repr``), in a string: ``serialize`` calls it on everything it
redacts, so exception messages, stack traces, status descriptions and captured content
are covered alike.

Values shorter than ``MIN_LENGTH`` are not remembered (``api_key="EMPTY"`` for a local
server would scrub a common word from every message), nor more than ``MAX_VALUES`` (a
process making a client per tenant keeps the most recent ones). The matcher is rebuilt
when a value is added, never per string: with a handful of values it is a few
``str.__contains__`` scans (C speed, nothing found in the common case); past
``_REGEX_FROM`` values, one compiled alternation.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
import weakref
from collections.abc import Callable, Iterable
from typing import Any

REDACTED = "[REDACTED]"
MIN_LENGTH = 12
MAX_VALUES = 1024
_REGEX_FROM = 8  # forms: below this, `in` scans; from it, one regex

_lock = threading.Lock()
_values: dict[str, None] = {}  # the values given, in the order learned (oldest first)
_forms: tuple[str, ...] = ()  # every form of every value, longest first
_pattern: re.Pattern[str] | None = None
_clients: dict[int, Any] = {}  # id(client) -> weakref to it: clients already read


def _forms_of(value: str) -> set[str]:
    """``value`` and what it becomes once sent or printed: percent-encoded in a URL (a
    query value, ``+`` for a space or not), escaped in JSON and in a Python ``repr``."""
    forms = {
        value,
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote(value),
        urllib.parse.quote_plus(value),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        repr(value)[1:-1],
    }
    return {f for f in forms if len(f) >= MIN_LENGTH}


def _rebuild() -> None:
    global _forms, _pattern
    forms: set[str] = set()
    for value in _values:
        forms |= _forms_of(value)
    ordered = tuple(sorted(forms, key=len, reverse=True))  # a value inside another goes last
    _pattern = re.compile("|".join(map(re.escape, ordered))) if len(ordered) >= _REGEX_FROM else None
    _forms = ordered


def remember(value: Any) -> bool:
    """Scrub ``value`` from every string exported from now on; True if it is new. Anything
    but a string of at least ``MIN_LENGTH`` characters is ignored."""
    return remember_all((value,))


def remember_all(values: Iterable[Any]) -> bool:
    new = [v for v in values if type(v) is str and len(v) >= MIN_LENGTH and v.strip() and v not in _values]
    if not new:
        return False
    with _lock:
        for value in new:
            _values[value] = None
        while len(_values) > MAX_VALUES:
            del _values[next(iter(_values))]
            _clients.clear()  # a live client whose value went is read again on its next call
        _rebuild()
    return True


def remember_client(client: Any, read: Callable[[Any], Iterable[Any]]) -> None:
    """``read(client)``'s values remembered, once per client object (the per-call cost is
    one dict lookup). ``read`` is the instrumentation's ``credentials``: it must read only
    what is stored (never call a token provider) and may raise (then nothing is learned)."""
    key = id(client)
    ref = _clients.get(key)
    if ref is not None and ref() is client:
        return
    try:
        values = list(read(client))
    except Exception:
        values = []
    remember_all(values)

    def gone(ref: Any, key: int = key) -> None:
        if _clients.get(key) is ref:
            _clients.pop(key, None)

    try:
        _clients[key] = weakref.ref(client, gone)
    except TypeError:  # not weakly referenceable: read again next time (nothing new is cheap)
        pass


def scrub(text: str) -> str:
    """``text`` with every remembered value (in any of its forms) replaced by ``[REDACTED]``."""
    forms = _forms
    if not forms:
        return text
    pattern = _pattern
    if pattern is not None:
        return pattern.sub(REDACTED, text)
    for form in forms:
        if form in text:
            text = text.replace(form, REDACTED)
    return text


def known() -> int:
    """How many values are remembered."""
    return len(_values)


def forget() -> None:
    """Forget every value and client (tests)."""
    global _forms, _pattern
    with _lock:
        _values.clear()
        _clients.clear()
        _forms, _pattern = (), None


# --- helpers for an instrumentation's ``credentials(client)`` ----------------------------------

# Header names that carry a credential: ``Authorization``, ``X-Api-Key``, ``api-key``,
# ``X-Goog-Api-Key``, ``X-Amz-Security-Token``, ``Cookie``, a proxy's ``X-Portkey-Api-Key``.
_CREDENTIAL_WORDS = ("auth", "key", "token", "secret", "password", "cookie", "signature", "credential", "session")
_SCHEMES = ("bearer ", "basic ", "token ", "apikey ")


def header_values(headers: Any) -> list[str]:
    """The credentials in a mapping of HTTP headers: the values of the headers whose name
    says they hold one, each also without its scheme (``Bearer``, ``Basic``)."""
    out: list[str] = []
    if not isinstance(headers, dict):
        return out
    for name, value in dict.items(headers):
        if type(name) is not str or type(value) is not str:
            continue
        lowered = name.lower()
        if not any(word in lowered for word in _CREDENTIAL_WORDS):
            continue
        out.append(value)
        if value.lower().startswith(_SCHEMES):
            out.append(value.split(" ", 1)[1].strip())
    return out


def query_values(query: Any) -> list[str]:
    """The values of a mapping of query parameters (a key passed as ``?key=...``), except
    API versions, which are no secret and would scrub a date from every message."""
    if not isinstance(query, dict):
        return []
    return [v for k, v in dict.items(query) if type(v) is str and "version" not in str(k).lower()]


def url_values(url: Any) -> list[str]:
    """The credentials written into a URL: the password of ``https://user:password@host``
    and the query string's values."""
    text = str(url) if url is not None else ""
    if "@" not in text and "?" not in text:
        return []
    try:
        parts = urllib.parse.urlsplit(text)
        out = [parts.password] if parts.password else []
        out += query_values(dict(urllib.parse.parse_qsl(parts.query)))
    except ValueError:
        return []
    return out
