"""Ollama: what the SDK's requests and responses say, in GenAI terms.

One ``Extractor`` each for ``chat`` (operation ``chat``), ``generate`` (``text_completion``:
a prompt completed, with ``system`` given apart and an optional ``suffix``), ``embed`` and
the older ``embeddings`` (``embeddings``). Read by ``ollama.py``, which says where each
is patched.

What Ollama's API has and has not (ollama 0.6.3, ``ollama._types``):

* sampling settings sit in ``options`` (a dict or ``ollama.Options``): ``temperature``,
  ``top_p``, ``top_k``, ``num_predict`` (the conventions' ``max_tokens``; negative means
  unlimited and is not recorded), ``seed``, ``stop``, the penalties;
* no response id, and no tool-call id: a tool call is matched to its result by the tool's
  name (``tool_name`` on the ``tool`` message, kept on the ``tool_call_response`` part);
* ``done_reason`` is ``stop`` also when the model called tools: recorded as ``tool_call``
  then (what Ollama's own OpenAI-compatible endpoint reports); ``length`` stays;
* usage is ``prompt_eval_count``/``eval_count`` of the final (``done``) part; ``embed``
  reports ``prompt_eval_count`` only, ``embeddings`` nothing.

``server.address``/``server.port`` come from the client's base URL (its ``host``, else
``OLLAMA_HOST``, else ``127.0.0.1:11434``, as the SDK resolved it).
"""

from __future__ import annotations

import inspect
import sys
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
    generic_part,
    media_part,
    reasoning_part,
    server_of,
    stop_sequences,
    tool_call_part,
    tool_definition,
)
from weave_agent.genai import sequence as _seq
from weave_agent.genai import text_part as _text

from .credentials import remember as _remember_credentials
from .streaming import OllamaStreamAccumulator

# Not among the conventions' well-known values: the name the conventions' pattern gives
# a provider (lower case, the vendor's own name), as other instrumentations record Ollama.
PROVIDER = "ollama"

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


# --- small helpers -------------------------------------------------------------------------


def _get(obj: Any, key: str) -> Any:
    """A field of a request dict or an SDK model (``ollama`` models are pydantic)."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return dict.get(obj, key)
    try:
        return getattr(obj, key, None)
    except Exception:
        return None


def _server(instance: Any) -> tuple[str | None, int | None]:
    """Host and port of the client's base URL (the httpx client it built)."""
    try:
        http = vars(instance).get("_client") if instance is not None else None
    except TypeError:
        return None, None
    url = getattr(http, "base_url", None)
    return server_of(url) if url is not None else (None, None)


def _options(inputs: dict[str, Any], attrs: dict[str, Any]) -> None:
    options = inputs.get("options")
    if options is None:
        return
    for key, attr, read in (
        ("temperature", "gen_ai.request.temperature", as_double),
        ("top_p", "gen_ai.request.top_p", as_double),
        ("top_k", "gen_ai.request.top_k", as_int),
        ("seed", "gen_ai.request.seed", as_int),
        ("presence_penalty", "gen_ai.request.presence_penalty", as_double),
        ("frequency_penalty", "gen_ai.request.frequency_penalty", as_double),
    ):
        value = read(_get(options, key))
        if value is not None:
            attrs[attr] = value
    limit = as_int(_get(options, "num_predict"))
    if limit is not None and limit >= 0:  # -1: no limit, -2: fill the context
        attrs["gen_ai.request.max_tokens"] = limit
    stop = stop_sequences(_get(options, "stop"))
    if stop:
        attrs["gen_ai.request.stop_sequences"] = stop


def _generation_attributes(inputs: dict[str, Any]) -> dict[str, Any]:
    attrs: dict[str, Any] = {"gen_ai.request.stream": True} if inputs.get("stream") is True else {}
    _options(inputs, attrs)
    fmt = inputs.get("format")
    if fmt == "json" or isinstance(fmt, dict):  # "json" or a JSON schema
        attrs["gen_ai.output.type"] = "json"
    think = inputs.get("think")
    if isinstance(think, str) and think:  # "low" | "medium" | "high" (a bool only switches it)
        attrs["gen_ai.request.reasoning.level"] = think
    return attrs


def _finish(done_reason: Any, called_tools: bool) -> str | None:
    if not isinstance(done_reason, str) or not done_reason:
        return None
    if done_reason == "stop" and called_tools:
        return "tool_call"
    return done_reason


# --- content: the conventions' message parts -----------------------------------------------


def _image(image: Any) -> dict[str, Any]:
    """An image of a message: inline bytes or base64 go through ``media_part`` (never the
    bytes on the span); a file path is named for its kind only (no file is read)."""
    value = getattr(image, "value", image)  # ollama.Image wraps the value
    if isinstance(value, (bytes, bytearray)):
        return media_part(bytes(value), "image", base64_encoded=False)
    if isinstance(value, str) and not (len(value) < 4096 and value.lower().endswith(_IMAGE_SUFFIXES)):
        return media_part(value, "image")
    return generic_part("image_file", modality="image")


