"""LlamaIndex: what a dispatcher span is, and what its objects say, in GenAI terms.

``classify`` names the step of a dispatcher span (its instance's class and the method the
span id names) or leaves it out; the rest reads LlamaIndex's objects: an LLM's metadata
and settings, ``ChatMessage``/``ChatResponse`` as the conventions' message parts, usage
from the raw provider response, an embedding model's name, a tool's metadata and output,
retrieved nodes. Read by ``handlers.py``.
"""

from __future__ import annotations

import sys
from typing import Any

from weave_agent import genai
from weave_agent.export import telemetry
from weave_agent.tracing import conventions

# What a traced step is: the agent's span kind for it.
LLM = "llm"
EMBEDDING = "embedding"
RETRIEVAL = "retrieval"
TOOL = "tool"
AGENT = "agent"
WORKFLOW = "workflow"
STEP = "step"

_CHAT_METHODS = frozenset({"chat", "achat", "stream_chat", "astream_chat"})
_COMPLETION_METHODS = frozenset({"complete", "acomplete", "stream_complete", "astream_complete"})
_EMBEDDING_METHODS = frozenset({
    "get_query_embedding", "aget_query_embedding", "get_text_embedding", "aget_text_embedding",
    "get_text_embedding_batch", "aget_text_embedding_batch", "get_agg_embedding_from_queries",
    "aget_agg_embedding_from_queries",
})
_STEP_METHODS = {
    "query_engine": frozenset({"query", "aquery"}),
    "synthesizer": frozenset({"synthesize", "asynthesize"}),
    "chat_engine": frozenset({"chat", "achat", "stream_chat", "astream_chat"}),
}

# llama-index-llms-* / -embeddings-* distributions (their module under llama_index.llms or
# llama_index.embeddings) -> the conventions' gen_ai.provider.name.
_PROVIDERS = {
    "openai": "openai",
    "azure_openai": "azure.ai.openai",
    "anthropic": "anthropic",
    "mistralai": "mistral_ai",
    "bedrock": "aws.bedrock",
    "bedrock_converse": "aws.bedrock",
    "google_genai": "gcp.gen_ai",
    "gemini": "gcp.gemini",
    "vertex": "gcp.vertex_ai",
    "groq": "groq",
    "cohere": "cohere",
    "deepseek": "deepseek",
    "ollama": "ollama",
    "perplexity": "perplexity",
    "xai": "x_ai",
    "ibm": "ibm.watsonx.ai",
}

_FINISH_REASONS = {
    "stop": "stop", "end_turn": "stop", "stop_sequence": "stop", "length": "length", "max_tokens": "length",
    "tool_calls": "tool_call", "tool_use": "tool_call", "function_call": "tool_call",
    "content_filter": "content_filter",
}

_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system", "tool": "tool",
          "function": "tool", "chatbot": "assistant", "model": "assistant"}


def capture() -> bool:
    return telemetry.settings().capture_content != "no_content"


def limit() -> int:
    return telemetry.settings().max_value_size


def content_mode() -> tuple[bool, bool]:
    mode = telemetry.settings().capture_content
    return mode in ("span_only", "span_and_event"), mode in ("event_only", "span_and_event")


def _classes() -> dict[str, type]:
    """LlamaIndex's base classes, from the modules already imported (none is imported here:
    a dispatcher span fires only once llama_index.core is loaded, but not every part is)."""
    found: dict[str, type] = {}
    for key, module, name in (
        ("llm", "llama_index.core.base.llms.base", "BaseLLM"),
        ("embedding", "llama_index.core.base.embeddings.base", "BaseEmbedding"),
        ("retriever", "llama_index.core.base.base_retriever", "BaseRetriever"),
        ("tool", "llama_index.core.tools.types", "BaseTool"),
        ("agent", "llama_index.core.agent.workflow.base_agent", "BaseWorkflowAgent"),
        ("workflow", "workflows.workflow", "Workflow"),
        ("query_engine", "llama_index.core.base.base_query_engine", "BaseQueryEngine"),
        ("synthesizer", "llama_index.core.response_synthesizers.base", "BaseSynthesizer"),
        ("chat_engine", "llama_index.core.chat_engine.types", "BaseChatEngine"),
    ):
        cls = getattr(sys.modules.get(module), name, None)
        if isinstance(cls, type):
            found[key] = cls
    return found


def method_of(span_id: str) -> str:
    """The method a dispatcher span id names: ``{Class}.{method}-{uuid4}``."""
    qualified = span_id[:-37] if len(span_id) > 37 and span_id[-37] == "-" else span_id
    return qualified.rpartition(".")[2]


