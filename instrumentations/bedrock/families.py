"""AWS Bedrock ``invoke_model``: the request and response bodies of each model family.

``InvokeModel`` passes the model's own JSON through: its shape depends on who made the
model. Read here (request sampling, usage, finish reasons, content as the conventions'
parts, and a stream's payloads joined into one answer):

* ``anthropic``: Claude's Messages API (``anthropic_version``; the legacy ``prompt``
  completion too), streams as Anthropic's events;
* ``nova``: Amazon Nova's ``messages-v1`` (Converse's shapes), streams as Converse's events;
* ``titan`` / ``titan_embed``: Amazon Titan Text (``inputText``) and Titan Embeddings;
* ``llama``: Meta Llama (``prompt``, ``generation``);
* ``cohere`` / ``cohere_embed``: Command R (``message``, ``chat_history``), Command
  (``prompt``, ``generations``) and Embed (``texts``);
* ``mistral``: Mistral's ``prompt``/``outputs`` and its chat shape (``messages``/``choices``);
* ``openai``: OpenAI-shaped chat (gpt-oss, and any other body with ``choices``).

Anything else is ``other``: the span keeps model, operation and the usage Bedrock reports
for every model (the ``X-Amzn-Bedrock-*-Token-Count`` headers, or a stream's
``amazon-bedrock-invocationMetrics``). Nothing here raises on an odd body: it reads less.
"""

from __future__ import annotations

import json
from typing import Any

from weave_agent.genai import (
    INPUT_MESSAGES,
    SYSTEM_INSTRUCTIONS,
    TOOL_DEFINITIONS,
    as_double,
    as_int,
    generic_part,
    media_part,
    reasoning_part,
    stop_sequences,
    tool_call_part,
    tool_call_response_part,
    tool_definition,
)
from weave_agent.genai import sequence as _seq
from weave_agent.genai import text_part as _text

# Region prefixes of cross-region inference profiles (``us.anthropic.claude-...``).
_GEO = frozenset(("us", "eu", "apac", "global", "us-gov", "ca", "jp", "au"))

_FINISH = {
    # Anthropic, Converse and Nova
    "end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_call",
    "refusal": "content_filter", "content_filtered": "content_filter", "guardrail_intervened": "content_filter",
    # Titan
    "FINISH": "stop", "LENGTH": "length", "CONTENT_FILTERED": "content_filter", "STOP_CRITERIA_MET": "stop",
    # Cohere
    "COMPLETE": "stop", "MAX_TOKENS": "length", "STOP_SEQUENCE": "stop", "ERROR_TOXIC": "content_filter",
    "ERROR": "error", "USER_CANCEL": "stop",
    # OpenAI-shaped and Mistral
    "tool_calls": "tool_call",
}


def finish_reason(reason: Any) -> str | None:
    if not isinstance(reason, str) or not reason:
        return None
    return _FINISH.get(reason, reason)


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


def base_model(model_id: Any) -> str:
    """``anthropic.claude-...`` from a model id, an inference profile or an ARN naming one."""
    if not isinstance(model_id, str):
        return ""
    name = model_id.rsplit("/", 1)[-1] if model_id.startswith("arn:") else model_id
    head, _, rest = name.partition(".")
    return rest if head in _GEO and rest else name


def family_of(model_id: Any, body: Any) -> str:
    """The family whose body shapes ``model_id`` uses: by its provider prefix, else by the
    request body's shape (an application inference profile's ARN names no model)."""
    name = base_model(model_id)
    vendor = name.split(".", 1)[0]
    embed = "embed" in name
    if vendor == "anthropic":
        return "anthropic"
    if vendor == "amazon":
        if "nova" in name and not embed:
            return "nova"
        return "titan_embed" if embed else "titan"
    if vendor == "meta":
        return "llama"
    if vendor == "cohere":
        return "cohere_embed" if embed else "cohere"
    if vendor == "mistral":
        return "mistral"
    if vendor == "openai":
        return "openai"
    if not isinstance(body, dict):
        return "other"
    if "anthropic_version" in body:
        return "anthropic"
    if "schemaVersion" in body or "inferenceConfig" in body:
        return "nova"
    if "textGenerationConfig" in body:
        return "titan"
    if "max_gen_len" in body:
        return "llama"
    if "texts" in body and "input_type" in body:
        return "cohere_embed"
    if "chat_history" in body or "preamble" in body:
        return "cohere"
    if "messages" in body:
        return "openai"
    return "other"


