"""Google Gen AI: what ``generate_content`` and ``embed_content`` say, in GenAI terms.

Request attributes from ``config`` (a ``GenerateContentConfig`` or its dict), ``contents``
as the conventions' messages (``model`` turns are ``assistant``, a turn of function
responses is ``tool``), ``system_instruction`` as ``gen_ai.system_instructions``, the
function declarations and Python functions of ``tools`` as ``gen_ai.tool.definitions``
(built-in tools named for their kind); finish reasons per candidate, usage from
``usage_metadata``. Read by ``google_genai.py``, which says where each one is patched.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from weave_agent.genai import (
    INPUT_MESSAGES,
    OUTPUT_MESSAGES,
    SYSTEM_INSTRUCTIONS,
    TOOL_DEFINITIONS,
    Extractor,
    Request,
    Response,
    Usage,
    as_double,
    as_int,
    field,
    generic_part,
    media_part,
    reasoning_part,
    sequence,
    server_of,
    server_tool_call_part,
    server_tool_call_response_part,
    stop_sequences,
    text_part,
    tool_call_part,
    tool_call_response_part,
    tool_definition,
    uri_part,
)

from .credentials import remember as _remember_credentials
from .streaming import USAGE_FIELDS, GeminiStreamState

GEMINI = "gcp.gemini"
VERTEX_AI = "gcp.vertex_ai"

# FinishReason values (google.genai.types.FinishReason) in the conventions' terms; the
# others are reported lower-cased.
_FINISH = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    "MALFORMED_FUNCTION_CALL": "error",
    "UNEXPECTED_TOOL_CALL": "error",
}
_ROLES = {"model": "assistant", "user": "user", "function": "tool", "tool": "tool", "system": "system"}
_MODALITIES = ("image", "audio", "video")


# --- small helpers -------------------------------------------------------------------------


def _get(obj: Any, snake: str, camel: str | None = None) -> Any:
    """A field of a config/content dict (either spelling) or of an SDK model."""
    value = field(obj, snake)
    if value is None and camel is not None and isinstance(obj, dict):
        value = dict.get(obj, camel)
    return value


def model_id(model: Any) -> str | None:
    """The model's name as the span names it: ``models/gemini-2.5-flash`` and
    ``projects/p/locations/l/publishers/google/models/gemini-2.5-flash`` are ``gemini-2.5-flash``
    (tuned models keep their resource name)."""
    if not isinstance(model, str) or not model:
        return None
    head, sep, tail = model.rpartition("models/")
    if sep and tail and (not head or head.endswith("/")) and not head.endswith("tuned"):
        return tail
    return model


def _enum(value: Any) -> str | None:
    if value is None:
        return None
    name = getattr(value, "value", value)
    return name if isinstance(name, str) else str(name)


def finish_reason(reason: Any, function_call: bool) -> str | None:
    """A candidate's ``finish_reason`` as the conventions name it; ``STOP`` with a function
    call is ``tool_call`` (Gemini reports STOP when it asks for a function)."""
    name = _enum(reason)
    if not name or name == "FINISH_REASON_UNSPECIFIED":
        return None
    if name == "STOP" and function_call:
        return "tool_call"
    return _FINISH.get(name, name.lower())


def _usage(counts: tuple[Any, ...] | None, input_only: bool = False) -> Usage | None:
    """``usage_metadata``'s counts (``USAGE_FIELDS`` order): input = prompt + tool-use prompt
    (cached tokens are part of the prompt), output = candidates + thoughts, reasoning =
    thoughts."""
    if counts is None:
        return None
    prompt, candidates, cached, thoughts, tool_prompt = (c if isinstance(c, int) else None for c in counts)
    if prompt is not None and tool_prompt:
        prompt += tool_prompt
    if input_only:
        return Usage(prompt)
    output = candidates
    if thoughts:
        output = (output or 0) + thoughts
    return Usage(prompt, output, cached, None, thoughts)


def _usage_counts(usage: Any) -> tuple[Any, ...] | None:
    return tuple(getattr(usage, name, None) for name in USAGE_FIELDS) if usage is not None else None


def _modality(mime_type: Any) -> str:
    kind = mime_type.split("/", 1)[0] if isinstance(mime_type, str) else ""
    return kind if kind in _MODALITIES else "document" if kind in ("application", "text") else "image"


# --- content: the conventions' message parts -----------------------------------------------


def part_of(part: Any) -> dict[str, Any]:
    """One ``Part`` (or its dict, or a string) as a conventions' part."""
    if isinstance(part, str):
        return text_part(part)
    text = _get(part, "text")
    if isinstance(text, str):
        return reasoning_part(text) if _get(part, "thought") else text_part(text)
    call = _get(part, "function_call", "functionCall")
    if call is not None:
        return tool_call_part(_get(call, "id"), _get(call, "name"), _get(call, "args"))
    response = _get(part, "function_response", "functionResponse")
    if response is not None:
        return tool_call_response_part(_get(response, "id"), _get(response, "response"))
    blob = _get(part, "inline_data", "inlineData")
    if blob is not None:
        mime = _get(blob, "mime_type", "mimeType")
        data = _get(blob, "data")
        # The SDK holds bytes (base64 only in its JSON): never on the span, see media_part.
        return media_part(data, _modality(mime), mime, base64_encoded=not isinstance(data, (bytes, bytearray)))
    data = _get(part, "file_data", "fileData")
    if data is not None:
        mime = _get(data, "mime_type", "mimeType")
        return uri_part(_get(data, "file_uri", "fileUri"), _modality(mime), mime)
    code = _get(part, "executable_code", "executableCode")
    if code is not None:
        return server_tool_call_part(_get(code, "id"), "code_execution",
                                     {"type": "code_execution", "code": _get(code, "code"),
                                      "language": _enum(_get(code, "language"))})
    result = _get(part, "code_execution_result", "codeExecutionResult")
    if result is not None:
        return server_tool_call_response_part(_get(result, "id"),
                                              {"type": "code_execution", "outcome": _enum(_get(result, "outcome")),
                                               "output": _get(result, "output")})
    return generic_part(type(part).__name__)