_kinds: dict[tuple[type, str], str | None] = {}


def classify(instance: Any, method: str) -> str | None:
    """The kind of step, or None for a span the agent leaves out. Cached per class and
    method: an instance's base classes are imported by the time it exists."""
    if instance is None or method.startswith("_"):
        return None
    key = (type(instance), method)
    try:
        return _kinds[key]
    except KeyError:
        pass
    kind = _classify(instance, method)
    if len(_kinds) < 4096:
        _kinds[key] = kind
    return kind


def _classify(instance: Any, method: str) -> str | None:
    classes = _classes()

    def isa(key: str) -> bool:
        cls = classes.get(key)
        return cls is not None and isinstance(instance, cls)

    if isa("llm"):
        return LLM if method in _CHAT_METHODS or method in _COMPLETION_METHODS else None
    if isa("embedding"):
        return EMBEDDING if method in _EMBEDDING_METHODS else None
    if isa("retriever"):
        return RETRIEVAL if method in ("retrieve", "aretrieve") else None
    if isa("tool"):
        return TOOL if method in ("call", "acall") else None
    if method == "run" and isa("workflow"):
        return AGENT if isa("agent") else WORKFLOW
    for key, methods in _STEP_METHODS.items():
        if method in methods and isa(key):
            return STEP
    return None


def provider(instance: Any) -> str:
    """The provider of an LLM or embedding class, from the distribution that defines it."""
    module = type(instance).__module__ or ""
    for prefix in ("llama_index.llms.", "llama_index.embeddings."):
        if module.startswith(prefix):
            package = module[len(prefix):].partition(".")[0]
            return _PROVIDERS.get(package, package)
    return "llama_index"


def _setting(instance: Any, name: str) -> Any:
    return getattr(instance, "__dict__", {}).get(name)


def llm_model(instance: Any) -> str | None:
    try:
        name = instance.metadata.model_name
    except Exception:
        name = _setting(instance, "model")
    return name if isinstance(name, str) and name and name != "unknown" else None


def embedding_model(instance: Any) -> str | None:
    name = _setting(instance, "model_name")
    return name if isinstance(name, str) and name and name != "unknown" else None


def llm_request(instance: Any, operation: str, model: str | None, streaming: bool) -> dict[str, Any]:
    attrs: dict[str, Any] = {"gen_ai.operation.name": operation, "gen_ai.provider.name": provider(instance)}
    if model:
        attrs["gen_ai.request.model"] = model
    for attr, value, read in (
        ("gen_ai.request.temperature", _setting(instance, "temperature"), genai.as_double),
        ("gen_ai.request.max_tokens", _setting(instance, "max_tokens"), genai.as_int),
        ("gen_ai.request.top_p", _setting(instance, "top_p"), genai.as_double),
    ):
        number = read(value)
        if number is not None:
            attrs[attr] = number
    if streaming:
        attrs["gen_ai.request.stream"] = True
    return attrs


def _text(content: Any) -> str | None:
    return content if isinstance(content, str) else None


def message_parts(message: Any) -> dict[str, Any]:
    """A LlamaIndex ``ChatMessage`` in the conventions' message schema."""
    role_value = getattr(message, "role", None)
    role_name = getattr(role_value, "value", role_value)
    role = _ROLES.get(role_name, role_name) if isinstance(role_name, str) else "user"
    kwargs = getattr(message, "additional_kwargs", None) or {}
    parts: list[dict[str, Any]] = []
    try:
        content = message.content
    except Exception:
        content = None
    if role == "tool":
        parts.append({"type": "tool_call_response", "id": kwargs.get("tool_call_id"), "response": content})
        return {"role": role, "parts": parts}
    if isinstance(content, str) and content:
        parts.append({"type": "text", "content": content})
    for call in kwargs.get("tool_calls") or ():
        function = getattr(call, "function", None)
        if function is None and isinstance(call, dict):
            fn = call.get("function") or {}
            parts.append(genai.tool_call_part(call.get("id"), fn.get("name"), fn.get("arguments")))
        elif function is not None:
            parts.append(genai.tool_call_part(getattr(call, "id", None), getattr(function, "name", None),
                                              getattr(function, "arguments", None)))
    return {"role": role, "parts": parts}


def input_messages(arguments: dict[str, Any]) -> list[dict[str, Any]] | None:
    messages = arguments.get("messages")
    if isinstance(messages, (list, tuple)):
        return [message_parts(m) for m in messages]
    prompt = arguments.get("prompt")
    if isinstance(prompt, str):
        return [{"role": "user", "parts": [{"type": "text", "content": prompt}]}]
    return None