def operation_of(family: str, model_id: Any, body: Any) -> str:
    """The GenAI operation of one ``invoke_model`` call."""
    if family in ("titan_embed", "cohere_embed"):
        return "embeddings"
    if not isinstance(body, dict):
        return "chat"
    if "messages" in body or "message" in body:
        return "chat"
    if "prompt" in body or "inputText" in body:
        return "text_completion"
    if family == "titan" and ("image" in base_model(model_id) or "taskType" in body):
        return "generate_content"
    return "chat"


# --- requests --------------------------------------------------------------------------------


def request_attributes(family: str, body: dict[str, Any]) -> dict[str, Any]:
    """Sampling settings, under the keys each family names them."""
    attrs: dict[str, Any] = {}

    def put(attr: str, value: Any, read: Any) -> None:
        value = read(value)
        if value is not None:
            attrs[attr] = value

    cfg: Any = body
    if family == "titan":
        cfg = body.get("textGenerationConfig") or {}
        put("gen_ai.request.max_tokens", cfg.get("maxTokenCount"), as_int)
    elif family == "nova":
        cfg = body.get("inferenceConfig") or {}
        put("gen_ai.request.max_tokens", cfg.get("maxTokens", cfg.get("max_new_tokens")), as_int)
        put("gen_ai.request.top_k", cfg.get("topK", cfg.get("top_k")), as_int)
    elif family == "llama":
        put("gen_ai.request.max_tokens", cfg.get("max_gen_len"), as_int)
    elif family in ("titan_embed", "cohere_embed"):
        put("gen_ai.embeddings.dimension.count", cfg.get("dimensions", cfg.get("output_dimension")), as_int)
        return attrs
    else:
        put("gen_ai.request.max_tokens", cfg.get("max_tokens", cfg.get("max_completion_tokens")), as_int)
        put("gen_ai.request.top_k", cfg.get("top_k", cfg.get("k")), as_int)
        put("gen_ai.request.seed", cfg.get("seed"), as_int)
    put("gen_ai.request.temperature", cfg.get("temperature"), as_double)
    put("gen_ai.request.top_p", cfg.get("topP", cfg.get("top_p", cfg.get("p"))), as_double)
    stops = stop_sequences(cfg.get("stopSequences", cfg.get("stop_sequences", cfg.get("stop"))))
    if stops:
        attrs["gen_ai.request.stop_sequences"] = stops
    return attrs


def _anthropic_part(block: Any) -> dict[str, Any] | None:
    if isinstance(block, str):
        return _text(block)
    if not isinstance(block, dict):
        return None
    kind = block.get("type")
    if kind == "text":
        return _text(block.get("text"))
    if kind == "thinking":
        return reasoning_part(block.get("thinking"))
    if kind == "tool_use":
        return tool_call_part(block.get("id"), block.get("name"), block.get("input"))
    if kind == "tool_result":
        return tool_call_response_part(block.get("tool_use_id"), block.get("content"))
    if kind in ("image", "document"):
        source = block.get("source") or {}
        if source.get("type") == "base64":
            return media_part(source.get("data"), "image" if kind == "image" else "document", source.get("media_type"))
    return generic_part(kind or "unknown")


