"""The Ollama extractors against the newest GenAI conventions: the schemas accept every part
they build (tool calls and results without ids, images without their bytes, a suffix, a
system prompt given apart), attributes have the registry's types, and
``gen_ai.request.stream`` is set only when the request streams."""

from __future__ import annotations

from typing import Any

import ollama

from weave_agent.instrumentations.ollama.extract import (
    ChatExtractor,
    EmbedExtractor,
    GenerateExtractor,
)
from weave_agent.instrumentations.ollama.streaming import OllamaStreamAccumulator
from weave_agent.tools import conventions_check

MESSAGES = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "What is in the picture?", "images": [b"\x89PNG\r\n", "/photos/cat.jpg"]},
    {"role": "assistant", "content": "", "thinking": "A tool helps.",
     "tool_calls": [{"function": {"name": "look", "arguments": {"zoom": 2}}}]},
    {"role": "tool", "content": "a cat", "tool_name": "look"},
]


def _conform(content: dict[str, Any]) -> None:
    for name, value in content.items():
        if value:
            assert conventions_check.check_content(name, value) is None, (name, value)


def test_chat_content_conforms() -> None:
    request = ChatExtractor().request({"model": "llava", "messages": MESSAGES, "stream": False,
                                       "tools": [{"type": "function", "function": {"name": "look"}}]}, None, True)
    assert request.content is not None and request.attributes is not None
    _conform(request.content)
    assert [m["role"] for m in request.content["gen_ai.input.messages"]] == ["system", "user", "assistant", "tool"]
    assert "gen_ai.request.stream" not in request.attributes  # never false
    answer = ollama.ChatResponse(model="llava", done=True, done_reason="stop", prompt_eval_count=9, eval_count=4,
                                 message=ollama.Message(role="assistant", content="A cat.", thinking="Looks so."))
    response = ChatExtractor().response(answer, True)
    assert response.content is not None
    _conform(response.content)
    assert conventions_check.check_attributes(dict(response.attributes or {})) is None


def test_generate_and_stream_conform() -> None:
    inputs = {"model": "m", "prompt": "def f(", "suffix": "return x", "system": "Code only.", "stream": True,
              "options": {"temperature": 1, "top_p": 1, "top_k": 40.0, "num_predict": 10.0, "seed": 3,
                          "presence_penalty": 0, "frequency_penalty": 0}}
    request = GenerateExtractor().request(inputs, None, True)
    assert request.content is not None and request.attributes is not None
    _conform(request.content)
    assert request.content["gen_ai.system_instructions"] == [{"type": "text", "content": "Code only."}]
    attrs = dict(request.attributes)
    assert attrs["gen_ai.request.stream"] is True
    for key in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
        assert type(attrs["gen_ai.request." + key]) is float, key
    assert (attrs["gen_ai.request.top_k"], attrs["gen_ai.request.max_tokens"]) == (40, 10)
    assert conventions_check.check_attributes(attrs) is None
    acc = OllamaStreamAccumulator()
    thinks = "thinking" in ollama.GenerateResponse.model_fields  # not in older releases
    acc.add(ollama.GenerateResponse(model="m", response="x)", done=False, **({"thinking": "hm"} if thinks else {})))
    acc.add(ollama.GenerateResponse(model="m", response="", done=True, done_reason="length",
                                    prompt_eval_count=5, eval_count=10))
    response = GenerateExtractor().response(acc, True)
    assert response.content is not None
    _conform(response.content)
    assert response.content["gen_ai.output.messages"] == [{"role": "assistant", "finish_reason": "length", "parts": [
        *([{"type": "reasoning", "content": "hm"}] if thinks else []), {"type": "text", "content": "x)"}]}]


def test_embed_conforms() -> None:
    request = EmbedExtractor().request({"model": "all-minilm", "input": "one", "dimensions": 64.0}, None, True)
    assert request.content is not None and request.attributes is not None
    _conform(request.content)
    assert dict(request.attributes) == {"gen_ai.embeddings.dimension.count": 64}
