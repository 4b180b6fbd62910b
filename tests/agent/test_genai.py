"""The GenAI conventions layer, driven by a fake vendor extractor."""

from __future__ import annotations

import json

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from weave_agent.export import telemetry
from weave_agent.export.telemetry import DURATION_BUCKETS, TOKEN_BUCKETS
from weave_agent.tracing.calls import wrap_with_spec
from weave_agent.tracing.genai import Extractor, GenAISpec, Request, Response, Usage
from weave_agent.tracing.streams import Accumulator


class FakeError(Exception):
    status_code = 429


class ChatExtractor(Extractor):
    operation = "chat"
    provider = "fakeai"

    def request(self, inputs, instance, capture):
        return Request(
            inputs["model"],
            {"gen_ai.request.temperature": inputs.get("temperature", 1.0)},
            {"gen_ai.input.messages": inputs["messages"]} if capture else None,
            server_address="api.fake.ai",
            server_port=443,
        )

    def response(self, output, capture):
        return Response(
            {"gen_ai.response.id": output["id"], "gen_ai.response.finish_reasons": ("stop",)},
            Usage(output["usage"][0], output["usage"][1], cache_read_input_tokens=2),
            model=output["model"],
            content={"gen_ai.output.messages": [
                {"role": "assistant", "parts": [{"type": "text", "content": output["text"]}], "finish_reason": "stop"}
            ]}
            if capture
            else None,
        )

    def error_type(self, exc):
        return str(getattr(exc, "status_code", type(exc).__name__))


def chat(*, model, messages, temperature=1.0, stream=False, fail=False):
    if fail:
        raise FakeError("rate limited")
    if stream:
        return iter(["Hel", "lo"])
    return {"id": "r1", "model": model + "-2024", "text": "Hello", "usage": (10, 3)}


def stream_output(chunks):
    return {"id": "r2", "model": "m-2024", "text": "".join(chunks), "usage": (7, 2)}


traced = wrap_with_spec(chat, GenAISpec(ChatExtractor(), Accumulator(lambda s, c: s + [c], stream_output, list)))
MESSAGES = [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]


def test_span_follows_the_conventions(spans):
    assert traced(model="m", messages=MESSAGES, temperature=0.2)["text"] == "Hello"
    span = spans.one("chat m")
    assert span.kind is SpanKind.CLIENT
    a = span.attributes
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "fakeai"
    assert a["gen_ai.request.model"] == "m" and a["gen_ai.response.model"] == "m-2024"
    assert a["server.address"] == "api.fake.ai" and a["server.port"] == 443
    assert a["gen_ai.request.temperature"] == 0.2
    assert a["gen_ai.usage.input_tokens"] == 10 and a["gen_ai.usage.output_tokens"] == 3
    assert a["gen_ai.usage.cache_read.input_tokens"] == 2
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert json.loads(a["gen_ai.input.messages"]) == MESSAGES
    assert json.loads(a["gen_ai.output.messages"])[0]["parts"][0]["content"] == "Hello"


def test_metrics_names_units_buckets_and_attributes(spans):
    traced(model="m", messages=MESSAGES)
    (duration,) = spans.metric_points("gen_ai.client.inference.duration")
    assert tuple(duration.explicit_bounds) == DURATION_BUCKETS
    assert duration.attributes["gen_ai.response.model"] == "m-2024"
    assert duration.attributes["server.address"] == "api.fake.ai"
    (tokens_in,) = spans.metric_points("gen_ai.client.inference.operation.input_tokens")
    (tokens_out,) = spans.metric_points("gen_ai.client.inference.operation.output_tokens")
    assert (tokens_in.sum, tokens_out.sum) == (10, 3)
    assert tuple(tokens_in.explicit_bounds) == TOKEN_BUCKETS
    (used,) = spans.metric_points("gen_ai.client.inference.usage.input_tokens")
    assert used.value == 10 and used.attributes["gen_ai.token.modality"] == "unknown"
    data = spans.metric_reader.get_metrics_data()
    units = {m.name: m.unit for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert units["gen_ai.client.inference.duration"] == "s"
    assert units["gen_ai.client.inference.operation.input_tokens"] == "{token}"
    assert units["gen_ai.client.inference.usage.input_tokens"] == "{token}"


def test_error_type_and_duration_metric(spans):
    with pytest.raises(FakeError):
        traced(model="m", messages=MESSAGES, fail=True)
    span = spans.one("chat m")
    assert span.status.status_code is StatusCode.ERROR and span.attributes["error.type"] == "429"
    (duration,) = spans.metric_points("gen_ai.client.inference.duration")
    assert duration.attributes["error.type"] == "429"
    # Every inference counts its tokens, a failed one 0 (no response, no usage).
    (used,) = spans.metric_points("gen_ai.client.inference.usage.input_tokens")
    assert used.value == 0 and "error.type" not in used.attributes
    (per_call,) = spans.metric_points("gen_ai.client.inference.operation.input_tokens")
    assert per_call.sum == 0 and per_call.attributes["error.type"] == "429"


def test_stream_usage_and_time_to_first_chunk(spans):
    assert "".join(traced(model="m", messages=MESSAGES, stream=True)) == "Hello"
    span = spans.one("chat m")
    assert span.attributes["gen_ai.usage.output_tokens"] == 2
    assert span.attributes["gen_ai.response.time_to_first_chunk"] >= 0
    (first,) = spans.metric_points("gen_ai.client.inference.time_to_first_chunk")
    assert first.count == 1 and first.attributes["gen_ai.response.model"] == "m-2024"
    (per_chunk,) = spans.metric_points("gen_ai.client.inference.time_per_output_chunk")
    assert per_chunk.count == 1  # two chunks: one gap


@pytest.mark.parametrize(
    "mode, on_span, on_event",
    [("false", False, False), ("NO_CONTENT", False, False), ("true", True, False), ("SPAN_ONLY", True, False),
     ("EVENT_ONLY", False, True), ("span_and_event", True, True)],
)
def test_content_capture_modes(spans, monkeypatch, mode, on_span, on_event):
    import weave_agent.lifecycle as lifecycle
    from weave_agent.settings import Settings

    monkeypatch.setattr(lifecycle, "_settings", Settings.load({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": mode}))
    telemetry.reset()  # settings are read when the pipeline is set up
    telemetry.use_providers(spans.provider, spans.meter_provider, spans.logger_provider)
    traced(model="m", messages=MESSAGES)
    span = spans.one("chat m")
    assert ("gen_ai.input.messages" in span.attributes) is on_span
    assert ("gen_ai.output.messages" in span.attributes) is on_span
    assert not span.events  # the event is a log record, not a span event
    events = spans.logs("gen_ai.client.inference.operation.details")
    assert len(events) == (1 if on_event else 0)
    if on_event:
        content = events[0].attributes
        assert content["gen_ai.input.messages"][0]["parts"][0]["content"] == "Hi"  # structured, not JSON text
        assert content["gen_ai.output.messages"][0]["parts"][0]["content"] == "Hello"
    assert span.attributes["gen_ai.usage.input_tokens"] == 10  # usage is never content