def converse_part(block: Any, raw_bytes: bool = True) -> dict[str, Any] | None:
    """A Converse (or Nova) content block. Media bytes never reach the span: Converse
    carries them raw, Nova's ``invoke_model`` body as base64 text."""
    if not isinstance(block, dict):
        return None
    if "text" in block:
        return _text(block["text"])
    if "toolUse" in block:
        use = block["toolUse"] or {}
        return tool_call_part(use.get("toolUseId"), use.get("name"), use.get("input"))
    if "toolResult" in block:
        result = block["toolResult"] or {}
        response = [c.get("json", c.get("text")) if isinstance(c, dict) else c for c in _seq(result.get("content"))]
        return tool_call_response_part(result.get("toolUseId"), response[0] if len(response) == 1 else response)
    if "reasoningContent" in block:
        reasoning = block["reasoningContent"] or {}
        return reasoning_part((reasoning.get("reasoningText") or {}).get("text"))
    for kind in ("image", "video", "document", "audio"):
        media = block.get(kind)
        if media is not None:
            source = media.get("source") or {} if isinstance(media, dict) else {}
            fmt = media.get("format") if isinstance(media, dict) else None
            modality = "image" if kind == "image" else kind
            if "bytes" in source:
                mime = "%s/%s" % (modality, fmt) if isinstance(fmt, str) and kind != "document" else None
                return media_part(source["bytes"], modality, mime, base64_encoded=not raw_bytes)
            uri = (source.get("s3Location") or {}).get("uri")
            return generic_part(kind, uri=uri) if isinstance(uri, str) else generic_part(kind)
    if "cachePoint" in block:
        return None
    return generic_part(next(iter(block), "unknown"))


def converse_message(message: Any, raw_bytes: bool = True) -> dict[str, Any] | None:
    if not isinstance(message, dict) or not isinstance(message.get("role"), str):
        return None
    parts = [p for p in (converse_part(b, raw_bytes) for b in _seq(message.get("content"))) if p]
    return {"role": message["role"], "parts": parts}


def converse_tools(tool_config: Any) -> list[dict[str, Any]]:
    tools = []
    for tool in _seq((tool_config or {}).get("tools") if isinstance(tool_config, dict) else None):
        spec = tool.get("toolSpec") if isinstance(tool, dict) else None
        if isinstance(spec, dict):
            schema = spec.get("inputSchema") or {}
            tools.append(tool_definition("function", spec.get("name"), spec.get("description"), schema.get("json")))
    return tools


def _openai_message(message: Any) -> dict[str, Any] | None:
    if not isinstance(message, dict) or not isinstance(message.get("role"), str):
        return None
    content = message.get("content")
    parts: list[dict[str, Any]] = []
    if isinstance(content, str):
        parts.append(_text(content))
    else:
        for chunk in _seq(content):
            if isinstance(chunk, dict) and chunk.get("type") == "text":
                parts.append(_text(chunk.get("text")))
            elif isinstance(chunk, dict):
                parts.append(generic_part(chunk.get("type") or "unknown"))
    for call in _seq(message.get("tool_calls")):
        fn = call.get("function") or {} if isinstance(call, dict) else {}
        parts.append(tool_call_part(call.get("id"), fn.get("name"), fn.get("arguments")))
    if message["role"] == "tool":
        parts = [tool_call_response_part(message.get("tool_call_id"), content)]
    return {"role": message["role"], "parts": parts}


