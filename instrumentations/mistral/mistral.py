"""Mistral SDK (``mistralai`` >= 2, < 4): what its requests and responses say, in GenAI terms.

Patched, sync and async (one CLIENT span per model call, provider ``mistral_ai``):

* ``Chat.complete`` / ``stream`` (+ ``_async``) in ``mistralai.client.chat`` (operation
  ``chat``). ``parse``/``parse_async``/``parse_stream``/``parse_stream_async`` are *not*
  patched: they call ``self.complete``/``self.stream``, which make the one span;
* ``Fim.complete`` / ``stream`` (+ ``_async``) in ``mistralai.client.fim`` (operation
  ``text_completion``);
* ``Embeddings.create`` (+ ``_async``) in ``mistralai.client.embeddings`` (operation
  ``embeddings``);
* the Azure AI client's ``Chat`` (``mistralai.azure.client.chat``) and the Vertex AI
  client's ``Chat`` and ``Fim`` (``mistralai.gcp.client.chat``/``.fim``): same shapes, the
  provider stays ``mistral_ai``, ``server.address`` is the deployment's host.

``mistralai`` is a namespace package (no ``__init__``) whose clients load ``chat``,
``fim`` and ``embeddings`` lazily, on first ``client.chat``: the registry triggers are
those defining modules (so ``mistralai.client.Mistral`` and ``mistralai.client.sdk.Mistral``
are the same thing to the agent), and each class is patched when its own module is
imported (a ``ModulePatcher`` each), never by importing the others.

``server.address``/``server.port`` come from the URL the call goes to: its
``server_url=`` argument, else the client's ``sdk_configuration`` (``server_url`` or the
named ``server``: ``api.mistral.ai`` by default).

Streams: ``stream()`` returns an ``EventStream`` (iterator and context manager),
``stream_async()`` a coroutine giving an ``EventStreamAsync``; the agent's proxies keep
``isinstance`` and end the span once, however the stream ends. ``streaming.py`` rebuilds
the completion from the events. A completion whose choice finished with
``finish_reason == "error"`` (Mistral's only in-stream error signal: the SDK raises
nothing) is recorded as a failed call: status ERROR, ``error.type`` ``finish_reason_error``,
and what was produced before the error stays on the span.

Errors: ``error.type`` is the HTTP status (``"401"``, ``"422"``, ``"500"``) when the
exception carries ``status_code`` (``MistralError`` and its subclasses), else the
exception's class name.

The SDK's own opt-in tracer (``mistralai.extra.observability``: ``MISTRAL_SDK_TELEMETRY``
or ``configure_telemetry(client, ...)``) makes its own LLM span for each call. When it will
trace a client's call, the agent calls through untraced (one model call, one LLM span) and
says so in one debug line. The decision mirrors the SDK's: a client configured by
``configure_telemetry``, or ``MISTRAL_SDK_TELEMETRY=global``, or ``=dedicated`` while no
real global ``TracerProvider`` is registered (with one, the SDK declines its dedicated
provider and makes no span, so the agent traces). Before mistralai 2.4.8 the SDK's tracer
was not opt-in: it traces every call while a real global ``TracerProvider`` is registered,
and the agent then steps aside the same way.
"""

from __future__ import annotations

import os
from typing import Any

import wrapt

from weave_agent import _log
from weave_agent.genai import Extractor
from weave_agent.patcher import ModulePatcher, MultiPatcher, SymbolPatcher
from weave_agent.streams import Accumulator
from weave_agent.tracing.calls import wrap_with_spec

from .extract import ChatExtractor, EmbeddingsExtractor, FimExtractor, MistralSpec
from .streaming import STREAM_ACCUMULATOR

CHAT_MODULE = "mistralai.client.chat"
FIM_MODULE = "mistralai.client.fim"
EMBEDDINGS_MODULE = "mistralai.client.embeddings"
AZURE_CHAT_MODULE = "mistralai.azure.client.chat"
GCP_CHAT_MODULE = "mistralai.gcp.client.chat"
GCP_FIM_MODULE = "mistralai.gcp.client.fim"


SDK_TELEMETRY_ENV = "MISTRAL_SDK_TELEMETRY"


# --- the SDK's own tracer: one model call, one LLM span ------------------------------------


def _has_real_global_provider() -> bool:
    from opentelemetry import trace

    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def _sdk_tracer_is_opt_in() -> bool:
    """mistralai 2.4.8 made its tracer opt-in (``configure_telemetry``, ``MISTRAL_SDK_TELEMETRY``).
    Before it, the tracing hook makes a span for every request whenever a real global
    ``TracerProvider`` is registered: an app with its own provider would get two spans."""
    import sys

    observability = sys.modules.get("mistralai.extra.observability")
    return observability is None or hasattr(observability, "configure_telemetry")


