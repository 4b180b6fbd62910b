"""The names the agent emits under ``WEAVE_AGENT_GENAI_CONVENTIONS`` (issue 17, item 7 and its
setting): the newest conventions by default, v1.41's on request, both during a migration;
time per output chunk as one point per chunk gap, with the response model and the
provider's own attributes on the points (item 6)."""

from __future__ import annotations

import time
from typing import Any

import pytest

import weave_agent.lifecycle as lifecycle
from weave_agent.export import metric_queue, telemetry
from weave_agent.settings import Settings
from weave_agent.tracing.calls import wrap_with_spec
from weave_agent.tracing.genai import Extractor, GenAISpec, Request, Response, Usage
from weave_agent.tracing.streams import Accumulator

NEWEST_METRICS = {
    "gen_ai.client.inference.duration",
    "gen_ai.client.inference.usage.input_tokens",
    "gen_ai.client.inference.usage.output_tokens",
    "gen_ai.client.inference.usage.cache_read.input_tokens",
    "gen_ai.client.inference.usage.cache_write.input_tokens",
    "gen_ai.client.inference.usage.reasoning.output_tokens",
    "gen_ai.client.inference.operation.input_tokens",
    "gen_ai.client.inference.operation.output_tokens",
}
NEWEST_STREAM_METRICS = {"gen_ai.client.inference.time_to_first_chunk", "gen_ai.client.inference.time_per_output_chunk"}
OLD_METRICS = {"gen_ai.client.operation.duration", "gen_ai.client.token.usage"}
OLD_STREAM_METRICS = {"gen_ai.client.operation.time_to_first_chunk", "gen_ai.client.operation.time_per_output_chunk"}


class Chat(Extractor):
    operation = "chat"
    provider = "fakeai"
    metric_attributes = ("fakeai.response.tier",)

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        return Request(inputs["model"], {"gen_ai.request.top_k": 40}, None, server_address="api.fake.ai",
                       server_port=443)

    def response(self, output: Any, capture: bool) -> Response:
        return Response({"gen_ai.response.id": "r1", "gen_ai.response.finish_reasons": ("stop",),
                         "fakeai.response.tier": "gold"},
                        Usage(12, 5, cache_read_input_tokens=4, cache_creation_input_tokens=3,
                              reasoning_output_tokens=2),
                        model="m-2024")


class Embeddings(Extractor):
    operation = "embeddings"
    provider = "fakeai"

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        return Request(inputs["model"])

    def response(self, output: Any, capture: bool) -> Response:
        return Response({}, Usage(input_tokens=7), model="e-2024")


class Boom(Exception):
    pass


def _chat(model: str, stream: bool = False, fail: bool = False, chunks: int = 4, pause: float = 0.0) -> Any:
    if fail:
        raise Boom("no")
    if stream:
        def gen() -> Any:
            for i in range(chunks):
                if pause and i:
                    time.sleep(pause)
                yield "c%d" % i
        return gen()
    return {"ok": True}


chat = wrap_with_spec(_chat, GenAISpec(Chat(), Accumulator(lambda s, c: s + [c], None, list)))
embed = wrap_with_spec(lambda model: [0.1], GenAISpec(Embeddings()))