def _tool_call(call: Any) -> dict[str, Any]:
    fn = _get(call, "function")
    return tool_call_part(None, _get(fn, "name"), _get(fn, "arguments"))


def _message(m: Any) -> dict[str, Any]:
    role = _get(m, "role")
    content = _get(m, "content")
    if role == "tool":
        part: dict[str, Any] = {"type": "tool_call_response", "id": None, "response": content}
        name = _get(m, "tool_name")
        if isinstance(name, str) and name:
            part["name"] = name  # Ollama has no call ids: the tool's name links result and call
        return {"role": "tool", "parts": [part]}
    parts: list[dict[str, Any]] = []
    thinking = _get(m, "thinking")
    if isinstance(thinking, str) and thinking:
        parts.append(reasoning_part(thinking))
    if isinstance(content, str) and content:
        parts.append(_text(content))
    for image in _seq(_get(m, "images")):
        parts.append(_image(image))
    for call in _seq(_get(m, "tool_calls")):
        parts.append(_tool_call(call))
    return {"role": role if isinstance(role, str) and role else "user", "parts": parts}


def _schema(parameters: Any) -> Any:
    """A tool's parameters as a JSON schema dict (an ``ollama.Tool`` holds a model)."""
    if parameters is None or isinstance(parameters, dict):
        return parameters
    dump = getattr(parameters, "model_dump", None)
    return dump(exclude_none=True, by_alias=True) if callable(dump) else None


def _tool_definitions(tools: Any) -> list[Any]:
    defs = []
    for tool in _seq(tools):
        if callable(tool) and not isinstance(tool, dict) and _get(tool, "function") is None:
            tool = _function_tool(tool)
            if tool is None:
                continue
        fn = _get(tool, "function")
        defs.append(tool_definition(_get(tool, "type") or "function", _get(fn, "name"), _get(fn, "description"),
                                    _schema(_get(fn, "parameters"))))
    return defs


def _function_tool(fn: Any) -> Any:
    """A Python function passed as a tool, described as the SDK describes it to the model."""
    utils = sys.modules.get("ollama._utils")
    convert = getattr(utils, "convert_function_to_tool", None)
    if convert is not None:
        try:
            return convert(fn)
        except Exception:
            pass
    name = getattr(fn, "__name__", None)
    return {"type": "function", "function": {"name": name, "description": inspect.getdoc(fn)}} if name else None


def _out_message(output: Any, finish: str | None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "parts": _message(output)["parts"] if output is not None else []}
    if finish:
        message["finish_reason"] = finish
    return message


def _usage(input_tokens: Any, output_tokens: Any) -> Usage | None:
    input_tokens, output_tokens = as_int(input_tokens), as_int(output_tokens)
    if input_tokens is None and output_tokens is None:
        return None
    return Usage(input_tokens, output_tokens)


# --- extractors ----------------------------------------------------------------------------


class _OllamaExtractor(Extractor):
    provider = PROVIDER

    def build(self, inputs: dict[str, Any], instance: Any, attrs: dict[str, Any], content: Any) -> Request:
        if instance is not None:
            _remember_credentials(instance)  # scrubbed from what is exported, should the server echo them
        model = inputs.get("model")
        address, port = _server(instance)
        return Request(model if isinstance(model, str) and model else None, attrs, content, address, port)

    def error_type(self, exc: BaseException) -> str:
        """The HTTP status of a ``ResponseError`` (``-1`` when the error came inside a
        stream: then the class name), else the exception's class name."""
        status = getattr(exc, "status_code", None)
        if isinstance(status, int) and not isinstance(status, bool) and status > 0:
            return str(status)
        return type(exc).__name__

    def is_stream(self, inputs: dict[str, Any], result: Any) -> bool:
        # chat/generate(stream=True) return a generator (sync) or, awaited, an async generator
        return inspect.isgenerator(result) or inspect.isasyncgen(result)


