"""Cohere: what the SDK's requests and responses say, in GenAI terms.

One ``Extractor`` each for v2 chat, v2 embed, v1 chat and v1 embed, and ``RerankSpec``
(rerank has no GenAI operation: an INTERNAL span of ours). Read by ``cohere.py``, which
says where each one is patched.

Usage: Cohere reports two sets of counts, ``usage.tokens`` (what the model read and
wrote, the prompt template Cohere adds included) and ``usage.billed_units`` (what is
billed, without it). ``gen_ai.usage.*`` and the token metrics are the **tokens** (the
conventions count the model's tokens); when a response has no ``tokens`` (embed answers
often carry only ``billed_units``) the billed counts stand in. The billed counts are kept
apart as ``cohere.usage.billed_units.input_tokens``/``output_tokens``. Counts arrive as
floats (``1.0``): recorded as ints. ``cached_tokens`` is ``gen_ai.usage.cache_read.input_tokens``.

The v2 chat response names no model: ``gen_ai.response.model`` is left unset (the span is
named and its metrics keyed by the request's model; nothing is made up).
"""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import SpanKind

from weave_agent.export import telemetry
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
    generic_part,
    reasoning_part,
    server_of,
    stop_sequences,
    tool_call_part,
    tool_call_response_part,
    tool_definition,
    uri_part,
)
from weave_agent.genai import sequence as _seq
from weave_agent.genai import text_part as _text
from weave_agent.tracing.calls import Call, OpSpec

from .credentials import remember as _remember_credentials
from .streaming import V1ChatStream, V2ChatStream, _usage_numbers

PROVIDER = "cohere"

# Cohere's finish reasons in the conventions' values (anything else passes lower-cased).
_FINISH = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_call",
    "ERROR": "error",
    "ERROR_TOXIC": "content_filter",
    "ERROR_LIMIT": "length",
    "USER_CANCEL": "error",
    "TIMEOUT": "error",
}

# v1 chat history roles
_V1_ROLES = {"USER": "user", "CHATBOT": "assistant", "SYSTEM": "system", "TOOL": "tool"}


# --- small helpers -------------------------------------------------------------------------


def _get(obj: Any, key: str) -> Any:
    """A field of a request dict or an SDK model; the SDK's ``OMIT`` (``...``) reads as None."""
    value = obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)
    return None if value is ... else value


def _input(inputs: dict[str, Any], key: str) -> Any:
    value = inputs.get(key)
    return None if value is ... else value


def _finish(reason: Any) -> str | None:
    if not reason:
        return None
    reason = str(reason)
    return _FINISH.get(reason, reason.lower())