def sdk_traces(instance: Any) -> bool:
    """Whether the SDK's own tracer will make a span for this resource's call."""
    config = getattr(instance, "sdk_configuration", None)
    hooks = getattr(config, "_hooks", None)
    if hooks is None:
        return False
    hook = None
    for h in getattr(hooks, "before_request_hooks", None) or ():
        if type(h).__name__ == "TracingHook":
            hook = h
            break
    if hook is None:
        return False
    if not _sdk_tracer_is_opt_in():
        return _has_real_global_provider()  # what the hook checks on every request
    # Already decided for this client (configure_telemetry, or an earlier request).
    if getattr(hook, "tracer_provider", None) is not None or getattr(hook, "_telemetry_use_global_provider", False):
        return True
    if getattr(hook, "_telemetry_auto_disabled", False):
        return False
    # Not decided yet: what the SDK's first request will decide.
    setting = getattr(config, "telemetry", None)
    if isinstance(setting, bool):
        return setting
    from_env = not isinstance(setting, str)
    raw = os.environ.get(SDK_TELEMETRY_ENV, "") if from_env else setting
    mode = str(raw).strip().lower()
    if mode == "global":
        return True
    if mode == "dedicated":
        # From the environment, the SDK declines its dedicated provider when a real global
        # provider is registered (it makes no span then).
        return not (from_env and _has_real_global_provider())
    return False


def _untraced_or(traced: Any) -> Any:
    """A ``wrapt`` wrapper that calls ``traced`` unless the SDK traces the call itself."""

    def dispatch(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        try:
            own = instance is not None and sdk_traces(instance)
        except Exception:
            own = False
        if own:
            _log.debug_once(
                "mistral-sdk-telemetry",
                "mistral: the Mistral SDK's own tracer is on for this client (%s, configure_telemetry, or before "
                "mistralai 2.4.8 a global TracerProvider); "
                "its calls are not traced by the agent: one model call, one LLM span",
                SDK_TELEMETRY_ENV,
            )
            return wrapped(*args, **kwargs)
        if instance is None:
            return traced(*args, **kwargs)
        return traced.__get__(instance, type(instance))(*args, **kwargs)

    return dispatch


# --- the patcher ---------------------------------------------------------------------------


_COMPLETION_METHODS = ("complete", "complete_async", "stream", "stream_async")


def _traced(extractor: Extractor, accumulator: Accumulator | None) -> Any:
    """``make_new_value``: the SDK method traced by a ``MistralSpec``, unless the SDK traces it."""
    spec = MistralSpec(extractor, accumulator)

    def make(original: Any) -> Any:
        traced = wrap_with_spec(original, spec)
        outer = wrapt.FunctionWrapper(original, _untraced_or(traced))
        outer._self_weave_spec = spec  # type: ignore[attr-defined]  # for introspection and tests
        return outer

    return make


class Group:
    """The methods of one class, patched together when the module defining it is imported."""

    def __init__(self, module: str, cls: str, methods: tuple[str, ...], kind: str, default_model: str | None = None):
        self.module = module
        self.cls = cls
        self.methods = methods
        self.kind = kind  # "chat", "fim" or "embeddings"
        self.default_model = default_model  # what the SDK sends when no model is given

    def patchers(self, module: Any) -> list[SymbolPatcher]:
        """Patchers for the methods of ``module`` (the imported module object: no import here,
        so nothing takes the import lock while the patcher's lock is held)."""
        whole: Extractor
        streamed: Extractor | None = None
        if self.kind == "embeddings":
            whole = EmbeddingsExtractor(default_model=self.default_model)
        else:
            cls = ChatExtractor if self.kind == "chat" else FimExtractor
            whole, streamed = cls(False, self.default_model), cls(True, self.default_model)
        out = []
        for method in self.methods:
            extractor = streamed if method.startswith("stream") and streamed is not None else whole
            out.append(
                SymbolPatcher(
                    lambda: module,
                    "%s.%s" % (self.cls, method),
                    _traced(extractor, STREAM_ACCUMULATOR if extractor is streamed else None),
                )
            )
        return out

    def missing(self, module: Any) -> list[str]:
        owner = getattr(module, self.cls, None)
        if not isinstance(owner, type):
            return ["%s.%s" % (self.module, self.cls)]
        return ["%s.%s.%s" % (self.module, self.cls, m) for m in self.methods if not callable(vars(owner).get(m))]


GROUPS = (
    Group(CHAT_MODULE, "Chat", _COMPLETION_METHODS, "chat"),
    Group(FIM_MODULE, "Fim", _COMPLETION_METHODS, "fim"),
    Group(EMBEDDINGS_MODULE, "Embeddings", ("create", "create_async"), "embeddings"),
    # Azure AI and Vertex AI clients: same shapes, their own classes; provider stays mistral_ai.
    Group(AZURE_CHAT_MODULE, "Chat", _COMPLETION_METHODS, "chat", default_model="azureai"),
    Group(GCP_CHAT_MODULE, "Chat", _COMPLETION_METHODS, "chat"),
    Group(GCP_FIM_MODULE, "Fim", _COMPLETION_METHODS, "fim"),
)
TRIGGERS = tuple(g.module for g in GROUPS)  # the registry row's triggers (a test keeps them equal)


# Each group is patched when its own module is imported: the SDK loads chat, fim,
# embeddings (and the Azure/GCP clients: ~0.15 s for GCP alone) lazily, and so do we.
mistral_patcher = MultiPatcher([ModulePatcher(g.module, g.patchers, g.missing) for g in GROUPS])
