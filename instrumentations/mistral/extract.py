"""Mistral: what the SDK's requests and responses say, in GenAI terms.

Request attributes, message content as the conventions' parts, usage and finish reasons;
one ``Extractor`` each for chat, FIM and embeddings, and ``MistralSpec``, which fails the
call of a choice that finished with ``error``. Read by ``mistral.py``, which says where
each one is patched.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import Status, StatusCode

from weave_agent.genai import (
    INPUT_MESSAGES,
    OUTPUT_MESSAGES,
    TOOL_DEFINITIONS,
    Extractor,
    GenAISpec,
    Request,
    Response,
    Usage,
    as_double,
    as_int,
    file_part,
    generic_part,
    media_part,
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
from weave_agent.tracing.calls import Call

from .credentials import remember as _remember_credentials
from .streaming import MistralStreamAccumulator

PROVIDER = "mistral_ai"


STREAM_ERROR_TYPE = "finish_reason_error"


_FINISH = {"tool_calls": "tool_call"}
_STREAM_CLASS_NAMES = frozenset(("EventStream", "EventStreamAsync"))


# --- small helpers -------------------------------------------------------------------------


def _get(obj: Any, key: str) -> Any:
    """A field of a request dict or an SDK model; the SDK's ``UNSET`` (falsy, not None) reads as None."""
    value = obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)
    if value is None or type(value).__name__ == "Unset":
        return None
    return value


def _finish(reason: Any) -> str | None:
    if not reason:
        return None
    reason = str(reason)
    return _FINISH.get(reason, reason)


def _server(inputs: dict[str, Any], instance: Any) -> tuple[str | None, int | None]:
    """Host and port of the URL the call goes to."""
    url = inputs.get("server_url")
    if not isinstance(url, str) or not url:
        config = getattr(instance, "sdk_configuration", None)
        url = getattr(config, "server_url", None)
        if (not isinstance(url, str) or not url) and config is not None:
            try:
                url = config.get_server_details()[0]  # the named server ("global" by default)
            except Exception:
                url = None
    if not isinstance(url, str) or not url:
        return None, None
    return server_of(url)


def _sampling(inputs: dict[str, Any], attrs: dict[str, Any]) -> None:
    for key, attr, read in (
        ("temperature", "gen_ai.request.temperature", as_double),
        ("top_p", "gen_ai.request.top_p", as_double),
        ("top_k", "gen_ai.request.top_k", as_int),
        ("max_tokens", "gen_ai.request.max_tokens", as_int),
        ("random_seed", "gen_ai.request.seed", as_int),
        ("presence_penalty", "gen_ai.request.presence_penalty", as_double),
        ("frequency_penalty", "gen_ai.request.frequency_penalty", as_double),
    ):
        value = read(inputs.get(key))  # doubles are floats even when the app passed 1
        if value is not None:
            attrs[attr] = value
    stop = stop_sequences(inputs.get("stop"))
    if stop:
        attrs["gen_ai.request.stop_sequences"] = stop
    n = as_int(inputs.get("n"))
    if n is not None and n != 1:
        attrs["gen_ai.request.choice.count"] = n


def _usage(usage: Any, with_output: bool = True) -> Usage | None:
    if usage is None:
        return None
    return Usage(_get(usage, "prompt_tokens"), _get(usage, "completion_tokens") if with_output else None)


# --- content: the conventions' message parts -----------------------------------------------