def request_content(family: str, body: dict[str, Any]) -> dict[str, Any]:
    """``gen_ai.input.messages`` (and system instructions, tool definitions) of a body."""
    content: dict[str, Any] = {}
    messages: list[Any] = []
    if family == "anthropic":
        system = body.get("system")
        if isinstance(system, str):
            content[SYSTEM_INSTRUCTIONS] = [_text(system)]
        elif system:
            content[SYSTEM_INSTRUCTIONS] = [_text(b.get("text")) for b in _seq(system) if isinstance(b, dict)]
        for m in _seq(body.get("messages")):
            if isinstance(m, dict) and isinstance(m.get("role"), str):
                blocks = m.get("content")
                parts = [_text(blocks)] if isinstance(blocks, str) else [_anthropic_part(b) for b in _seq(blocks)]
                messages.append({"role": m["role"], "parts": [p for p in parts if p]})
        tools = [tool_definition("function", t.get("name"), t.get("description"), t.get("input_schema"))
                 for t in _seq(body.get("tools")) if isinstance(t, dict)]
        if tools:
            content[TOOL_DEFINITIONS] = tools
    elif family == "nova":
        system = [_text(b.get("text")) for b in _seq(body.get("system")) if isinstance(b, dict) and "text" in b]
        if system:
            content[SYSTEM_INSTRUCTIONS] = system
        messages = [converse_message(m, raw_bytes=False) for m in _seq(body.get("messages"))]
        tools = converse_tools(body.get("toolConfig"))
        if tools:
            content[TOOL_DEFINITIONS] = tools
    elif family == "cohere" and "message" in body:
        if isinstance(body.get("preamble"), str):
            content[SYSTEM_INSTRUCTIONS] = [_text(body["preamble"])]
        for turn in _seq(body.get("chat_history")):
            if isinstance(turn, dict):
                role = {"USER": "user", "CHATBOT": "assistant", "SYSTEM": "system"}.get(str(turn.get("role")), "user")
                messages.append({"role": role, "parts": [_text(turn.get("message"))]})
        messages.append({"role": "user", "parts": [_text(body.get("message"))]})
    elif "messages" in body:
        messages = [_openai_message(m) for m in _seq(body.get("messages"))]
    else:
        prompt = body.get("prompt", body.get("inputText"))
        if isinstance(prompt, str):
            messages = [{"role": "user", "parts": [_text(prompt)]}]
    messages = [m for m in messages if m]
    if messages:
        content[INPUT_MESSAGES] = messages
    return content


# --- responses -------------------------------------------------------------------------------


class Answer:
    """What one family's response body says (a stream's payloads, joined, say the same)."""

    __slots__ = ("response_id", "model", "finish_reasons", "usage", "messages", "dimensions")

    def __init__(self) -> None:
        self.response_id: Any = None
        self.model: Any = None
        self.finish_reasons: list[str] = []
        # input, output, cache read, cache write (as the provider counts them)
        self.usage: list[int | None] = [None, None, None, None]
        self.messages: list[dict[str, Any]] = []
        self.dimensions: int | None = None

    def say(self, parts: list[dict[str, Any]], reason: Any) -> None:
        finish = finish_reason(reason)
        if finish:
            self.finish_reasons.append(finish)
        self.messages.append({"role": "assistant", "parts": parts, "finish_reason": finish or "stop"})


def _read_anthropic(body: dict[str, Any], out: Answer) -> None:
    out.response_id, out.model = body.get("id"), body.get("model")
    usage = body.get("usage") or {}
    out.usage = [_int(usage.get("input_tokens")), _int(usage.get("output_tokens")),
                 _int(usage.get("cache_read_input_tokens")), _int(usage.get("cache_creation_input_tokens"))]
    if "completion" in body:  # the legacy Text Completions API
        out.say([_text(body.get("completion"))], body.get("stop_reason"))
        return
    parts = [p for p in (_anthropic_part(b) for b in _seq(body.get("content"))) if p]
    out.say(parts, body.get("stop_reason"))


def _read_converse_shape(body: dict[str, Any], out: Answer) -> None:
    usage = body.get("usage") or {}
    out.usage = [_int(usage.get("inputTokens")), _int(usage.get("outputTokens")),
                 _int(usage.get("cacheReadInputTokens", usage.get("cacheReadInputTokenCount"))),
                 _int(usage.get("cacheWriteInputTokens", usage.get("cacheWriteInputTokenCount")))]
    message = ((body.get("output") or {}).get("message")) or {}
    parts = [p for p in (converse_part(b, raw_bytes=False) for b in _seq(message.get("content"))) if p]
    out.say(parts, body.get("stopReason"))


