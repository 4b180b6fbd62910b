"""weave-agent's instrumentations as OpenTelemetry instrumentors.

For apps that already start OpenTelemetry their own way: ``opentelemetry-instrument python
app.py`` finds these through the entry-point group ``opentelemetry_instrumentor`` (one per
instrumentation, named as in ``weave-run list``), and code can call them like any contrib
package::

    from weave_agent.instrumentors import OpenAIInstrumentor

    OpenAIInstrumentor().instrument(tracer_provider=provider, meter_provider=meter_provider)

``instrument()`` arms the instrumentation the way ``weave-run`` does: its SDK is patched
when it is imported (at once if it already is), nothing is imported ahead of time. The
spans go to the ``tracer_provider`` given, else to the global one the app (or
``opentelemetry-instrument`` with a distro) configured; with neither, the agent's own
pipeline takes the global place (files in ``./weave-traces``, or OTLP with
``OTEL_EXPORTER_OTLP_ENDPOINT``), set up right away so that the spans other instrumentors
start before the first LLM call (a server's request span) are recorded too.

Needs ``opentelemetry-instrumentation`` (``pip install "weave-agent[instrumentors]"``); the
agent itself never imports this module.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

__all__ = [
    "WeaveAgentInstrumentor",
    "AnthropicInstrumentor",
    "BedrockInstrumentor",
    "CohereInstrumentor",
    "CrewAIInstrumentor",
    "DSPyInstrumentor",
    "GoogleGenAIInstrumentor",
    "GroqInstrumentor",
    "LangChainInstrumentor",
    "LiteLLMInstrumentor",
    "LlamaIndexInstrumentor",
    "MCPInstrumentor",
    "MistralInstrumentor",
    "OllamaInstrumentor",
    "OpenAIAgentsInstrumentor",
    "OpenAIInstrumentor",
    "PydanticAIInstrumentor",
]


class WeaveAgentInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """One weave-agent instrumentation (``name``, a registry row) behind the
    ``BaseInstrumentor`` interface. Subclasses only set ``name``."""

    name = ""

    def _row(self) -> Any:
        from .hook.arming import known

        row = known(include_entry_points=False).get(self.name)
        if row is None:
            raise ValueError("weave-agent has no instrumentation named %r" % self.name)
        return row

    def instrumentation_dependencies(self) -> Collection[str]:
        row = self._row()
        return ["%s %s" % (row.distribution, row.versions)] if row.distribution and row.versions else []

    def _instrument(self, **kwargs: Any) -> None:
        from opentelemetry import trace

        from .export import telemetry
        from .hook import arming, importhook

        tracer_provider = kwargs.get("tracer_provider")
        if tracer_provider is not None:
            telemetry.use_providers(tracer_provider, kwargs.get("meter_provider"), kwargs.get("logger_provider"))
        elif isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            from .lifecycle import watch_process

            telemetry.tracer()  # nobody configured one: ours, before other instrumentors' first spans
            watch_process()  # and its exit flush, on SIGTERM too (a server stopped by its manager)
        importhook.install()
        arming.arm(self._row())

    def _uninstrument(self, **kwargs: Any) -> None:
        from .hook import arming

        arming.disarm(self.name)


def _instrumentor(name: str, class_name: str) -> type[WeaveAgentInstrumentor]:
    doc = "weave-agent's ``%s`` instrumentation as an OpenTelemetry instrumentor." % name
    cls = type(class_name, (WeaveAgentInstrumentor,), {"name": name, "__doc__": doc, "__module__": __name__})
    return cls


# One per row of instrumentations/registry.py (tests/agent/test_instrumentors.py holds the
# list, the registry and the entry points in pyproject.toml to each other).
AnthropicInstrumentor = _instrumentor("anthropic", "AnthropicInstrumentor")
BedrockInstrumentor = _instrumentor("bedrock", "BedrockInstrumentor")
CohereInstrumentor = _instrumentor("cohere", "CohereInstrumentor")
CrewAIInstrumentor = _instrumentor("crewai", "CrewAIInstrumentor")
DSPyInstrumentor = _instrumentor("dspy", "DSPyInstrumentor")
GoogleGenAIInstrumentor = _instrumentor("google_genai", "GoogleGenAIInstrumentor")
GroqInstrumentor = _instrumentor("groq", "GroqInstrumentor")
LangChainInstrumentor = _instrumentor("langchain", "LangChainInstrumentor")
LiteLLMInstrumentor = _instrumentor("litellm", "LiteLLMInstrumentor")
LlamaIndexInstrumentor = _instrumentor("llamaindex", "LlamaIndexInstrumentor")
MCPInstrumentor = _instrumentor("mcp", "MCPInstrumentor")
MistralInstrumentor = _instrumentor("mistral", "MistralInstrumentor")
OllamaInstrumentor = _instrumentor("ollama", "OllamaInstrumentor")
OpenAIAgentsInstrumentor = _instrumentor("openai_agents", "OpenAIAgentsInstrumentor")
OpenAIInstrumentor = _instrumentor("openai", "OpenAIInstrumentor")
PydanticAIInstrumentor = _instrumentor("pydantic_ai", "PydanticAIInstrumentor")
