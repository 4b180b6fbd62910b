"""LiteLLM (``litellm`` >= 1.104, < 2): one CLIENT span per model call, whatever the route.

Patched, sync and async, in the modules that define them (``litellm/__init__`` star-imports
them at its end, so the package attributes are these very functions):

* ``completion`` / ``acompletion`` in ``litellm.chat_completions.dispatch`` (operation
  ``chat``; ``stream=True`` returns a ``CustomStreamWrapper``, proxied);
* ``embedding`` / ``aembedding`` in ``litellm.embeddings.dispatch`` (``embeddings``);
* ``responses`` / ``aresponses`` in ``litellm.responses.dispatch`` (``chat``, the Responses
  API);
* ``text_completion`` / ``atext_completion`` in ``litellm.main`` (``text_completion``).

``Router`` reads ``getattr(litellm, op)`` on every call (``router_python_host``), so Router
calls are traced through the same functions, one span per attempt. When the agent patches
after ``litellm`` finished importing (``patch(litellm=True)``), the package attributes are
re-pointed too (``_PackageNames``); a name the app imported by itself before
(``from litellm import completion``) keeps the untraced function.

**One model call, one LLM span.** LiteLLM calls the OpenAI SDK for its OpenAI and Azure
routes (Azure chat and embeddings, OpenAI text completions and embeddings with
``encoding_format`` through ``with_raw_response.create``, which the OpenAI instrumentation
patches; OpenAI chat through ``client.post``, which it does not). The LiteLLM span owns the
model call (``GenAISpec.owns_model_call``): SDK spans started inside it step aside
(``weave_agent.tracing.calls.MODEL_CALL_OWNED``), so exactly one span carries
``gen_ai.usage.*`` on every route. A LiteLLM function calling another one
(``completion(acompletion=True)``, ``atext_completion`` running ``text_completion`` in an
executor) makes no second span for the same reason.

**LiteLLM's own OpenTelemetry.** With an OpenTelemetry callback on
(``litellm.callbacks = ["otel"]``, ``arize_phoenix``, ``langfuse_otel``, ``weave_otel``, or
an ``OpenTelemetry`` logger instance), LiteLLM makes its own span for each call: the agent
adds none (one debug line per process) and SDK spans inside stay off as well.

**The model price map.** ``import litellm`` fetches its price map from the network unless
``LITELLM_LOCAL_MODEL_COST_MAP=True``; the agent neither sets nor clears it, and imports
nothing of LiteLLM that the app's own import did not.
"""

from __future__ import annotations

import sys
from typing import Any

import wrapt
from opentelemetry import context as otel_context

from weave_agent import _log
from weave_agent.genai import Extractor, GenAISpec
from weave_agent.patcher import ModulePatcher, MultiPatcher, Patcher, SymbolPatcher
from weave_agent.streams import Accumulator
from weave_agent.tracing.calls import owned_model_call, wrap_with_spec

from .extract import ChatExtractor, EmbeddingsExtractor, ResponsesExtractor, TextCompletionExtractor
from .streaming import CHAT_ACCUMULATOR, RESPONSES_ACCUMULATOR

CHAT_MODULE = "litellm.chat_completions.dispatch"
EMBEDDINGS_MODULE = "litellm.embeddings.dispatch"
RESPONSES_MODULE = "litellm.responses.dispatch"
MAIN_MODULE = "litellm.main"

# Callback names LiteLLM resolves to its OpenTelemetry logger (custom_logger_registry).
OTEL_CALLBACKS = frozenset(
    ("otel", "arize", "arize_phoenix", "langfuse_otel", "weave_otel", "langtrace", "levo", "signoz")
)
_CALLBACK_LISTS = ("callbacks", "success_callback", "_async_success_callback", "input_callback")


class LiteLLMSpec(GenAISpec):
    """A LiteLLM call: it owns its model call (SDK spans inside step aside)."""

    owns_model_call = True


def _is_otel_logger(callback: Any) -> bool:
    if isinstance(callback, str):
        return callback in OTEL_CALLBACKS
    return any(k.__name__ in ("OpenTelemetry", "OpenTelemetryV2") for k in type(callback).__mro__)


def litellm_traces() -> bool:
    """Whether LiteLLM's own OpenTelemetry callback is on (it then makes the call's span)."""
    package = sys.modules.get("litellm")
    if package is None:
        return False
    for name in _CALLBACK_LISTS:
        for callback in getattr(package, name, None) or ():
            if _is_otel_logger(callback):
                return True
    return False