def _tool_call(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    if call_id == "null":  # the SDK's default when the server sent no id
        call_id = None
    return tool_call_part(call_id, name, arguments)


def _image(url: Any) -> dict[str, Any]:
    """An image part: the URL, or for a data URI ``media_part``'s (never the bytes)."""
    url = _get(url, "url") if not isinstance(url, str) else url
    return uri_part(url, "image")


def _parts(content: Any) -> list[dict[str, Any]]:
    """A message's ``content``: a string or a list of chunks (dicts or SDK models)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [_text(content)] if content else []
    parts: list[dict[str, Any]] = []
    for chunk in _seq(content):
        if isinstance(chunk, str):
            parts.append(_text(chunk))
            continue
        kind = _get(chunk, "type")
        if kind == "text":
            parts.append(_text(_get(chunk, "text")))
        elif kind == "thinking":
            texts = [_get(t, "text") for t in _seq(_get(chunk, "thinking"))]
            parts.append(reasoning_part("".join(t for t in texts if isinstance(t, str))))
        elif kind == "image_url":
            parts.append(_image(_get(chunk, "image_url")))
        elif kind == "input_audio":
            parts.append(media_part(_get(chunk, "input_audio"), "audio"))
        elif kind == "file":
            parts.append(file_part(_get(chunk, "file_id"), "document"))
        elif kind:  # document URLs, references: the kind only (URLs may be signed)
            parts.append(generic_part(kind))
    return parts


def _text_of(content: Any) -> Any:
    if isinstance(content, str) or content is None:
        return content
    return "".join(p["content"] for p in _parts(content) if p["type"] == "text" and isinstance(p["content"], str))


def _chat_input(messages: Any) -> list[Any]:
    """``messages`` in order, system messages among them (they are part of the chat
    history: ``gen_ai.system_instructions`` is for instructions given apart from it)."""
    out: list[Any] = []
    for m in _seq(messages):
        role = _get(m, "role")
        content = _get(m, "content")
        if role == "system":
            out.append({"role": "system", "parts": _parts(content)})
        elif role == "tool":
            out.append({"role": "tool", "parts": [tool_call_response_part(_get(m, "tool_call_id"), _text_of(content))]})
        else:
            parts = _parts(content)
            for call in _seq(_get(m, "tool_calls")):
                fn = _get(call, "function")
                parts.append(_tool_call(_get(call, "id"), _get(fn, "name"), _get(fn, "arguments")))
            out.append({"role": role if isinstance(role, str) and role else "user", "parts": parts})
    return out


def _tool_definitions(tools: Any) -> list[Any]:
    defs = []
    for tool in _seq(tools):
        fn = _get(tool, "function") or tool
        defs.append(tool_definition(_get(tool, "type") or "function", _get(fn, "name"), _get(fn, "description"),
                                    _get(fn, "parameters")))
    return defs


def _out_message(parts: list[Any], finish: str | None, role: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": role or "assistant", "parts": parts}
    if finish:
        message["finish_reason"] = finish
    return message


# --- extractors ----------------------------------------------------------------------------


class _MistralExtractor(Extractor):
    provider = PROVIDER

    def __init__(self, streaming: bool = False, default_model: str | None = None) -> None:
        self.streaming = streaming
        self.default_model = default_model  # what the SDK sends when the call names no model

    def build(self, inputs: dict[str, Any], instance: Any, attrs: dict[str, Any], content: Any) -> Request:
        model = inputs.get("model", self.default_model)
        if instance is not None:
            _remember_credentials(instance)  # scrubbed from what is exported, should the server echo them
        address, port = _server(inputs, instance)
        return Request(model if isinstance(model, str) else None, attrs, content, address, port)

    def error_type(self, exc: BaseException) -> str:
        status = getattr(exc, "status_code", None)
        if isinstance(status, int) and not isinstance(status, bool):
            return str(status)
        return type(exc).__name__

    def is_stream(self, inputs: dict[str, Any], result: Any) -> bool:
        # Each client package (mistralai.client, .azure.client, .gcp.client) has its own
        # utils.eventstreaming module, hence its own EventStream classes.
        cls = type(result)
        return cls.__name__ in _STREAM_CLASS_NAMES and cls.__module__.startswith("mistralai.")

    def request_attributes(self, inputs: dict[str, Any], streaming: bool) -> dict[str, Any]:
        attrs: dict[str, Any] = {"gen_ai.request.stream": True} if streaming else {}  # set only when streaming
        _sampling(inputs, attrs)
        return attrs


class _CompletionExtractor(_MistralExtractor):
    """Chat and FIM: the same response (``choices[].message``) and the same stream chunks."""

    def response(self, output: Any, capture: bool) -> Response:
        if output is None:
            return Response()
        if isinstance(output, MistralStreamAccumulator):
            return self._from_stream(output, capture)
        choices = _seq(getattr(output, "choices", None))
        finishes = [f for f in (_finish(getattr(c, "finish_reason", None)) for c in choices) if f]
        content = None
        if capture:
            messages = []
            for choice in choices:
                msg = getattr(choice, "message", None)
                parts = _parts(_get(msg, "content")) if msg is not None else []
                for call in _seq(_get(msg, "tool_calls")) if msg is not None else ():
                    fn = _get(call, "function")
                    parts.append(_tool_call(_get(call, "id"), _get(fn, "name"), _get(fn, "arguments")))
                messages.append(_out_message(parts, _finish(getattr(choice, "finish_reason", None))))
            content = {OUTPUT_MESSAGES: messages}
        return Response(
            self._attrs(getattr(output, "id", None), finishes),
            _usage(getattr(output, "usage", None)),
            getattr(output, "model", None),
            content,
        )

    def _from_stream(self, acc: MistralStreamAccumulator, capture: bool) -> Response:
        choices = acc.ordered()
        finishes = [f for f in (_finish(c.finish_reason) for c in choices) if f]
        content = None
        if capture and acc.capture:
            messages = []
            for c in choices:
                parts: list[Any] = []
                if c.reasoning:
                    parts.append(reasoning_part("".join(c.reasoning)))
                if c.text:
                    parts.append(_text("".join(c.text)))
                for entry in c.tool_calls:
                    parts.append(_tool_call(entry[0], entry[1], acc.arguments(entry)))
                messages.append(_out_message(parts, _finish(c.finish_reason), c.role))
            content = {OUTPUT_MESSAGES: messages}
        return Response(self._attrs(acc.id, finishes), _usage(acc.usage), acc.model, content)

    @staticmethod
    def _attrs(response_id: Any, finishes: list[str]) -> dict[str, Any]:
        attrs: dict[str, Any] = {}
        if response_id:
            attrs["gen_ai.response.id"] = response_id
        if finishes:
            attrs["gen_ai.response.finish_reasons"] = finishes
        return attrs

    @staticmethod
    def failed_choice(output: Any) -> bool:
        """Whether a choice finished with ``"error"`` (the call failed though nothing raised)."""
        if isinstance(output, MistralStreamAccumulator):
            return any(c.finish_reason == "error" for c in output.choices.values())
        return any(getattr(c, "finish_reason", None) == "error" for c in _seq(getattr(output, "choices", None)))


class ChatExtractor(_CompletionExtractor):
    """``Chat.complete``/``stream``: ``ChatCompletionResponse`` or a stream of chunks."""

    operation = "chat"

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        attrs = self.request_attributes(inputs, self.streaming)
        fmt = _get(inputs.get("response_format"), "type")
        if fmt in ("json_object", "json_schema"):
            attrs["gen_ai.output.type"] = "json"
        elif fmt == "text":
            attrs["gen_ai.output.type"] = "text"
        content = None
        if capture:
            content = {
                INPUT_MESSAGES: _chat_input(inputs.get("messages")),
                TOOL_DEFINITIONS: _tool_definitions(inputs.get("tools")),
            }
        return self.build(inputs, instance, attrs, content)


class FimExtractor(_CompletionExtractor):
    """``Fim.complete``/``stream``: fill-in-the-middle between ``prompt`` and ``suffix``."""

    operation = "text_completion"

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        attrs = self.request_attributes(inputs, self.streaming)
        content = None
        if capture:
            parts: list[Any] = []
            prompt = inputs.get("prompt")
            if isinstance(prompt, str):
                parts.append(_text(prompt))
            suffix = _get(inputs, "suffix")
            if isinstance(suffix, str) and suffix:
                parts.append(generic_part("fim_suffix", content=suffix))  # the text after the gap
            content = {INPUT_MESSAGES: [{"role": "user", "parts": parts}]}
        return self.build(inputs, instance, attrs, content)


class EmbeddingsExtractor(_MistralExtractor):
    """``Embeddings.create``: ``gen_ai.embeddings.dimension.count`` from ``output_dimension``,
    else from the first returned vector; only input tokens (embeddings produce none)."""

    operation = "embeddings"

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        attrs: dict[str, Any] = {}
        dimension = as_int(inputs.get("output_dimension"))
        if dimension is not None:
            attrs["gen_ai.embeddings.dimension.count"] = dimension
        fmt = _get(inputs, "encoding_format")
        if fmt:
            attrs["gen_ai.request.encoding_formats"] = [str(fmt)]
        content = None
        if capture:
            texts = inputs.get("inputs")
            texts = [texts] if isinstance(texts, str) else [t for t in _seq(texts) if isinstance(t, str)]
            if texts:
                content = {INPUT_MESSAGES: [{"role": "user", "parts": [_text(t) for t in texts]}]}
        return self.build(inputs, instance, attrs, content)

    def is_stream(self, inputs: dict[str, Any], result: Any) -> bool:
        return False

    def response(self, output: Any, capture: bool) -> Response:
        if output is None:
            return Response()
        attrs: dict[str, Any] = {}
        response_id = getattr(output, "id", None)
        if response_id:
            attrs["gen_ai.response.id"] = response_id
        data = _seq(getattr(output, "data", None))
        if data:
            vector = _get(data[0], "embedding")
            if isinstance(vector, (list, tuple)) and vector:
                attrs["gen_ai.embeddings.dimension.count"] = len(vector)
        return Response(
            attrs, _usage(getattr(output, "usage", None), with_output=False), getattr(output, "model", None)
        )


# --- the span: a choice that finished with "error" fails the call --------------------------


class MistralSpec(GenAISpec):
    """``GenAISpec`` plus Mistral's in-band failure: ``finish_reason == "error"``."""

    def on_end(self, call: Call, output: Any) -> None:
        extractor = self.extractor
        if isinstance(extractor, _CompletionExtractor) and output is not None and extractor.failed_choice(output):
            call.span.set_attribute("error.type", STREAM_ERROR_TYPE)
            call.span.set_status(Status(StatusCode.ERROR, "a choice finished with finish_reason 'error'"))
            self.on_error(call, None, STREAM_ERROR_TYPE, output)  # type: ignore[arg-type]
            return
        super().on_end(call, output)
