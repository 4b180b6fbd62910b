"""Cohere SDK (``cohere`` >= 5.12, < 8, Fern-generated, on httpx): what its calls say, in GenAI terms.

Patched, sync and async (one span per public call, provider ``cohere``; ``aws.bedrock``
for the Bedrock clients):

* v2, ``V2Client`` / ``AsyncV2Client`` in ``cohere.v2.client`` (what ``ClientV2``,
  ``AsyncClientV2`` and ``Client().v2`` resolve to): ``chat`` and ``chat_stream``
  (operation ``chat``), ``embed`` (``embeddings``), ``rerank`` (no GenAI operation: an
  INTERNAL span ``rerank {model}`` with ``cohere.rerank.*`` attributes);
* v1, ``BaseCohere`` / ``AsyncBaseCohere`` in ``cohere.base_client`` (``Client``,
  ``AsyncClient``): ``chat``, ``chat_stream``, ``embed`` (one HTTP call each) and ``rerank``;
* ``Client.embed`` in ``cohere.client``: not a span (it calls ``BaseCohere.embed`` once per
  batch of 96 texts, each its own span), but its thread pool is made to carry the caller's
  context into the batches (``thread_pool.py``), so each batch's span stays in the trace.

``chat_stream`` is a generator function (sync) and an async-generator function (async:
no ``await``, ``async for`` directly): the agent wraps both as such, and the span ends once
however the stream ends.

**The rebound ``chat``.** ``Client.__init__`` (and so ``ClientV2``'s) stores
``self.chat = experimental_kwarg_decorator(validate_args(...)(self.chat))`` and the same
for ``chat_stream``: a closure over the *bound method resolved when the client was built*.
A client built after the patch holds the traced method; one built before it (a
programmatic ``weave_agent.patch()`` after the client exists) holds the original, and its
``chat``/``chat_stream`` are not traced (its ``embed``/``rerank`` are). Under ``weave-run``
the patch is applied when ``cohere.v2.client``/``cohere.base_client`` is imported, before
any client class exists. The other way round, a client built while patched keeps the
traced method after ``unpatch()``: each traced method checks, per call, that it is still
the class's attribute, and otherwise calls what the class holds now (the original after
``unpatch``, a newer traced method after a re-patch): no span after ``unpatch``.

Retries: the SDK retries 429, 408, 409 and 5xx (twice by default) inside the one public
call: one span per public call, covering its retries (the guide's rule: SDK retries stay
inside the one span); ``error.type`` is the last attempt's HTTP status.

Errors: ``error.type`` is the HTTP status (``"400"``, ``"401"``, ``"429"``) when the
exception carries ``status_code`` (``cohere.core.ApiError`` and its subclasses), else
the exception's class name.

Cohere's SDK sends nothing on its own (no telemetry; ``tokenize``'s tokenizer download is
not on these paths, and the agent adds no request).
"""

from __future__ import annotations

from typing import Any

import wrapt

from weave_agent.genai import GenAISpec
from weave_agent.patcher import ModulePatcher, MultiPatcher, SymbolPatcher
from weave_agent.streams import Accumulator
from weave_agent.tracing.calls import OpSpec, wrap_with_spec

from .extract import ChatExtractor, EmbedExtractor, RerankSpec, V1ChatExtractor
from .streaming import V1_STREAM_ACCUMULATOR, V2_STREAM_ACCUMULATOR
from .thread_pool import carry_context

V2_MODULE = "cohere.v2.client"
V1_MODULE = "cohere.base_client"
CLIENT_MODULE = "cohere.client"
TRIGGERS = (V2_MODULE, V1_MODULE, CLIENT_MODULE)  # the registry row's triggers (a test keeps them equal)