def _raw_field(raw: Any, name: str) -> Any:
    if isinstance(raw, dict):
        return raw.get(name)
    return getattr(raw, name, None)


def response_attributes(response: Any) -> tuple[dict[str, Any], list[dict[str, Any]], str | None]:
    """(response attributes, output messages, response model) of a ``ChatResponse`` or
    ``CompletionResponse`` (the last one of a stream)."""
    attrs: dict[str, Any] = {}
    raw = getattr(response, "raw", None)
    model = _raw_field(raw, "model")
    response_id = _raw_field(raw, "id")
    if isinstance(response_id, str) and response_id:
        attrs["gen_ai.response.id"] = response_id
    if isinstance(model, str) and model:
        attrs["gen_ai.response.model"] = model
    else:
        model = None
    reason = None
    choices = _raw_field(raw, "choices")
    if isinstance(choices, list) and choices:
        reason = _raw_field(choices[0], "finish_reason")
    finish = _FINISH_REASONS.get(reason, reason) if isinstance(reason, str) and reason else None
    if finish:
        attrs["gen_ai.response.finish_reasons"] = [finish]
    out: list[dict[str, Any]] = []
    message = getattr(response, "message", None)
    if message is not None:
        msg = message_parts(message)
        msg["role"] = "assistant"
    else:
        text = _text(getattr(response, "text", None))
        msg = {"role": "assistant", "parts": [{"type": "text", "content": text}] if text else []}
    if message is not None or getattr(response, "text", None) is not None:
        msg["finish_reason"] = finish or "unknown"
        out.append(msg)
    return attrs, out, model


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def usage(response: Any) -> genai.Usage | None:
    """The tokens LlamaIndex reports: the raw response's ``usage`` (OpenAI's shape), else the
    ``prompt_tokens``/``completion_tokens`` its LLMs put into ``additional_kwargs``."""
    found = _raw_field(getattr(response, "raw", None), "usage")
    if found is not None:
        inp = _count(_raw_field(found, "prompt_tokens") or _raw_field(found, "input_tokens"))
        out = _count(_raw_field(found, "completion_tokens") or _raw_field(found, "output_tokens"))
        if inp is not None or out is not None:
            return genai.Usage(inp, out)
    extra = getattr(response, "additional_kwargs", None)
    if isinstance(extra, dict):
        inp, out = _count(extra.get("prompt_tokens")), _count(extra.get("completion_tokens"))
        if inp is not None or out is not None:
            return genai.Usage(inp, out)
    return None


def tool_attributes(instance: Any) -> dict[str, Any]:
    metadata = getattr(instance, "metadata", None)
    name = getattr(metadata, "name", None) or type(instance).__name__
    attrs: dict[str, Any] = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name,
                             "gen_ai.tool.type": "function"}
    description = getattr(metadata, "description", None)
    if isinstance(description, str) and description:
        attrs["gen_ai.tool.description"] = description
    return attrs


def tool_error(output: Any) -> str | None:
    """A ``ToolOutput`` that reports the tool failed (``FunctionTool`` catches nothing, but
    agents and other tools return ``is_error=True``)."""
    if getattr(output, "is_error", False):
        exc = getattr(output, "exception", None)
        return type(exc).__qualname__ if isinstance(exc, BaseException) else "ToolError"
    return None


def tool_result(output: Any) -> Any:
    content = getattr(output, "content", None)
    return content if content is not None else output


def agent_attributes(kind: str, instance: Any) -> tuple[str, dict[str, Any]]:
    name = getattr(instance, "name", None)
    if not isinstance(name, str) or not name:
        name = type(instance).__name__
    if kind == AGENT:
        attrs: dict[str, Any] = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name}
        description = getattr(instance, "description", None)
        if isinstance(description, str) and description:
            attrs["gen_ai.agent.description"] = description
        llm = getattr(instance, "llm", None)
        if llm is not None:
            attrs["gen_ai.provider.name"] = provider(llm)
            model = llm_model(llm)
            if model:
                attrs["gen_ai.request.model"] = model
        return "invoke_agent %s" % name, attrs
    return "invoke_workflow %s" % name, {"gen_ai.operation.name": "invoke_workflow",
                                         **conventions.workflow_name_attributes(name)}


def documents(nodes: Any) -> list[dict[str, Any]]:
    out = []
    for item in nodes if isinstance(nodes, list) else ():
        node: Any = getattr(item, "node", item)
        entry: dict[str, Any] = {"id": getattr(node, "node_id", None)}
        score = getattr(item, "score", None)
        if isinstance(score, (int, float)):
            entry["score"] = score
        try:
            entry["content"] = node.get_content()
        except Exception:
            pass
        out.append(entry)
    return out