def _read_titan(body: dict[str, Any], out: Answer) -> None:
    output = 0
    for result in _seq(body.get("results")):
        if isinstance(result, dict):
            output += _int(result.get("tokenCount")) or 0
            out.say([_text(result.get("outputText"))], result.get("completionReason"))
    out.usage[0] = _int(body.get("inputTextTokenCount"))
    out.usage[1] = output if body.get("results") else None


def _read_openai(body: dict[str, Any], out: Answer) -> None:
    out.response_id, out.model = body.get("id"), body.get("model")
    for choice in _seq(body.get("choices")):
        if isinstance(choice, dict):
            message = _openai_message(choice.get("message") or {"role": "assistant", "content": choice.get("text")})
            out.say(message["parts"] if message else [], choice.get("finish_reason", choice.get("stop_reason")))
    for output in _seq(body.get("outputs")):  # Mistral's prompt form
        if isinstance(output, dict):
            out.say([_text(output.get("text"))], output.get("stop_reason"))
    usage = body.get("usage") or {}
    out.usage[0], out.usage[1] = _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens"))


def _read_cohere(body: dict[str, Any], out: Answer) -> None:
    if "text" in body:  # Command R
        out.response_id = body.get("response_id")
        parts = [_text(body.get("text"))]
        for call in _seq(body.get("tool_calls")):
            if isinstance(call, dict):
                parts.append(tool_call_part(None, call.get("name"), call.get("parameters")))
        out.say(parts, body.get("finish_reason"))
    else:  # Command
        out.response_id = body.get("id")
        for generation in _seq(body.get("generations")):
            if isinstance(generation, dict):
                out.say([_text(generation.get("text"))], generation.get("finish_reason"))
    units = ((body.get("meta") or {}).get("billed_units")) or {}
    out.usage[0], out.usage[1] = _int(units.get("input_tokens")), _int(units.get("output_tokens"))


def read_answer(family: str, body: Any) -> Answer:
    out = Answer()
    if not isinstance(body, dict):
        return out
    if family == "anthropic":
        _read_anthropic(body, out)
    elif family == "nova":
        _read_converse_shape(body, out)
    elif family == "titan":
        _read_titan(body, out)
    elif family == "llama":
        out.say([_text(body.get("generation"))], body.get("stop_reason"))
        out.usage[0], out.usage[1] = _int(body.get("prompt_token_count")), _int(body.get("generation_token_count"))
    elif family == "cohere":
        _read_cohere(body, out)
    elif family == "titan_embed":
        out.usage[0] = _int(body.get("inputTextTokenCount"))
        embedding = body.get("embedding")
        out.dimensions = len(embedding) if isinstance(embedding, list) else None
    elif family == "cohere_embed":
        out.response_id = body.get("id")
        embeddings = body.get("embeddings")
        if isinstance(embeddings, dict):  # embedding_types given: {"float": [[...]], ...}
            embeddings = next(iter(embeddings.values()), None)
        first = embeddings[0] if isinstance(embeddings, list) and embeddings else None
        out.dimensions = len(first) if isinstance(first, list) else None
    elif family in ("mistral", "openai", "other"):
        _read_openai(body, out)
    return out


# --- streams: the payloads joined into one body -------------------------------------------------


def loads(payload: Any) -> Any:
    try:
        return json.loads(payload)
    except (ValueError, TypeError):
        return None