def _count(value: Any) -> int | None:
    """A count as Cohere sends it (a float such as ``12.0``) as an int; None when absent. The
    Bedrock client writes ``-1`` for a count Bedrock's headers did not give: absent too."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return None
    return int(value)


def _usage(numbers: tuple[Any, ...] | None, with_output: bool = True) -> tuple[Usage | None, dict[str, Any]]:
    """``Usage`` from the tokens (billed units when no tokens were sent) and the billed
    counts as attributes of ours."""
    if numbers is None:
        return None, {}
    tok_in, tok_out, billed_in, billed_out, cached = (_count(n) for n in numbers)
    attrs: dict[str, Any] = {}
    if billed_in is not None:
        attrs["cohere.usage.billed_units.input_tokens"] = billed_in
    if billed_out is not None and with_output:
        attrs["cohere.usage.billed_units.output_tokens"] = billed_out
    if tok_in is None and tok_out is None:
        tok_in, tok_out = billed_in, billed_out
    if tok_in is None and tok_out is None:
        return None, attrs
    return Usage(tok_in, tok_out if with_output else None, cached), attrs


def _client_wrapper(instance: Any) -> Any:
    """The ``ClientWrapper`` (key, base URL, headers) behind a v1/v2 client or ``Client().v2``."""
    wrapper = getattr(instance, "_client_wrapper", None)
    if wrapper is None:
        raw = vars(instance).get("_raw_client") if hasattr(instance, "__dict__") else None
        wrapper = getattr(raw, "_client_wrapper", None)
    return wrapper


def _server(instance: Any) -> tuple[str | None, int | None]:
    wrapper = _client_wrapper(instance)
    url = getattr(wrapper, "_base_url", None)
    if not isinstance(url, str) or not url:
        return None, None
    return server_of(url)


_DEPLOYMENTS: dict[type, tuple[str | None, bool]] = {}


def _deployment(instance: Any) -> tuple[str | None, bool]:
    """(provider override, whether ``base_url`` is where the call goes), per client class.

    ``BedrockClient(V2)`` is Cohere on Amazon Bedrock (``aws.bedrock``); it and the other
    cloud clients (``SagemakerClient(V2)`` under ``AwsClient(V2)``, ``OciClient(V2)``) keep
    ``https://api.cohere.com`` as their unused ``base_url`` and send the request elsewhere
    from an httpx event hook: their ``server.address`` is left unset rather than wrong."""
    cls = type(instance)
    known = _DEPLOYMENTS.get(cls)
    if known is None:
        names = {c.__name__ for c in cls.__mro__}
        provider = "aws.bedrock" if names & {"BedrockClient", "BedrockClientV2"} else None
        cloud = bool(names & {"AwsClient", "AwsClientV2", "OciClient", "OciClientV2"})
        known = _DEPLOYMENTS[cls] = (provider, not cloud)
    return known


def _attrs(response_id: Any, finishes: list[str]) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    if response_id:
        attrs["gen_ai.response.id"] = str(response_id)
    if finishes:
        attrs["gen_ai.response.finish_reasons"] = finishes
    return attrs


def _sampling(inputs: dict[str, Any], attrs: dict[str, Any]) -> None:
    for key, attr, read in (
        ("temperature", "gen_ai.request.temperature", as_double),
        ("p", "gen_ai.request.top_p", as_double),
        ("k", "gen_ai.request.top_k", as_int),
        ("max_tokens", "gen_ai.request.max_tokens", as_int),
        ("seed", "gen_ai.request.seed", as_int),
        ("presence_penalty", "gen_ai.request.presence_penalty", as_double),
        ("frequency_penalty", "gen_ai.request.frequency_penalty", as_double),
    ):
        value = read(_input(inputs, key))
        if value is not None:
            attrs[attr] = value
    stop = stop_sequences(_input(inputs, "stop_sequences"))
    if stop:
        attrs["gen_ai.request.stop_sequences"] = stop
    fmt = _get(_input(inputs, "response_format"), "type")
    if fmt == "json_object":
        attrs["gen_ai.output.type"] = "json"
    elif fmt == "text":
        attrs["gen_ai.output.type"] = "text"


# --- content: the conventions' message parts -----------------------------------------------


def _parts(content: Any) -> list[dict[str, Any]]:
    """A v2 message's ``content``: a string or a list of content items (dicts or models)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [_text(content)] if content else []
    parts: list[dict[str, Any]] = []
    for item in _seq(content):
        if isinstance(item, str):
            parts.append(_text(item))
            continue
        kind = _get(item, "type")
        if kind == "text":
            parts.append(_text(_get(item, "text")))
        elif kind == "thinking":
            parts.append(reasoning_part(_get(item, "thinking")))
        elif kind == "image_url":
            image = _get(item, "image_url")
            parts.append(uri_part(_get(image, "url") if not isinstance(image, str) else image, "image"))
        elif kind == "document":
            parts.append(generic_part("document"))  # the document's data stays out
        elif kind:
            parts.append(generic_part(str(kind)))
    return parts


def _tool_result(content: Any) -> Any:
    """A v2 tool message's content: a string, or text/document items (their text/data)."""
    if isinstance(content, str) or content is None:
        return content
    out: list[Any] = []
    for item in _seq(content):
        kind = _get(item, "type")
        if kind == "text":
            out.append(_get(item, "text"))
        elif kind == "document":
            document = _get(item, "document")
            out.append(_get(document, "data"))
    return out[0] if len(out) == 1 else out


def _v2_messages(messages: Any) -> list[Any]:
    """``messages`` in order, system messages among them (part of the history)."""
    out: list[Any] = []
    for m in _seq(messages):
        role = _get(m, "role")
        if role == "tool":
            result = tool_call_response_part(_get(m, "tool_call_id"), _tool_result(_get(m, "content")))
            out.append({"role": "tool", "parts": [result]})
            continue
        parts = []
        plan = _get(m, "tool_plan")
        if isinstance(plan, str) and plan:
            parts.append(reasoning_part(plan))
        parts += _parts(_get(m, "content"))
        for call in _seq(_get(m, "tool_calls")):
            fn = _get(call, "function")
            parts.append(tool_call_part(_get(call, "id"), _get(fn, "name"), _get(fn, "arguments")))
        out.append({"role": role if isinstance(role, str) and role else "user", "parts": parts})
    return out