def _is_content(item: Any) -> bool:
    if isinstance(item, dict):
        return "parts" in item or "role" in item
    return any(c.__name__ == "Content" for c in type(item).__mro__)  # UserContent, ModelContent too


def _message(role: Any, parts: list[dict[str, Any]]) -> dict[str, Any]:
    name = _ROLES.get(role, role) if isinstance(role, str) and role else "user"
    if name == "user" and parts and all(p["type"] == "tool_call_response" for p in parts):
        name = "tool"  # the turn that answers the model's function calls
    return {"role": name, "parts": parts}


def input_messages(contents: Any) -> list[dict[str, Any]]:
    """``contents`` as the SDK reads it: a string, a part, a ``Content``, or a list of them
    (parts in a row make one user turn)."""
    items = sequence(contents) if isinstance(contents, (list, tuple)) else [contents]
    out: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    for item in items:
        if item is None:
            continue
        if _is_content(item):
            if pending:
                out.append(_message("user", pending))
                pending = []
            out.append(_message(_get(item, "role"), [part_of(p) for p in sequence(_get(item, "parts"))]))
        else:
            pending.append(part_of(item))
    if pending:
        out.append(_message("user", pending))
    return out


def system_instructions(value: Any) -> list[dict[str, Any]]:
    """``system_instruction``: a string, a part, a ``Content`` or a list of them."""
    if value is None:
        return []
    if _is_content(value):
        return [part_of(p) for p in sequence(_get(value, "parts"))]
    return [part_of(p) for p in (sequence(value) if isinstance(value, (list, tuple)) else [value])]


def _schema(value: Any) -> Any:
    """A declaration's parameters as JSON (a ``Schema`` model is dumped; dicts as given)."""
    if value is None or isinstance(value, (dict, bool)):
        return value
    dump = getattr(value, "model_dump", None)
    return dump(exclude_none=True, mode="json") if dump is not None else None


def tool_definitions(tools: Any) -> list[dict[str, Any]]:
    """``config.tools``: Python functions (automatic function calling), ``Tool``s with
    ``function_declarations``, and built-in tools (Google Search, code execution, URL
    context...), each named for its kind."""
    defs: list[dict[str, Any]] = []
    for tool in sequence(tools):
        if callable(tool) and not isinstance(tool, type) and not hasattr(tool, "function_declarations"):
            doc = inspect.getdoc(tool)
            defs.append(tool_definition("function", getattr(tool, "__name__", None), doc))
            continue
        items: Any
        if isinstance(tool, dict):
            items = dict.items(tool)
        elif hasattr(type(tool), "model_fields"):
            items = ((name, getattr(tool, name, None)) for name in type(tool).model_fields)
        else:
            defs.append(tool_definition(type(tool).__name__, None))  # an MCP session and the like
            continue
        for kind, value in items:
            if value is None or value is False or value == []:
                continue
            if kind in ("function_declarations", "functionDeclarations"):
                for decl in sequence(value):
                    params = _get(decl, "parameters")
                    if params is None:
                        params = _get(decl, "parameters_json_schema", "parametersJsonSchema")
                    defs.append(tool_definition("function", _get(decl, "name"), _get(decl, "description"),
                                                _schema(params)))
            else:
                defs.append(tool_definition(kind, None))
    return defs