def join_stream(family: str, events: list[Any], converse_join: Any) -> dict[str, Any]:
    """The parsed payloads of one stream as the body a whole answer would have had.
    ``converse_join(events)`` joins Converse-shaped events (Nova streams them)."""
    if family == "nova":
        return converse_join(events)  # type: ignore[no-any-return]
    if family == "anthropic":
        message: dict[str, Any] = {"content": []}
        blocks: dict[int, dict[str, Any]] = {}
        pieces: dict[int, list[str]] = {}
        for ev in events:
            kind = ev.get("type")
            if kind == "message_start":
                start = ev.get("message") or {}
                message.update({k: start.get(k) for k in ("id", "model")})
                message["usage"] = dict(start.get("usage") or {})
            elif kind == "content_block_start":
                blocks[ev.get("index", 0)] = dict(ev.get("content_block") or {})
            elif kind == "content_block_delta":
                delta = ev.get("delta") or {}
                text = delta.get("text", delta.get("partial_json", delta.get("thinking")))
                if isinstance(text, str):
                    pieces.setdefault(ev.get("index", 0), []).append(text)
            elif kind == "message_delta":
                message["stop_reason"] = (ev.get("delta") or {}).get("stop_reason")
                message.setdefault("usage", {}).update(ev.get("usage") or {})
            elif "completion" in ev:  # the legacy Text Completions stream
                message["completion"] = message.get("completion", "") + str(ev["completion"])
                message["stop_reason"] = ev.get("stop_reason") or message.get("stop_reason")
        for index in sorted(blocks):
            block, text = blocks[index], "".join(pieces.get(index, ()))
            if block.get("type") == "tool_use":
                block["input"] = loads(text) if text else block.get("input")
            elif block.get("type") == "thinking":
                block["thinking"] = text
            else:
                block["text"] = block.get("text", "") + text
            message["content"].append(block)
        return message
    if family == "titan":
        results: dict[str, Any] = {"outputText": "", "tokenCount": None, "completionReason": None}
        body: dict[str, Any] = {"results": [results]}
        for ev in events:
            results["outputText"] += str(ev.get("outputText") or "")
            results["tokenCount"] = ev.get("totalOutputTextTokenCount", results["tokenCount"])
            results["completionReason"] = ev.get("completionReason") or results["completionReason"]
            if ev.get("inputTextTokenCount") is not None:
                body["inputTextTokenCount"] = ev["inputTextTokenCount"]
        return body
    if family == "llama":
        body = {"generation": "".join(str(ev.get("generation") or "") for ev in events)}
        for ev in events:
            for key in ("prompt_token_count", "generation_token_count", "stop_reason"):
                if ev.get(key) is not None:
                    body[key] = ev[key]
        return body
    if family == "cohere":
        for ev in events:
            if ev.get("event_type") == "stream-end" and isinstance(ev.get("response"), dict):
                return dict(ev["response"], finish_reason=ev.get("finish_reason"))
        text = "".join(str(ev.get("text") or "") for ev in events if ev.get("event_type", "text-generation") == "text-generation")
        reason = next((ev.get("finish_reason") for ev in reversed(events) if ev.get("finish_reason")), None)
        return {"text": text, "finish_reason": reason}
    # OpenAI-shaped and Mistral: choices' deltas, or Mistral's outputs
    texts: dict[int, list[str]] = {}
    reasons: dict[int, Any] = {}
    joined: dict[str, Any] = {}
    for ev in events:
        for key in ("id", "model", "usage"):
            if ev.get(key) is not None:
                joined[key] = ev[key]
        for i, choice in enumerate(_seq(ev.get("choices")) or _seq(ev.get("outputs"))):
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", i)
            delta = choice.get("delta") or choice.get("message") or {}
            text = delta.get("content") if isinstance(delta, dict) and delta else choice.get("text")
            if isinstance(text, str):
                texts.setdefault(index, []).append(text)
            reason = choice.get("finish_reason") or choice.get("stop_reason")
            if reason:
                reasons[index] = reason
    joined["choices"] = [{"message": {"role": "assistant", "content": "".join(texts.get(i, ()))},
                          "finish_reason": reasons.get(i)} for i in sorted(set(texts) | set(reasons))]
    return joined
