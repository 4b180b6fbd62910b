"""Does a span say what the GenAI semantic conventions say it must? The one place that knows.

Written from ``open-telemetry/semantic-conventions-genai`` at commit
``fe5608e249d64bc5961329a82f8915fe95ced51a`` (2026-08-03, no tag yet; its manifest says
``gen-ai-dev/1.42.0-dev``): the JSON schemas ``model/gen-ai/gen-ai-input-messages.json``,
``gen-ai-output-messages.json``, ``gen-ai-system-instructions.json`` and
``gen-ai-tool-definitions.json``, the attribute registry's types, and the span's
conditions in ``docs/gen-ai/client-inference.md``. When the conventions change, change
``CONVENTIONS_COMMIT`` and the tables below; nothing else in the project encodes them.

Why a hand-written check and not the schemas with ``jsonschema``: the project takes no
dependency for a test helper, and the schemas alone let almost anything through. Every
part list is an ``anyOf`` that ends in ``GenericPart`` (any object with a string
``type``), so a ``blob`` without its bytes or a ``text`` without ``content`` validates as a
generic part (the conventions' own test case ``input-messages-parts-missing-required``
records exactly that as valid). The newest conventions close that hole: a part whose
``type`` names a defined part type must be that type, and anything else is written as
``{"type": "generic", "generic_type": "<the provider's type>", ...}``. This module checks
that discriminated reading:

* a part whose ``type`` is one of ``PART_FIELDS`` must have that type's required fields,
  with their JSON types; ``blob`` is closed (the schema's ``BlobPart`` alone does not
  allow extra properties: an undefined ``size`` is dropped by the conventions' models);
  a ``uri`` is never a ``data:`` URL (the schema says those are blobs: bytes in
  disguise);
* any other ``type`` is a violation: unknown blocks are ``generic`` parts;
* ``gen_ai.system_instructions`` holds ``text`` and ``generic`` parts only;
* output messages need ``finish_reason`` (required at the pin; the newest conventions
  deprecate it in favour of ``gen_ai.response.finish_reasons``, but do not forbid it);
* tool definitions need ``type`` and ``name`` (a ``function`` may add ``description``
  and a JSON-schema ``parameters`` object).

Attribute types follow the registry (``ATTRIBUTE_TYPES``): doubles must be floats even for
a whole number (the OTLP value type follows the Python type), ints must be ints (not
bools), string arrays must be sequences of strings. Conditions from the span's table:
``gen_ai.request.stream`` is set only when true, ``gen_ai.conversation.compacted`` only
when true, ``gen_ai.request.choice.count`` only when not 1.

``check_span`` returns the first ``Violation`` (span name, attribute, JSON path like
``$[0].parts[1].content``, what is wrong), or None. The pytest plugin
(``weave_agent.testing``) runs it on every span a test records.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

CONVENTIONS_REPOSITORY = "open-telemetry/semantic-conventions-genai"
CONVENTIONS_COMMIT = "fe5608e249d64bc5961329a82f8915fe95ced51a"

INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
TOOL_DEFINITIONS = "gen_ai.tool.definitions"
CONTENT_ATTRIBUTES = (INPUT_MESSAGES, OUTPUT_MESSAGES, SYSTEM_INSTRUCTIONS, TOOL_DEFINITIONS)

# --- JSON value kinds ---------------------------------------------------------------------

STRING = "a string"
OPTIONAL_STRING = "a string or null"
OBJECT_WITH_TYPE = "an object with a string 'type'"
SCHEMA_OBJECT = "a JSON schema (an object or a boolean) or null"
ANY = "any JSON value"

# Per part type: field -> (required, kind). Required fields first, as the schemas list them.
PART_FIELDS: dict[str, dict[str, tuple[bool, str]]] = {
    "text": {"content": (True, STRING)},
    "tool_call": {"name": (True, STRING), "id": (False, OPTIONAL_STRING), "arguments": (False, ANY)},
    "tool_call_response": {"response": (True, ANY), "id": (False, OPTIONAL_STRING)},
    "server_tool_call": {
        "name": (True, STRING),
        "server_tool_call": (True, OBJECT_WITH_TYPE),
        "id": (False, OPTIONAL_STRING),
    },
    "server_tool_call_response": {
        "server_tool_call_response": (True, OBJECT_WITH_TYPE),
        "id": (False, OPTIONAL_STRING),
    },
    "blob": {"modality": (True, STRING), "content": (True, STRING), "mime_type": (False, OPTIONAL_STRING)},
    "file": {"modality": (True, STRING), "file_id": (True, STRING), "mime_type": (False, OPTIONAL_STRING)},
    "uri": {"modality": (True, STRING), "uri": (True, STRING), "mime_type": (False, OPTIONAL_STRING)},
    "reasoning": {"content": (True, STRING)},
    "compaction": {"id": (False, OPTIONAL_STRING), "content": (False, OPTIONAL_STRING)},
    # The newest conventions' catch-all: the provider's own block type in ``generic_type``.
    "generic": {"generic_type": (False, STRING)},
}
# Part types whose schema does not allow properties it does not define.
CLOSED_PARTS = frozenset({"blob"})
SYSTEM_INSTRUCTION_PARTS = frozenset({"text", "generic"})

ROLES = ("system", "user", "assistant", "tool")  # the schema's Role enum; any string is allowed
FINISH_REASONS = ("stop", "length", "content_filter", "tool_call", "compaction", "error")
MODALITIES = ("image", "video", "audio", "document")

TOOL_FIELDS: dict[str, tuple[bool, str]] = {"type": (True, STRING), "name": (True, STRING)}
FUNCTION_TOOL_FIELDS: dict[str, tuple[bool, str]] = {
    **TOOL_FIELDS,
    "description": (False, OPTIONAL_STRING),
    "parameters": (False, SCHEMA_OBJECT),
}

# --- attribute types, from the registry -----------------------------------------------------

STR = "string"
INT = "int"
DOUBLE = "double"
BOOL = "boolean"
STR_ARRAY = "string[]"

ATTRIBUTE_TYPES: dict[str, str] = {
    "gen_ai.operation.name": STR,
    "gen_ai.provider.name": STR,
    "gen_ai.request.model": STR,
    "gen_ai.response.model": STR,
    "gen_ai.response.id": STR,
    "gen_ai.output.type": STR,
    "gen_ai.conversation.id": STR,
    "gen_ai.request.previous_response.id": STR,
    "gen_ai.request.reasoning.level": STR,
    "gen_ai.prompt.name": STR,
    "gen_ai.prompt.version": STR,
    "gen_ai.agent.name": STR,
    "gen_ai.agent.id": STR,
    "gen_ai.agent.description": STR,
    "gen_ai.agent.version": STR,
    "gen_ai.workflow.name": STR,
    "gen_ai.data_source.id": STR,
    "gen_ai.tool.name": STR,
    "gen_ai.tool.call.id": STR,
    "gen_ai.tool.description": STR,
    "gen_ai.tool.type": STR,
    "gen_ai.token.type": STR,
    "server.address": STR,
    "error.type": STR,
    "openai.api.type": STR,
    "openai.request.service_tier": STR,
    "openai.response.service_tier": STR,
    "openai.response.system_fingerprint": STR,
    "server.port": INT,
    "gen_ai.request.max_tokens": INT,
    "gen_ai.request.top_k": INT,
    "gen_ai.request.seed": INT,
    "gen_ai.request.choice.count": INT,
    "gen_ai.embeddings.dimension.count": INT,
    "gen_ai.request.temperature": DOUBLE,
    "gen_ai.request.top_p": DOUBLE,
    "gen_ai.request.frequency_penalty": DOUBLE,
    "gen_ai.request.presence_penalty": DOUBLE,
    "gen_ai.response.time_to_first_chunk": DOUBLE,
    "gen_ai.request.stream": BOOL,
    "gen_ai.conversation.compacted": BOOL,
    "gen_ai.response.finish_reasons": STR_ARRAY,
    "gen_ai.request.stop_sequences": STR_ARRAY,
    "gen_ai.request.encoding_formats": STR_ARRAY,
}
# Every ``gen_ai.usage.*`` count (input, output, cache_read, cache_write, reasoning, per
# modality, and the older cache_creation) is an int.
INT_PREFIXES = ("gen_ai.usage.",)


class Violation:
    """The first thing a span does not do as the conventions say."""

    __slots__ = ("span", "attribute", "path", "message")

    def __init__(self, attribute: str, path: str, message: str, span: str | None = None) -> None:
        self.span = span
        self.attribute = attribute
        self.path = path
        self.message = message

    def __str__(self) -> str:
        where = "span %r: " % self.span if self.span is not None else ""
        at = " at %s" % self.path if self.path else ""
        return "%s%s%s: %s (GenAI conventions at %s)" % (where, self.attribute, at, self.message, CONVENTIONS_COMMIT[:12])

    __repr__ = __str__


class _Fail(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean (%s)" % ("true" if value else "false")
    if isinstance(value, int):
        return "an int (%d)" % value
    if isinstance(value, float):
        return "a float (%r)" % value
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return "a string (%r)" % shown
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _check_kind(value: Any, kind: str, path: str) -> None:
    if kind == ANY:
        return
    if kind == STRING:
        ok = isinstance(value, str)
    elif kind == OPTIONAL_STRING:
        ok = value is None or isinstance(value, str)
    elif kind == OBJECT_WITH_TYPE:
        ok = isinstance(value, Mapping) and isinstance(value.get("type"), str)
    elif kind == SCHEMA_OBJECT:
        ok = value is None or isinstance(value, (Mapping, bool))
    else:  # pragma: no cover - a table typo
        raise ValueError(kind)
    if not ok:
        raise _Fail(path, "expected %s, got %s" % (kind, _describe(value)))


def _check_fields(obj: Mapping[str, Any], fields: Mapping[str, tuple[bool, str]], path: str, what: str) -> None:
    for key, (required, kind) in fields.items():
        if key not in obj:
            if required:
                raise _Fail(path, "%s without its required '%s'" % (what, key))
            continue
        _check_kind(obj[key], kind, "%s.%s" % (path, key))


def check_part(part: Any, path: str = "$", allowed: frozenset[str] | None = None) -> None:
    """Raise ``_Fail`` if ``part`` is not a message part the conventions define."""
    if not isinstance(part, Mapping):
        raise _Fail(path, "a part must be an object, got %s" % _describe(part))
    if "type" not in part:
        raise _Fail(path, "a part without its required 'type'")
    kind = part["type"]
    if not isinstance(kind, str):
        raise _Fail(path + ".type", "a part needs a string 'type', got %s" % _describe(kind))
    fields = PART_FIELDS.get(kind)
    if fields is None:
        raise _Fail(path + ".type", "%r is not a part type of the conventions (%s); record other blocks as "
                    "{\"type\": \"generic\", \"generic_type\": %r, ...}" % (kind, ", ".join(PART_FIELDS), kind))
    if allowed is not None and kind not in allowed:
        raise _Fail(path + ".type", "a %r part is not allowed here (only %s)" % (kind, ", ".join(sorted(allowed))))
    _check_fields(part, fields, path, "a %r part" % kind)
    if kind in CLOSED_PARTS:
        extra = sorted(k for k in part if k != "type" and k not in fields)
        if extra:
            raise _Fail("%s.%s" % (path, extra[0]), "a %r part has no field %r" % (kind, extra[0]))
    if kind == "uri" and part["uri"].startswith("data:"):
        raise _Fail(path + ".uri", "a uri part must not be a data: URL (that is a blob: the bytes themselves)")


def _check_message(message: Any, path: str, output: bool) -> None:
    what = "an output message" if output else "a message"
    if not isinstance(message, Mapping):
        raise _Fail(path, "%s must be an object, got %s" % (what, _describe(message)))
    for key in ("role", "parts") + (("finish_reason",) if output else ()):
        if key not in message:
            raise _Fail(path, "%s without its required '%s'" % (what, key))
    role = message["role"]
    if not isinstance(role, str) or not role:
        raise _Fail(path + ".role", "expected a role string (%s, ...), got %s" % (", ".join(ROLES), _describe(role)))
    if "name" in message:
        _check_kind(message["name"], OPTIONAL_STRING, path + ".name")
    if output:
        _check_kind(message["finish_reason"], STRING, path + ".finish_reason")
    parts = message["parts"]
    if not isinstance(parts, (list, tuple)):
        raise _Fail(path + ".parts", "expected an array of parts, got %s" % _describe(parts))
    for i, part in enumerate(parts):
        check_part(part, "%s.parts[%d]" % (path, i))


def _check_tool(tool: Any, path: str) -> None:
    if not isinstance(tool, Mapping):
        raise _Fail(path, "a tool definition must be an object, got %s" % _describe(tool))
    fields = FUNCTION_TOOL_FIELDS if tool.get("type") == "function" else TOOL_FIELDS
    _check_fields(tool, fields, path, "a tool definition")


def _check_document(attribute: str, doc: Any) -> None:
    if not isinstance(doc, (list, tuple)):
        raise _Fail("$", "expected a JSON array, got %s" % _describe(doc))
    for i, item in enumerate(doc):
        path = "$[%d]" % i
        if attribute == INPUT_MESSAGES:
            _check_message(item, path, output=False)
        elif attribute == OUTPUT_MESSAGES:
            _check_message(item, path, output=True)
        elif attribute == SYSTEM_INSTRUCTIONS:
            check_part(item, path, SYSTEM_INSTRUCTION_PARTS)
        else:
            _check_tool(item, path)


def check_content(attribute: str, value: Any) -> Violation | None:
    """``value`` of one of ``CONTENT_ATTRIBUTES``: a JSON string (on spans) or the
    structured value (on log records)."""
    doc = value
    if isinstance(value, str):
        try:
            doc = json.loads(value)
        except ValueError as exc:
            return Violation(attribute, "$", "not valid JSON (%s)" % exc)
    try:
        _check_document(attribute, doc)
    except _Fail as fail:
        return Violation(attribute, fail.path, fail.message)
    return None


def check_attribute(name: str, value: Any) -> Violation | None:
    """The registry's type of ``name`` (and its conditions); None for names it does not type."""
    expected = ATTRIBUTE_TYPES.get(name)
    if expected is None and name.startswith(INT_PREFIXES):
        expected = INT
    if expected is None:
        return None
    if expected == STR:
        ok = isinstance(value, str)
    elif expected == INT:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif expected == DOUBLE:
        ok = isinstance(value, float)
    elif expected == BOOL:
        ok = isinstance(value, bool)
    else:
        ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
    if not ok:
        return Violation(name, "", "the registry types it %s, got %s" % (expected, _describe(value)))
    if name in ("gen_ai.request.stream", "gen_ai.conversation.compacted") and value is not True:
        return Violation(name, "", "set only when true (unset means false), got false")
    if name == "gen_ai.request.choice.count" and value == 1:
        return Violation(name, "", "set only when not 1")
    return None


def check_attributes(attributes: Mapping[str, Any]) -> Violation | None:
    """Types and conditions first, then the content attributes against the schemas."""
    for name, value in attributes.items():
        found = check_attribute(name, value)
        if found is not None:
            return found
    for name in CONTENT_ATTRIBUTES:
        if name in attributes:
            found = check_content(name, attributes[name])
            if found is not None:
                return found
    return None


def check_span(span: Any) -> Violation | None:
    """A finished span (anything with ``name``, ``attributes`` and ``events``): its attributes,
    then the content attributes of its events."""
    found = check_attributes(span.attributes or {})
    if found is None:
        for event in getattr(span, "events", None) or ():
            attrs = event.attributes or {}
            for name in CONTENT_ATTRIBUTES:
                if name in attrs:
                    found = check_content(name, attrs[name])
                    if found is not None:
                        found.attribute = "event %r: %s" % (event.name, name)
                        break
            if found is not None:
                break
    if found is not None:
        found.span = span.name
    return found


def check_spans(spans: Iterable[Any]) -> Violation | None:
    """The first violation among ``spans``."""
    for span in spans:
        found = check_span(span)
        if found is not None:
            return found
    return None