def _output_message(parts: list[dict[str, Any]], finish: str | None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "parts": parts}
    if finish:  # a call cut short gets "error" from the agent
        message["finish_reason"] = finish
    return message


# --- where the call goes -------------------------------------------------------------------


def client_of(instance: Any, config: Any) -> tuple[str, str | None, int | None]:
    """(provider, server.address, server.port) of the module's API client; a per-request
    ``http_options.base_url`` wins."""
    api = getattr(instance, "_api_client", None)
    provider = VERTEX_AI if getattr(api, "vertexai", False) else GEMINI
    base = _get(_get(config, "http_options", "httpOptions"), "base_url", "baseUrl")
    if not isinstance(base, str) or not base:
        base = getattr(getattr(api, "_http_options", None), "base_url", None)
    address, port = _server(base) if isinstance(base, str) and base else (None, None)
    return provider, address, port


@functools.lru_cache(maxsize=64)
def _server(base_url: str) -> tuple[str | None, int | None]:
    """``server_of`` per base URL, parsed once (a client's URL is the same on every call)."""
    return server_of(base_url)


# --- extractors ----------------------------------------------------------------------------


class _GeminiExtractor(Extractor):
    provider = GEMINI

    def build(self, inputs: dict[str, Any], instance: Any, attrs: dict[str, Any], content: Any) -> Request:
        if instance is not None:
            _remember_credentials(instance)  # scrubbed from what is exported, should the server echo them
        provider, address, port = client_of(instance, inputs.get("config"))
        return Request(model_id(inputs.get("model")), attrs, content, address, port, provider)

    def error_type(self, exc: BaseException) -> str:
        code = getattr(exc, "code", None)  # google.genai.errors.APIError: the HTTP status
        if isinstance(code, int) and not isinstance(code, bool):
            return str(code)
        return type(exc).__name__