class _GenerationExtractor(_OllamaExtractor):
    """Chat and generate: the same final part (``done``, ``done_reason``, counts)."""

    def response(self, output: Any, capture: bool) -> Response:
        if output is None:
            return Response()
        if isinstance(output, OllamaStreamAccumulator):
            return self._from_stream(output, capture)
        message = _get(output, "message")
        called = bool(_seq(_get(message, "tool_calls")))
        finish = _finish(_get(output, "done_reason"), called)
        content = None
        if capture:
            if message is not None:
                content = {OUTPUT_MESSAGES: [_out_message(message, finish)]}
            else:  # generate
                content = {OUTPUT_MESSAGES: [_out_message(
                    {"content": _get(output, "response"), "thinking": _get(output, "thinking")}, finish)]}
        return Response(
            {"gen_ai.response.finish_reasons": [finish]} if finish else None,
            _usage(_get(output, "prompt_eval_count"), _get(output, "eval_count")),
            _get(output, "model"),
            content,
        )

    def _from_stream(self, acc: OllamaStreamAccumulator, capture: bool) -> Response:
        finish = _finish(acc.done_reason, bool(acc.tool_calls)) if acc.done else None
        content = None
        if capture and acc.capture:
            parts: list[dict[str, Any]] = []
            if acc.thinking:
                parts.append(reasoning_part("".join(acc.thinking)))
            if acc.text:
                parts.append(_text("".join(acc.text)))
            for name, arguments in acc.tool_calls:
                parts.append(tool_call_part(None, name, arguments))
            message: dict[str, Any] = {"role": acc.role or "assistant", "parts": parts}
            if finish:
                message["finish_reason"] = finish
            content = {OUTPUT_MESSAGES: [message]}
        return Response(
            {"gen_ai.response.finish_reasons": [finish]} if finish else None,
            _usage(acc.input_tokens, acc.output_tokens),
            acc.model,
            content,
        )


class ChatExtractor(_GenerationExtractor):
    """``Client.chat`` / ``AsyncClient.chat``: a ``ChatResponse``, or a stream of them."""

    operation = "chat"

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        attrs = _generation_attributes(inputs)
        content = None
        if capture:
            content = {
                INPUT_MESSAGES: [_message(m) for m in _seq(inputs.get("messages"))],
                TOOL_DEFINITIONS: _tool_definitions(inputs.get("tools")),
            }
        return self.build(inputs, instance, attrs, content)


class GenerateExtractor(_GenerationExtractor):
    """``Client.generate`` / ``AsyncClient.generate``: a prompt completed (``system`` is
    given apart from it; ``suffix`` is the text after the gap)."""

    operation = "text_completion"

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        attrs = _generation_attributes(inputs)
        content = None
        if capture:
            parts: list[dict[str, Any]] = []
            prompt = inputs.get("prompt")
            if isinstance(prompt, str) and prompt:
                parts.append(_text(prompt))
            for image in _seq(inputs.get("images")):
                parts.append(_image(image))
            suffix = inputs.get("suffix")
            if isinstance(suffix, str) and suffix:
                parts.append(generic_part("fim_suffix", content=suffix))
            content = {INPUT_MESSAGES: [{"role": "user", "parts": parts}] if parts else []}
            system = inputs.get("system")
            if isinstance(system, str) and system:
                content[SYSTEM_INSTRUCTIONS] = [_text(system)]
        return self.build(inputs, instance, attrs, content)


class _EmbeddingsExtractor(_OllamaExtractor):
    operation = "embeddings"

    def is_stream(self, inputs: dict[str, Any], result: Any) -> bool:
        return False

    @staticmethod
    def texts_content(texts: list[Any]) -> Any:
        texts = [t for t in texts if isinstance(t, str)]
        return {INPUT_MESSAGES: [{"role": "user", "parts": [_text(t) for t in texts]}]} if texts else None

    @staticmethod
    def dimension(attrs: dict[str, Any], vector: Any) -> None:
        if isinstance(vector, (list, tuple)) and vector:
            attrs["gen_ai.embeddings.dimension.count"] = len(vector)


class EmbedExtractor(_EmbeddingsExtractor):
    """``Client.embed``: ``input`` is one string or a list; ``dimensions`` asks for a size."""

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        attrs: dict[str, Any] = {}
        dimensions = as_int(inputs.get("dimensions"))
        if dimensions is not None:
            attrs["gen_ai.embeddings.dimension.count"] = dimensions
        content = None
        if capture:
            given = inputs.get("input")
            content = self.texts_content([given] if isinstance(given, str) else list(_seq(given)))
        return self.build(inputs, instance, attrs, content)

    def response(self, output: Any, capture: bool) -> Response:
        if output is None:
            return Response()
        attrs: dict[str, Any] = {}
        vectors = _seq(_get(output, "embeddings"))
        if vectors:
            self.dimension(attrs, vectors[0])
        return Response(attrs, _usage(_get(output, "prompt_eval_count"), None), _get(output, "model"))


class EmbeddingsExtractor(_EmbeddingsExtractor):
    """``Client.embeddings`` (deprecated in favour of ``embed``): one ``prompt``, one vector,
    no model and no counts in the answer."""

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        content = self.texts_content([inputs.get("prompt")]) if capture else None
        return self.build(inputs, instance, {}, content)

    def response(self, output: Any, capture: bool) -> Response:
        if output is None:
            return Response()
        attrs: dict[str, Any] = {}
        self.dimension(attrs, _get(output, "embedding"))
        return Response(attrs)