@pytest.fixture
def conventions(spans: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``conventions("v1.41")``: the pipeline re-read with that setting."""

    def use(value: str | None, **more: str) -> None:
        env = dict(more)
        if value is not None:
            env["WEAVE_AGENT_GENAI_CONVENTIONS"] = value
        monkeypatch.setattr(lifecycle, "_settings", Settings.load(env))
        telemetry.reset()
        telemetry.use_providers(spans.provider, spans.meter_provider, spans.logger_provider)

    return use


def metric_names(spans: Any) -> set[str]:
    data = spans.metric_reader.get_metrics_data()
    return {m.name for rm in (data.resource_metrics if data else ()) for sm in rm.scope_metrics for m in sm.metrics
            if m.name.startswith("gen_ai.")}


def test_the_setting_defaults_to_newest_and_a_bad_value_is_named_with_what_it_accepts() -> None:
    assert Settings.load({}).genai_conventions == "newest"
    assert Settings.load({"WEAVE_AGENT_GENAI_CONVENTIONS": " V1.41 "}).genai_conventions == "v1.41"
    assert Settings.load({"WEAVE_AGENT_GENAI_CONVENTIONS": "both"}).genai_conventions == "both"
    bad = Settings.load({"WEAVE_AGENT_GENAI_CONVENTIONS": "latest"})
    assert bad.genai_conventions == "newest"
    (message,) = bad.errors
    assert "WEAVE_AGENT_GENAI_CONVENTIONS='latest'" in message and "newest, v1.41, both" in message


def test_settings_doc_documents_the_setting() -> None:
    from weave_agent.tools import settings_doc

    (row,) = [s for s in settings_doc.PUBLIC if s.env == "WEAVE_AGENT_GENAI_CONVENTIONS"]
    assert "`newest`" in row.meaning and "`v1.41`" in row.meaning and "`both`" in row.meaning
    assert row.default == "`newest`"


@pytest.mark.parametrize(
    "mode, new, old",
    [(None, True, False), ("newest", True, False), ("v1.41", False, True), ("both", True, True)],
)
def test_span_attributes_and_metric_names_per_setting(spans: Any, conventions: Any, mode: str | None, new: bool,
                                                      old: bool) -> None:
    conventions(mode)
    chat(model="m")
    assert "".join(chat(model="m", stream=True)) == "c0c1c2c3"
    for span in spans.named("chat m"):
        a = span.attributes
        assert ("gen_ai.usage.cache_write.input_tokens" in a) is new
        assert ("gen_ai.usage.cache_creation.input_tokens" in a) is old
        assert a.get("gen_ai.usage.cache_write.input_tokens", a.get("gen_ai.usage.cache_creation.input_tokens")) == 3
        assert a["gen_ai.request.top_k"] == 40 and type(a["gen_ai.request.top_k"]) is int
    names = metric_names(spans)
    expected = (NEWEST_METRICS | NEWEST_STREAM_METRICS if new else set()) | (
        OLD_METRICS | OLD_STREAM_METRICS if old else set())
    assert names == expected


def test_newest_usage_counters_and_per_operation_histograms(spans: Any, conventions: Any) -> None:
    conventions("newest")
    chat(model="m")
    chat(model="m")
    counters = {n: spans.metric_points(n) for n in NEWEST_METRICS if ".usage." in n}
    totals = {n.split("usage.")[1]: sum(p.value for p in pts) for n, pts in counters.items()}
    assert totals == {"input_tokens": 24, "output_tokens": 10, "cache_read.input_tokens": 8,
                      "cache_write.input_tokens": 6, "reasoning.output_tokens": 4}
    for pts in counters.values():
        (point,) = pts  # one series: the two calls' increments added up
        assert point.attributes["gen_ai.token.modality"] == "unknown"
        assert point.attributes["gen_ai.response.model"] == "m-2024"
        assert point.attributes["fakeai.response.tier"] == "gold"  # the extractor's metric attributes
    (per_call,) = spans.metric_points("gen_ai.client.inference.operation.input_tokens")
    assert per_call.count == 2 and per_call.sum == 24
    assert "gen_ai.token.modality" not in per_call.attributes  # not broken down by modality


def test_a_failed_inference_counts_zero_tokens_under_the_unknown_modality(spans: Any, conventions: Any) -> None:
    conventions("both")
    with pytest.raises(Boom):
        chat(model="m", fail=True)
    (used,) = spans.metric_points("gen_ai.client.inference.usage.output_tokens")
    assert used.value == 0 and used.attributes["gen_ai.token.modality"] == "unknown"
    assert "error.type" not in used.attributes  # the counters carry no error.type
    (duration,) = spans.metric_points("gen_ai.client.inference.duration")
    assert duration.attributes["error.type"] == "Boom"
    assert spans.metric_points("gen_ai.client.token.usage") == []  # v1.41: only real counts
    (old_duration,) = spans.metric_points("gen_ai.client.operation.duration")
    assert old_duration.attributes["error.type"] == "Boom"


def test_embeddings_have_their_own_metrics(spans: Any, conventions: Any) -> None:
    conventions("newest")
    embed(model="e")
    names = metric_names(spans)
    assert names == {"gen_ai.client.embeddings.duration", "gen_ai.client.embeddings.operation.input_tokens"}
    (tokens,) = spans.metric_points("gen_ai.client.embeddings.operation.input_tokens")
    assert tokens.sum == 7 and tokens.attributes["gen_ai.operation.name"] == "embeddings"
    assert not spans.logs()  # the content event is the inference's


def test_embeddings_in_v1_41_use_the_shared_names(spans: Any, conventions: Any) -> None:
    conventions("v1.41")
    embed(model="e")
    assert metric_names(spans) == {"gen_ai.client.operation.duration", "gen_ai.client.token.usage"}


@pytest.mark.parametrize("mode, prefix", [("newest", "gen_ai.client.inference."), ("v1.41", "gen_ai.client.operation.")])
def test_time_per_output_chunk_is_one_point_per_chunk_gap(spans: Any, conventions: Any, mode: str, prefix: str) -> None:
    conventions(mode)
    stream = chat(model="m", stream=True, chunks=5, pause=0.02)
    before = metric_queue.pending()
    for _ in stream:
        assert metric_queue.pending() == before  # no metric work while the chunks come
    (per_chunk,) = spans.metric_points(prefix + "time_per_output_chunk")
    assert per_chunk.count == 4  # five chunks: four gaps, each its own point
    assert per_chunk.min >= 0.015 and per_chunk.sum == pytest.approx(0.08, abs=0.06)
    (first,) = spans.metric_points(prefix + "time_to_first_chunk")
    for point in (per_chunk, first):
        assert point.attributes["gen_ai.response.model"] == "m-2024"
        assert point.attributes["fakeai.response.tier"] == "gold"
        assert point.attributes["gen_ai.request.model"] == "m"


def test_streams_without_metrics_keep_no_chunk_times(spans: Any) -> None:
    telemetry.reset()
    telemetry.use_providers(spans.provider, None)
    stream = chat(model="m", stream=True)
    assert stream._self_st.times is None
    list(stream)
    assert spans.one("chat m").attributes["gen_ai.response.time_to_first_chunk"] >= 0
