"""The OpenAI API's Chat Completions and Embeddings formats, in GenAI terms.

OpenAI defined them and other vendors' APIs speak them as they are ("OpenAI-compatible":
Groq's ``chat.completions`` takes the same ``messages``, ``tools`` and sampling parameters
and answers with the same choices, finish reasons and usage; its embeddings answer as
OpenAI's). The readers of those shared formats live here, once, for the instrumentations
whose SDK speaks them (``openai/``, ``groq/``); what one vendor adds (OpenAI's service
tier, Groq's ``x_groq`` and reasoning) stays in that vendor's folder.

Every function reads a request ``dict`` and a response model alike (``field``), never
consumes a user's iterator (``sequence``), and imports nothing of a vendor SDK.
"""

from __future__ import annotations

from typing import Any

from weave_agent.genai import (
    Response,
    Usage,
    as_double,
    as_int,
    file_part,
    generic_part,
    media_part,
    stop_sequences,
    tool_call_response_part,
    tool_definition,
    uri_part,
)
from weave_agent.genai import field as _get
from weave_agent.genai import sequence as _seq
from weave_agent.genai import text_part as _text
from weave_agent.genai import tool_call_part as _tool_call

_FINISH = {"tool_calls": "tool_call", "function_call": "tool_call"}


def finish_reason(reason: Any) -> str | None:
    """A choice's ``finish_reason`` in the conventions' values (``tool_calls`` and the
    deprecated ``function_call`` are ``tool_call``); None when there is none."""
    if not reason:
        return None
    reason = str(reason)
    return _FINISH.get(reason, reason)


def sampling_attributes(inputs: dict[str, Any], attrs: dict[str, Any], max_tokens_keys: tuple[str, ...]) -> None:
    """The request attributes of the shared parameters, in the registry's types:
    temperature, top_p and the penalties (doubles), the first of ``max_tokens_keys`` given,
    seed, stop sequences, ``n`` when not 1, and ``stream`` only when the request streams."""
    for key in ("temperature", "top_p", "frequency_penalty", "presence_penalty"):
        value = as_double(inputs.get(key))  # doubles in the conventions, even when the app passed 1
        if value is not None:
            attrs["gen_ai.request." + key] = value
    for key in max_tokens_keys:
        value = as_int(inputs.get(key))
        if value is not None:
            attrs["gen_ai.request.max_tokens"] = value
            break
    seed = as_int(inputs.get("seed"))
    if seed is not None:
        attrs["gen_ai.request.seed"] = seed
    stop = stop_sequences(inputs.get("stop"))
    if stop:
        attrs["gen_ai.request.stop_sequences"] = stop
    n = as_int(inputs.get("n"))
    if n is not None and n != 1:
        attrs["gen_ai.request.choice.count"] = n
    if inputs.get("stream") is True:  # set only when streaming: unset means it does not
        attrs["gen_ai.request.stream"] = True


def output_type(fmt: Any) -> str | None:
    """``gen_ai.output.type`` from ``response_format`` (or a pydantic model given to a
    ``parse()`` helper): ``json`` or ``text``; None when it asks for neither."""
    if isinstance(fmt, type):  # a pydantic model given to .parse()
        return "json"
    kind = _get(fmt, "type")
    if kind in ("json_object", "json_schema"):
        return "json"
    if kind == "text":
        return "text"
    return None


def usage(counts: Any) -> Usage | None:
    """A ``usage`` object (``prompt_tokens``, ``completion_tokens`` and their details) as the
    counts the provider reported; None when there is none."""
    if counts is None:
        return None
    prompt = _get(counts, "prompt_tokens_details")
    completion = _get(counts, "completion_tokens_details")
    return Usage(
        _get(counts, "prompt_tokens"),
        _get(counts, "completion_tokens"),
        cache_read_input_tokens=_get(prompt, "cached_tokens") if prompt is not None else None,
        reasoning_output_tokens=_get(completion, "reasoning_tokens") if completion is not None else None,
    )


# --- content: the conventions' message parts -----------------------------------------------


def _file(file: Any) -> dict[str, Any]:
    """A ``file`` (chat) or ``input_file`` (Responses) part: by id, inline data, or URL."""
    name = _get(file, "filename")
    extra: dict[str, Any] = {"filename": name} if isinstance(name, str) and name else {}
    data = _get(file, "file_data")
    if isinstance(data, str) and data:
        if data.startswith("data:"):
            return uri_part(data, "document") | extra
        return media_part(data, "document", None, **extra)
    url = _get(file, "file_url")
    if isinstance(url, str) and url:
        return uri_part(url, "document") | extra
    return file_part(_get(file, "file_id"), "document", **extra)


def content_parts(content: Any) -> list[dict[str, Any]]:
    """Chat ``content`` (a string or a list of parts) and Responses ``content`` lists."""
    if content is None:
        return []
    if isinstance(content, str):
        return [_text(content)]
    parts = []
    for item in _seq(content):
        if isinstance(item, str):
            parts.append(_text(item))
            continue
        kind = _get(item, "type")
        if kind in ("text", "input_text", "output_text"):
            parts.append(_text(_get(item, "text")))
        elif kind == "refusal":
            parts.append(_text(_get(item, "refusal")))
        elif kind == "image_url":
            parts.append(uri_part(_get(_get(item, "image_url"), "url"), "image"))
        elif kind == "input_image":
            url = _get(item, "image_url")
            parts.append(uri_part(url, "image") if url else file_part(_get(item, "file_id"), "image"))
        elif kind == "input_audio":
            audio = _get(item, "input_audio") or item
            fmt = _get(audio, "format")
            parts.append(media_part(_get(audio, "data"), "audio", "audio/" + str(fmt) if fmt else None))
        elif kind == "file":
            parts.append(_file(_get(item, "file")))
        elif kind == "input_file":
            parts.append(_file(item))
        elif kind:
            parts.append(generic_part(kind))
    return parts