class GenerateContentExtractor(_GeminiExtractor):
    """``Models._generate_content`` / ``_generate_content_stream`` (sync and async): one
    HTTP request to ``generateContent`` / ``streamGenerateContent``."""

    operation = "chat"

    def __init__(self, streaming: bool = False) -> None:
        self.streaming = streaming

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        config = inputs.get("config")
        attrs: dict[str, Any] = {"gen_ai.request.stream": True} if self.streaming else {}
        if config is not None:
            for keys, attr, read in (
                (("temperature",), "gen_ai.request.temperature", as_double),
                (("top_p", "topP"), "gen_ai.request.top_p", as_double),
                (("top_k", "topK"), "gen_ai.request.top_k", as_int),
                (("max_output_tokens", "maxOutputTokens"), "gen_ai.request.max_tokens", as_int),
                (("seed",), "gen_ai.request.seed", as_int),
                (("presence_penalty", "presencePenalty"), "gen_ai.request.presence_penalty", as_double),
                (("frequency_penalty", "frequencyPenalty"), "gen_ai.request.frequency_penalty", as_double),
            ):
                value = read(_get(config, *keys))
                if value is not None:
                    attrs[attr] = value
            stop = stop_sequences(_get(config, "stop_sequences", "stopSequences"))
            if stop:
                attrs["gen_ai.request.stop_sequences"] = stop
            n = as_int(_get(config, "candidate_count", "candidateCount"))
            if n is not None and n != 1:
                attrs["gen_ai.request.choice.count"] = n
            mime = _get(config, "response_mime_type", "responseMimeType")
            if isinstance(mime, str) and mime:
                attrs["gen_ai.output.type"] = "json" if "json" in mime else "text" if mime.startswith("text/") else mime
        content = None
        if capture:
            content = {INPUT_MESSAGES: input_messages(inputs.get("contents"))}
            if config is not None:
                content[SYSTEM_INSTRUCTIONS] = system_instructions(
                    _get(config, "system_instruction", "systemInstruction"))
                content[TOOL_DEFINITIONS] = tool_definitions(_get(config, "tools"))
        return self.build(inputs, instance, attrs, content)

    def is_stream(self, inputs: dict[str, Any], result: Any) -> bool:
        # The async ``_generate_content_stream`` is a coroutine giving an async generator
        # (the sync one is a generator function, which the agent wraps as such).
        return self.streaming and hasattr(type(result), "__anext__")

    def response(self, output: Any, capture: bool) -> Response:
        if output is None:
            return Response()
        if isinstance(output, GeminiStreamState):
            return self._from_stream(output, capture)
        candidates = sequence(getattr(output, "candidates", None))
        finishes: list[str] = []
        messages: list[dict[str, Any]] = []
        for candidate in candidates:
            parts = sequence(getattr(getattr(candidate, "content", None), "parts", None))
            calls = any(getattr(p, "function_call", None) is not None for p in parts)
            finish = finish_reason(getattr(candidate, "finish_reason", None), calls)
            if finish:
                finishes.append(finish)
            if capture:
                messages.append(_output_message([part_of(p) for p in parts], finish))
        return Response(
            self._attrs(getattr(output, "response_id", None), finishes),
            _usage(_usage_counts(getattr(output, "usage_metadata", None))),
            getattr(output, "model_version", None),
            {OUTPUT_MESSAGES: messages} if capture else None,
        )

    def _from_stream(self, state: GeminiStreamState, capture: bool) -> Response:
        finishes: list[str] = []
        messages: list[dict[str, Any]] = []
        for candidate in state.ordered():
            finish = finish_reason(candidate.finish_reason, state.function_call)
            if finish:
                finishes.append(finish)
            if capture and state.capture:
                parts: list[dict[str, Any]] = []
                for kind, value in candidate.parts:
                    if kind == "text":
                        parts.append(text_part("".join(value)))
                    elif kind == "thought":
                        parts.append(reasoning_part("".join(value)))
                    else:
                        parts.append(part_of(value))
                messages.append(_output_message(parts, finish))
        return Response(
            self._attrs(state.response_id, finishes),
            _usage(state.usage),
            state.model_version,
            {OUTPUT_MESSAGES: messages} if capture and state.capture else None,
        )

    @staticmethod
    def _attrs(response_id: Any, finishes: list[str]) -> dict[str, Any]:
        attrs: dict[str, Any] = {}
        if isinstance(response_id, str) and response_id:
            attrs["gen_ai.response.id"] = response_id
        if finishes:
            attrs["gen_ai.response.finish_reasons"] = finishes
        return attrs


class EmbedContentExtractor(_GeminiExtractor):
    """``Models.embed_content`` (one ``batchEmbedContents``, ``embedContent`` or ``predict``
    request): the dimension from ``output_dimensionality`` or the first vector; input tokens
    from ``usage_metadata`` (google-genai 3) or, on Vertex AI, each embedding's
    ``statistics.token_count``."""

    operation = "embeddings"

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        attrs: dict[str, Any] = {}
        dimension = as_int(_get(inputs.get("config"), "output_dimensionality", "outputDimensionality"))
        if dimension is not None:
            attrs["gen_ai.embeddings.dimension.count"] = dimension
        content = None
        if capture:
            contents = inputs.get("contents")
            items = sequence(contents) if isinstance(contents, (list, tuple)) else [contents]
            parts = [p for item in items if item is not None
                     for p in (input_messages(item)[0]["parts"] if _is_content(item) else [part_of(item)])]
            if parts:
                content = {INPUT_MESSAGES: [{"role": "user", "parts": parts}]}
        return self.build(inputs, instance, attrs, content)

    def is_stream(self, inputs: dict[str, Any], result: Any) -> bool:
        return False

    def response(self, output: Any, capture: bool) -> Response:
        if output is None:
            return Response()
        attrs: dict[str, Any] = {}
        embeddings = sequence(getattr(output, "embeddings", None))
        if embeddings:
            values = getattr(embeddings[0], "values", None)
            if isinstance(values, list) and values:
                attrs["gen_ai.embeddings.dimension.count"] = len(values)
        usage = _usage(_usage_counts(getattr(output, "usage_metadata", None)), input_only=True)
        if usage is None or usage.input_tokens is None:
            counts = [getattr(getattr(e, "statistics", None), "token_count", None) for e in embeddings]
            numbers = [c for c in counts if isinstance(c, (int, float))]
            if numbers and len(numbers) == len(counts):  # Vertex AI: each embedding's own count
                usage = Usage(int(sum(numbers)))
        return Response(attrs, usage)