def _traced(owner: type, attr: str, spec: OpSpec) -> Any:
    """``make_new_value``: the method traced by ``spec``, calling through once it is no longer
    ``owner``'s attribute (a client's rebound ``chat`` outlives an ``unpatch``)."""

    def make(original: Any) -> Any:
        traced = wrap_with_spec(original, spec)
        cell: list[Any] = []

        def dispatch(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            current = vars(owner).get(attr)
            if current is not cell[0]:  # unpatched (or patched again) since this was stored
                if current is None or instance is None:
                    return wrapped(*args, **kwargs)
                return current.__get__(instance, type(instance))(*args, **kwargs)
            if instance is None:
                return traced(*args, **kwargs)
            return traced.__get__(instance, type(instance))(*args, **kwargs)

        outer = wrapt.FunctionWrapper(original, dispatch)
        outer._self_weave_spec = spec  # type: ignore[attr-defined]  # for introspection and tests
        cell.append(outer)
        return outer

    return make


def _carrying_context(original: Any) -> Any:
    """``Client.embed``: its executor carries the caller's context into the batches."""

    def embed(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        if instance is not None:
            try:
                carry_context(instance)
            except Exception:  # never fail the app's call
                pass
        return wrapped(*args, **kwargs)

    return wrapt.FunctionWrapper(original, embed)


class Group:
    """The methods of one class, patched together when the module defining it is imported."""

    def __init__(self, cls: str, methods: tuple[tuple[str, Any], ...]) -> None:
        self.cls = cls
        self.methods = methods  # (method name, make_spec())

    def patchers(self, module: Any) -> list[SymbolPatcher]:
        owner = getattr(module, self.cls)
        return [
            SymbolPatcher(lambda: module, "%s.%s" % (self.cls, name), _traced(owner, name, make_spec()))
            for name, make_spec in self.methods
        ]

    def missing(self, module: Any) -> list[str]:
        owner = getattr(module, self.cls, None)
        if not isinstance(owner, type):
            return ["%s.%s" % (module.__name__, self.cls)]
        return ["%s.%s.%s" % (module.__name__, self.cls, m) for m, _ in self.methods if not callable(vars(owner).get(m))]


def _genai(extractor: Any, accumulator: Accumulator | None = None) -> Any:
    return lambda: GenAISpec(extractor, accumulator)


_V2_METHODS = (
    ("chat", _genai(ChatExtractor(False))),
    ("chat_stream", _genai(ChatExtractor(True), V2_STREAM_ACCUMULATOR)),
    ("embed", _genai(EmbedExtractor())),
    ("rerank", RerankSpec),
)
_V1_METHODS = (
    ("chat", _genai(V1ChatExtractor(False))),
    ("chat_stream", _genai(V1ChatExtractor(True), V1_STREAM_ACCUMULATOR)),
    ("embed", _genai(EmbedExtractor())),
    ("rerank", RerankSpec),
)
V2_GROUPS = (Group("V2Client", _V2_METHODS), Group("AsyncV2Client", _V2_METHODS))
V1_GROUPS = (Group("BaseCohere", _V1_METHODS), Group("AsyncBaseCohere", _V1_METHODS))


def _module_patcher(name: str, groups: tuple[Group, ...]) -> ModulePatcher:
    def make(module: Any) -> list[SymbolPatcher]:
        return [p for g in groups for p in g.patchers(module)]

    def missing(module: Any) -> list[str]:
        return [m for g in groups for m in g.missing(module)]

    return ModulePatcher(name, make, missing)


def _client_patchers(module: Any) -> list[SymbolPatcher]:
    return [SymbolPatcher(lambda: module, "Client.embed", _carrying_context)]


def _client_missing(module: Any) -> list[str]:
    owner = getattr(module, "Client", None)
    return [] if isinstance(owner, type) and callable(vars(owner).get("embed")) else ["cohere.client.Client.embed"]


# Each module is patched when it is imported (``cohere/__init__`` is lazy: ``import cohere``
# loads none of them; ``cohere.ClientV2`` loads all three).
cohere_patcher = MultiPatcher(
    [
        _module_patcher(V2_MODULE, V2_GROUPS),
        _module_patcher(V1_MODULE, V1_GROUPS),
        ModulePatcher(CLIENT_MODULE, _client_patchers, _client_missing),
    ]
)