def _v2_tools(tools: Any) -> list[Any]:
    defs = []
    for tool in _seq(tools):
        fn = _get(tool, "function") or tool
        defs.append(tool_definition(_get(tool, "type") or "function", _get(fn, "name"), _get(fn, "description"),
                                    _get(fn, "parameters")))
    return defs


def _v1_tools(tools: Any) -> list[Any]:
    """v1 tools: ``name``, ``description``, ``parameter_definitions`` (name -> {type, description, required})."""
    defs = []
    for tool in _seq(tools):
        params = _get(tool, "parameter_definitions")
        schema = None
        if isinstance(params, dict):
            properties = {}
            for name, spec in params.items():
                prop: dict[str, Any] = {}
                for key in ("type", "description"):
                    value = _get(spec, key)
                    if value is not None:
                        prop[key] = value
                properties[str(name)] = prop
            schema = {"type": "object", "properties": properties}
        defs.append(tool_definition("function", _get(tool, "name"), _get(tool, "description"), schema))
    return defs


def _out_message(parts: list[Any], finish: str | None) -> dict[str, Any]:
    # finish_reason is required in an output message: "error" when none came
    return {"role": "assistant", "parts": parts, "finish_reason": finish or "error"}


# --- extractors ----------------------------------------------------------------------------


class _CohereExtractor(Extractor):
    provider = PROVIDER

    def __init__(self, streaming: bool = False) -> None:
        self.streaming = streaming

    def build(self, inputs: dict[str, Any], instance: Any, attrs: dict[str, Any], content: Any) -> Request:
        model = _input(inputs, "model")
        provider = None
        address = port = None
        if instance is not None:
            _remember_credentials(instance)  # scrubbed from what is exported, should the server echo them
            provider, at_base_url = _deployment(instance)
            if at_base_url:
                address, port = _server(instance)
        return Request(model if isinstance(model, str) else None, attrs, content, address, port, provider)

    def error_type(self, exc: BaseException) -> str:
        status = getattr(exc, "status_code", None)  # cohere.core.ApiError and its subclasses
        if isinstance(status, int) and not isinstance(status, bool):
            return str(status)
        return type(exc).__name__

    def is_stream(self, inputs: dict[str, Any], result: Any) -> bool:
        return self.streaming  # chat_stream is a generator function: the agent wraps it as one

    def request_attributes(self, inputs: dict[str, Any]) -> dict[str, Any]:
        attrs: dict[str, Any] = {"gen_ai.request.stream": True} if self.streaming else {}
        _sampling(inputs, attrs)
        return attrs


class ChatExtractor(_CohereExtractor):
    """v2 ``chat``/``chat_stream``: ``V2ChatResponse`` or a stream of v2 events."""

    operation = "chat"

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        attrs = self.request_attributes(inputs)
        content = None
        if capture:
            content = {
                INPUT_MESSAGES: _v2_messages(_input(inputs, "messages")),
                TOOL_DEFINITIONS: _v2_tools(_input(inputs, "tools")),
            }
        return self.build(inputs, instance, attrs, content)

    def response(self, output: Any, capture: bool) -> Response:
        if output is None:
            return Response()
        if isinstance(output, V2ChatStream):
            return self._from_stream(output, capture)
        finish = _finish(getattr(output, "finish_reason", None))
        # the Bedrock client puts Bedrock's header counts in an undeclared ``meta``
        numbers = _usage_numbers(getattr(output, "usage", None)) or _usage_numbers(getattr(output, "meta", None))
        usage, billed = _usage(numbers)
        attrs = _attrs(getattr(output, "id", None), [finish] if finish else [])
        attrs.update(billed)
        content = None
        if capture:
            msg = getattr(output, "message", None)
            parts: list[Any] = []
            plan = getattr(msg, "tool_plan", None)
            if isinstance(plan, str) and plan:
                parts.append(reasoning_part(plan))
            parts += _parts(getattr(msg, "content", None))
            for call in _seq(getattr(msg, "tool_calls", None)):
                fn = getattr(call, "function", None)
                parts.append(tool_call_part(getattr(call, "id", None), getattr(fn, "name", None),
                                            getattr(fn, "arguments", None)))
            content = {OUTPUT_MESSAGES: [_out_message(parts, finish)]}
        return Response(attrs, usage, None, content)

    def _from_stream(self, acc: V2ChatStream, capture: bool) -> Response:
        finish = _finish(acc.finish_reason)
        usage, billed = _usage(acc.usage)
        attrs = _attrs(acc.id, [finish] if finish else [])
        attrs.update(billed)
        content = None
        if capture and acc.capture:
            parts: list[Any] = []
            if acc.thinking:
                parts.append(reasoning_part("".join(acc.thinking)))
            if acc.tool_plan:
                parts.append(reasoning_part("".join(acc.tool_plan)))
            if acc.text:
                parts.append(_text("".join(acc.text)))
            for call_id, name, pieces in acc.tool_calls:
                parts.append(tool_call_part(call_id, name, "".join(pieces)))
            content = {OUTPUT_MESSAGES: [_out_message(parts, finish)]}
        return Response(attrs, usage, None, content)


