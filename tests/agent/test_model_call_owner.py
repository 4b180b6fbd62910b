"""A gateway's span owns its model call: GenAI SDK spans started inside it step aside.

LiteLLM calls the OpenAI SDK for its OpenAI and Azure routes; both are instrumented, and
one model call must give one LLM span with usage (``calls.MODEL_CALL_OWNED``).
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

from opentelemetry import context as otel_context

from weave_agent.tracing.calls import owned_model_call, wrap_with_spec
from weave_agent.tracing.genai import Extractor, GenAISpec, Request, Response, Usage


class Chat(Extractor):
    operation = "chat"

    def __init__(self, provider: str) -> None:
        self.provider = provider

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        return Request(inputs["model"])

    def response(self, output: Any, capture: bool) -> Response:
        return Response(usage=Usage(3, 4))


class GatewaySpec(GenAISpec):
    owns_model_call = True


def sdk_call(model: str) -> dict[str, Any]:
    return {"model": model}


SDK = wrap_with_spec(sdk_call, GenAISpec(Chat("openai")))


def gateway_call(model: str) -> Any:
    return SDK(model=model)


async def agateway_call(model: str) -> Any:
    """As LiteLLM's acompletion: the sync call in an executor, in a copy of the context."""
    await asyncio.sleep(0)
    ctx = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(None, ctx.run, lambda: SDK(model=model))


GATEWAY = wrap_with_spec(gateway_call, GatewaySpec(Chat("gateway")))
AGATEWAY = wrap_with_spec(agateway_call, GatewaySpec(Chat("gateway")))


def usage_spans(spans: Any) -> list[str]:
    return [s.attributes["gen_ai.provider.name"] for s in spans.finished() if "gen_ai.usage.input_tokens" in s.attributes]


def test_sdk_span_steps_aside_inside_a_gateway_call(spans: Any) -> None:
    GATEWAY(model="m")
    assert usage_spans(spans) == ["gateway"]
    SDK(model="m")  # outside: the SDK span is back
    assert usage_spans(spans) == ["gateway", "openai"]


def test_async_gateway_and_an_executor_thread(spans: Any) -> None:
    asyncio.run(AGATEWAY(model="m"))
    assert usage_spans(spans) == ["gateway"]


def test_owned_model_call_without_a_span(spans: Any) -> None:
    token = owned_model_call()
    try:
        SDK(model="m")
    finally:
        otel_context.detach(token)
    assert spans.finished() == []
    SDK(model="m")
    assert usage_spans(spans) == ["openai"]