def text_of(content: Any) -> Any:
    """The text of ``content`` (a string, or the text parts of a list joined)."""
    if isinstance(content, str) or content is None:
        return content
    texts = [p["content"] for p in content_parts(content) if p.get("type") == "text"]
    return "".join(t for t in texts if isinstance(t, str))


def input_messages(messages: Any) -> list[Any]:
    """``messages`` in order; ``system`` and ``developer`` messages stay in the history, where
    they were sent, with the role ``system`` (``gen_ai.system_instructions`` is for
    instructions given apart from the history). A message whose role cannot be read is left
    out: the conventions' messages need one."""
    out: list[Any] = []
    for m in _seq(messages):
        role = _get(m, "role")
        if not isinstance(role, str) or not role:
            continue
        content = _get(m, "content")
        if role in ("system", "developer"):
            out.append({"role": "system", "parts": content_parts(content)})
            continue
        if role == "tool":
            out.append({"role": "tool", "parts": [tool_call_response_part(_get(m, "tool_call_id"), text_of(content))]})
            continue
        if role == "function":
            out.append({"role": "tool", "parts": [tool_call_response_part(_get(m, "name"), text_of(content))]})
            continue
        parts = content_parts(content)
        if role == "assistant":
            refusal = _get(m, "refusal")
            if refusal:
                parts.append(_text(refusal))
            for call in _seq(_get(m, "tool_calls")):
                fn = _get(call, "function")
                parts.append(_tool_call(_get(call, "id"), _get(fn, "name"), _get(fn, "arguments")))
            fn = _get(m, "function_call")
            if fn is not None:
                parts.append(_tool_call(None, _get(fn, "name"), _get(fn, "arguments")))
        out.append({"role": role, "parts": parts})
    return out


def tool_definitions(tools: Any) -> list[Any]:
    """Function tools with their name, description and parameters; built-in tools
    (``{"type": "web_search"}``) named for their type (or their own name, server label)."""
    defs = []
    for tool in _seq(tools):
        kind = _get(tool, "type") or "function"
        spec = _get(tool, "function") or _get(tool, "custom") or tool  # chat nests, Responses does not
        name = _get(spec, "name") or _get(tool, "server_label")
        defs.append(tool_definition(kind, name, _get(spec, "description"), _get(spec, "parameters")))
    return defs


def output_message(parts: list[Any], finish: str | None) -> dict[str, Any]:
    """One choice as an output message of the conventions (its finish reason when known)."""
    message: dict[str, Any] = {"role": "assistant", "parts": parts}
    if finish:
        message["finish_reason"] = finish
    return message



def response_attributes(vendor: str, rid: Any, finishes: list[str], tier: Any, fingerprint: Any) -> dict[str, Any]:
    """A completion's response attributes: its id, its finish reasons, and the service tier
    and system fingerprint under the vendor's own names (``<vendor>.response.service_tier``,
    ``<vendor>.response.system_fingerprint``)."""
    attrs: dict[str, Any] = {}
    if rid:
        attrs["gen_ai.response.id"] = rid
    if finishes:
        attrs["gen_ai.response.finish_reasons"] = finishes
    if tier:
        attrs[vendor + ".response.service_tier"] = tier
    if fingerprint:
        attrs[vendor + ".response.system_fingerprint"] = fingerprint
    return attrs


def join_tool_call_deltas(tools: dict[int, list[Any]], calls: Any) -> None:
    """Fold a chunk's ``delta.tool_calls`` into ``tools`` (tool-call index -> [id, name,
    [argument pieces]]): the id and name when a piece carries them, the argument pieces in
    order (joined when the stream ends). Runs per chunk: attribute reads and appends only."""
    for call in calls:
        entry = tools.get(call.index)
        if entry is None:
            entry = tools[call.index] = [None, None, []]
        if call.id:
            entry[0] = call.id
        fn = call.function
        if fn is not None:
            if fn.name:
                entry[1] = fn.name
            if fn.arguments:
                entry[2].append(fn.arguments)


# --- embeddings ----------------------------------------------------------------------------


def embeddings_request_attributes(inputs: dict[str, Any]) -> dict[str, Any]:
    """``encoding_format`` and ``dimensions`` of an embeddings request."""
    attrs: dict[str, Any] = {}
    fmt = inputs.get("encoding_format")
    if isinstance(fmt, str):
        attrs["gen_ai.request.encoding_formats"] = [fmt]
    dimensions = as_int(inputs.get("dimensions"))
    if dimensions is not None:
        attrs["gen_ai.embeddings.dimension.count"] = dimensions
    return attrs


def embeddings_response(output: Any) -> Response:
    """An embeddings response: the vectors' size (the first vector's length, a list of
    floats or, with ``encoding_format="base64"``, the base64 of little-endian float32s), the
    input tokens, the model."""
    attrs: dict[str, Any] = {}
    data = getattr(output, "data", None)
    vector = getattr(data[0], "embedding", None) if data else None
    if isinstance(vector, list):
        attrs["gen_ai.embeddings.dimension.count"] = len(vector)
    elif isinstance(vector, str):
        attrs["gen_ai.embeddings.dimension.count"] = (len(vector) * 3 // 4 - vector[-2:].count("=")) // 4
    counts = getattr(output, "usage", None)
    return Response(attrs, Usage(_get(counts, "prompt_tokens")) if counts is not None else None,
                    getattr(output, "model", None))