def _say_litellm_traces() -> None:
    _log.debug_once(
        "litellm-otel-callback",
        "litellm: LiteLLM's own OpenTelemetry callback is on (litellm.callbacks); its calls are not traced by "
        "the agent, and SDK spans inside them stay off: one model call, one LLM span",
    )


async def _await_owned(coro: Any) -> Any:
    token = owned_model_call()
    try:
        return await coro
    finally:
        otel_context.detach(token)


def _dispatch(traced: Any, is_async: bool) -> Any:
    """A ``wrapt`` wrapper: the traced function, unless LiteLLM traces the call itself."""

    def dispatch(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        try:
            own = litellm_traces()
        except Exception:
            own = False
        if not own:
            return traced(*args, **kwargs)
        _say_litellm_traces()
        if is_async:
            return _await_owned(wrapped(*args, **kwargs))
        token = owned_model_call()
        try:
            return wrapped(*args, **kwargs)
        finally:
            otel_context.detach(token)

    return dispatch


def _traced(extractor: Extractor, accumulator: Accumulator | None, is_async: bool, name: str) -> Any:
    spec = LiteLLMSpec(extractor, accumulator)

    def make(original: Any) -> Any:
        outer = wrapt.FunctionWrapper(original, _dispatch(wrap_with_spec(original, spec), is_async))
        outer._self_weave_spec = spec  # type: ignore[attr-defined]  # for introspection and the benchmark
        _originals[name] = (original, outer)
        return outer

    return make


# name -> (the original function, what the agent set in its defining module)
_originals: dict[str, tuple[Any, Any]] = {}


class _PackageNames(Patcher):
    """``litellm.<name>`` for each patched function, once ``litellm`` has finished importing.

    Patched while ``litellm/__init__`` runs (the usual case: a trigger is imported from it),
    its closing star-imports copy the wrappers themselves and there is nothing to do here.
    Patched later, the package still holds the originals: point them at the wrappers.
    ``undo_patch`` puts back every original the package holds a wrapper of."""

    def attempt_patch(self) -> bool:
        package = sys.modules.get("litellm")
        spec = getattr(package, "__spec__", None)
        if package is None or getattr(spec, "_initializing", False):
            return True
        for name, (original, new) in _originals.items():
            if vars(package).get(name) is original:
                setattr(package, name, new)
        return True

    def undo_patch(self) -> bool:
        package = sys.modules.get("litellm")
        if package is not None:
            for name, (original, new) in _originals.items():
                if vars(package).get(name) is new:
                    setattr(package, name, original)
        return True

    def __repr__(self) -> str:
        return "_PackageNames(litellm)"


def _module_patcher(module: str, targets: list[tuple[str, Extractor, Accumulator | None, bool]]) -> ModulePatcher:
    def make(mod: Any) -> list[SymbolPatcher]:
        return [
            SymbolPatcher(lambda: mod, name, _traced(extractor, acc, is_async, name))
            for name, extractor, acc, is_async in targets
        ]

    return ModulePatcher(module, make)


def _patchers() -> list[Patcher]:
    def both(cls: Any) -> tuple[Extractor, Extractor]:
        return cls(), cls(is_async=True)

    chat, achat = both(ChatExtractor)
    text, atext = both(TextCompletionExtractor)
    embeddings, aembeddings = both(EmbeddingsExtractor)
    responses, aresponses = both(ResponsesExtractor)
    return [
        _module_patcher(
            CHAT_MODULE,
            [("completion", chat, CHAT_ACCUMULATOR, False), ("acompletion", achat, CHAT_ACCUMULATOR, True)],
        ),
        _module_patcher(
            EMBEDDINGS_MODULE, [("embedding", embeddings, None, False), ("aembedding", aembeddings, None, True)]
        ),
        _module_patcher(
            RESPONSES_MODULE,
            [
                ("responses", responses, RESPONSES_ACCUMULATOR, False),
                ("aresponses", aresponses, RESPONSES_ACCUMULATOR, True),
            ],
        ),
        _module_patcher(
            MAIN_MODULE,
            [("text_completion", text, CHAT_ACCUMULATOR, False), ("atext_completion", atext, CHAT_ACCUMULATOR, True)],
        ),
        _PackageNames(),
    ]


litellm_patcher = MultiPatcher(_patchers())