class V1ChatExtractor(_CohereExtractor):
    """v1 ``chat``/``chat_stream``: ``message`` + ``chat_history`` + ``preamble``;
    ``NonStreamedChatResponse`` or a stream of v1 events."""

    operation = "chat"

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        attrs = self.request_attributes(inputs)
        content = None
        if capture:
            messages: list[Any] = []
            for m in _seq(_input(inputs, "chat_history")):
                role = _V1_ROLES.get(str(_get(m, "role")), "user")
                if role == "tool":
                    for result in _seq(_get(m, "tool_results")):
                        call = _get(result, "call")
                        messages.append({"role": "tool", "parts": [
                            tool_call_response_part(None, _get(result, "outputs"))] if call is not None else []})
                    continue
                parts = []
                text = _get(m, "message")
                if isinstance(text, str) and text:
                    parts.append(_text(text))
                for call in _seq(_get(m, "tool_calls")):
                    parts.append(tool_call_part(None, _get(call, "name"), _get(call, "parameters")))
                messages.append({"role": role, "parts": parts})
            for result in _seq(_input(inputs, "tool_results")):
                messages.append({"role": "tool", "parts": [tool_call_response_part(None, _get(result, "outputs"))]})
            message = _input(inputs, "message")
            if isinstance(message, str) and message:
                messages.append({"role": "user", "parts": [_text(message)]})
            content = {INPUT_MESSAGES: messages, TOOL_DEFINITIONS: _v1_tools(_input(inputs, "tools"))}
            preamble = _input(inputs, "preamble")
            if isinstance(preamble, str) and preamble:
                content[SYSTEM_INSTRUCTIONS] = [_text(preamble)]  # given apart from the history
        return self.build(inputs, instance, attrs, content)

    def response(self, output: Any, capture: bool) -> Response:
        if output is None:
            return Response()
        if isinstance(output, V1ChatStream):
            finish = _finish(output.finish_reason)
            usage, billed = _usage(output.usage)
            attrs = _attrs(output.generation_id or output.response_id, [finish] if finish else [])
            attrs.update(billed)
            content = None
            if capture and output.capture:
                text = output.final_text if output.final_text is not None else "".join(output.text)
                parts: list[Any] = [_text(text)] if text else []
                for name, params in output.tool_calls:
                    parts.append(tool_call_part(None, name, params))
                content = {OUTPUT_MESSAGES: [_out_message(parts, finish)]}
            return Response(attrs, usage, None, content)
        finish = _finish(getattr(output, "finish_reason", None))
        usage, billed = _usage(_usage_numbers(getattr(output, "meta", None)))
        response_id = getattr(output, "generation_id", None) or getattr(output, "response_id", None)
        attrs = _attrs(response_id, [finish] if finish else [])
        attrs.update(billed)
        content = None
        if capture:
            answer = getattr(output, "text", None)
            parts = [_text(answer)] if isinstance(answer, str) and answer else []
            for call in _seq(getattr(output, "tool_calls", None)):
                parts.append(tool_call_part(None, getattr(call, "name", None), getattr(call, "parameters", None)))
            content = {OUTPUT_MESSAGES: [_out_message(parts, finish)]}
        return Response(attrs, usage, None, content)


def _first_vector_length(embeddings: Any) -> int | None:
    """The dimension: the first vector of whichever type came back (``float_``, ``int8``...)."""
    if isinstance(embeddings, (list, tuple)):  # v1 embeddings_floats: a list of vectors
        first = embeddings[0] if embeddings else None
        return len(first) if isinstance(first, (list, tuple)) else None
    if embeddings is None:
        return None
    for name in ("float_", "int8", "uint8", "binary", "ubinary", "base64"):
        vectors = getattr(embeddings, name, None)
        if isinstance(vectors, list) and vectors and isinstance(vectors[0], (list, tuple)):
            return len(vectors[0])
    return None


