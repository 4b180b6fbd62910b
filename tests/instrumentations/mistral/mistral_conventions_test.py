"""The Mistral extractors against the newest GenAI conventions (issue 17): system messages
in the chat history, ``gen_ai.request.stream`` only when streaming, the registry's types,
media and unknown chunks as parts the schemas accept."""

from __future__ import annotations

from typing import Any

from weave_agent.instrumentations.mistral.extract import ChatExtractor, FimExtractor
from weave_agent.tools import conventions_check


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "content": value}


def test_system_messages_stay_in_the_history() -> None:
    messages = [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "system", "content": "Now in French."},
    ]
    request = ChatExtractor().request({"model": "m", "messages": messages}, None, True)
    assert request.content is not None
    assert "gen_ai.system_instructions" not in request.content
    assert [m["role"] for m in request.content["gen_ai.input.messages"]] == ["system", "user", "assistant", "system"]
    assert request.content["gen_ai.input.messages"][3] == {"role": "system", "parts": [text("Now in French.")]}


def test_stream_only_when_streaming_and_registry_types() -> None:
    inputs = {"model": "m", "messages": [], "temperature": 1, "top_p": 1, "top_k": 40.0, "max_tokens": 64,
              "presence_penalty": 0, "frequency_penalty": 0}
    plain = ChatExtractor(streaming=False).request(inputs, None, False).attributes
    streamed = FimExtractor(streaming=True).request({"model": "m", "prompt": "def"}, None, False).attributes
    assert plain is not None and streamed is not None
    assert "gen_ai.request.stream" not in plain
    assert streamed["gen_ai.request.stream"] is True
    for key in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
        assert type(plain["gen_ai.request." + key]) is float, key
    assert type(plain["gen_ai.request.top_k"]) is int and plain["gen_ai.request.top_k"] == 40
    assert conventions_check.check_attributes(plain) is None


def test_chunks_conform() -> None:
    messages = [{"role": "user", "content": [
        {"type": "text", "text": "Listen and read."},
        {"type": "input_audio", "input_audio": "UklGRg=="},
        {"type": "file", "file_id": "f-1"},
        {"type": "reference", "reference_ids": [1, 2]},
    ]}]
    request = ChatExtractor().request({"model": "m", "messages": messages}, None, True)
    assert request.content is not None
    assert request.content["gen_ai.input.messages"][0]["parts"] == [
        text("Listen and read."),
        {"type": "generic", "generic_type": "blob", "modality": "audio", "byte_size": 4},
        {"type": "file", "modality": "document", "file_id": "f-1"},
        {"type": "generic", "generic_type": "reference"},
    ]
    fim = FimExtractor().request({"model": "m", "prompt": "def f(", "suffix": "return x"}, None, True)
    assert fim.content is not None
    assert fim.content["gen_ai.input.messages"][0]["parts"][1] == {
        "type": "generic", "generic_type": "fim_suffix", "content": "return x"
    }
    for content in (request.content, fim.content):
        for name, value in content.items():
            assert conventions_check.check_content(name, value) is None, name
