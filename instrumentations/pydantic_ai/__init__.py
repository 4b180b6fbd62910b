"""Pydantic AI (``pydantic-ai-slim``, import ``pydantic_ai``): its own OpenTelemetry spans, turned on and sent to the agent.

``pydantic_ai.py`` holds ``pydantic_ai_patcher``; ``native.py`` the Pydantic AI
instrumentation settings the agent gives the app's agents; ``tracer.py`` the tracer those
settings hold (``error.type`` on failed spans, redaction, conventional messages);
``content.py`` the messages in the conventions' schema; ``model_call.py`` the
one-model-call rule around Pydantic AI's ``chat`` span; ``extract.py`` what those spans and
errors say in the agent's terms; ``credentials.py`` the keys a model's client holds.
``streaming.py`` is empty (Pydantic AI's own span follows its streams).
"""

from .pydantic_ai import pydantic_ai_patcher

__all__ = ["pydantic_ai_patcher"]