class EmbedExtractor(_CohereExtractor):
    """v2 ``embed`` and v1 ``BaseCohere.embed`` (one HTTP call each; v1 ``Client.embed``
    calls the latter once per batch)."""

    operation = "embeddings"

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        attrs: dict[str, Any] = {}
        dimension = as_int(_input(inputs, "output_dimension"))
        if dimension is not None:
            attrs["gen_ai.embeddings.dimension.count"] = dimension
        types = [str(t) for t in _seq(_input(inputs, "embedding_types"))]
        if types:
            attrs["gen_ai.request.encoding_formats"] = types
        input_type = _input(inputs, "input_type")
        if isinstance(input_type, str):
            attrs["cohere.embed.input_type"] = input_type
        content = None
        if capture:
            texts = [t for t in _seq(_input(inputs, "texts")) if isinstance(t, str)]
            parts: list[Any] = [_text(t) for t in texts]
            parts += [generic_part("image") for _ in _seq(_input(inputs, "images"))]  # never the bytes
            parts += [generic_part("embed_input") for _ in _seq(_input(inputs, "inputs"))]
            if parts:
                content = {INPUT_MESSAGES: [{"role": "user", "parts": parts}]}
        return self.build(inputs, instance, attrs, content)

    def is_stream(self, inputs: dict[str, Any], result: Any) -> bool:
        return False

    def response(self, output: Any, capture: bool) -> Response:
        if output is None:
            return Response()
        attrs: dict[str, Any] = {}
        response_id = getattr(output, "id", None)
        if response_id:
            attrs["gen_ai.response.id"] = str(response_id)
        dimension = _first_vector_length(getattr(output, "embeddings", None))
        if dimension is not None:
            attrs["gen_ai.embeddings.dimension.count"] = dimension
        usage, billed = _usage(_usage_numbers(getattr(output, "meta", None)), with_output=False)
        attrs.update(billed)
        return Response(attrs, usage, None)


# --- rerank: no GenAI operation, an INTERNAL span of ours -----------------------------------


class RerankSpec(OpSpec):
    """``rerank``: an INTERNAL span ``rerank {model}`` with attributes of ours
    (``cohere.rerank.*``); the query is recorded only when content capture is on, the
    documents never (counts only)."""

    def __init__(self) -> None:
        super().__init__("cohere.rerank", SpanKind.INTERNAL)

    def start(self, inputs: dict[str, Any], instance: Any = None) -> tuple[str, dict[str, Any], Any]:
        model = _input(inputs, "model")
        attrs: dict[str, Any] = {"cohere.operation": "rerank"}
        if isinstance(model, str):
            attrs["cohere.rerank.model"] = model
        if instance is not None:
            _remember_credentials(instance)
            address, port = _server(instance) if _deployment(instance)[1] else (None, None)
            if address:
                attrs["server.address"] = address
                if port:
                    attrs["server.port"] = port
        top_n = as_int(_input(inputs, "top_n"))
        if top_n is not None:
            attrs["cohere.rerank.top_n"] = top_n
        documents = _input(inputs, "documents")
        if isinstance(documents, (list, tuple)):
            attrs["cohere.rerank.documents.count"] = len(documents)
        query = _input(inputs, "query")
        if isinstance(query, str) and telemetry.settings().capture_content != "no_content":
            attrs["cohere.rerank.query"] = query
        name = "rerank %s" % model if isinstance(model, str) and model else "rerank"
        return name, attrs, None

    def error_type(self, exc: BaseException) -> str:
        status = getattr(exc, "status_code", None)
        if isinstance(status, int) and not isinstance(status, bool):
            return str(status)
        return type(exc).__name__

    def on_end(self, call: Call, output: Any) -> None:
        attrs: dict[str, Any] = {}
        response_id = getattr(output, "id", None)
        if response_id:
            attrs["cohere.response.id"] = str(response_id)
        results = _seq(getattr(output, "results", None))
        attrs["cohere.rerank.results.count"] = len(results)
        indices = [r.index for r in results if isinstance(getattr(r, "index", None), int)]
        scores = [float(r.relevance_score) for r in results
                  if isinstance(getattr(r, "relevance_score", None), (int, float))]
        if indices:
            attrs["cohere.rerank.results.indices"] = indices
        if scores:
            attrs["cohere.rerank.results.relevance_scores"] = scores
        billed = getattr(getattr(output, "meta", None), "billed_units", None)
        search_units = _count(getattr(billed, "search_units", None))
        if search_units is not None:
            attrs["cohere.usage.billed_units.search_units"] = search_units
        call.span.set_attributes(attrs)
