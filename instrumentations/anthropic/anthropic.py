"""Anthropic SDK (``anthropic`` >= 2, < 3): what its requests and responses say, in GenAI terms.

Patched, sync and async, one span per model call (``chat {model}``, CLIENT):

* ``Messages.create`` / ``AsyncMessages.create`` in ``anthropic.resources.messages.messages``
  (plain, and ``stream=True``: the returned ``Stream``/``AsyncStream`` is proxied and its
  events rebuilt into the output: text, thinking, tool_use input from ``input_json_delta``);
* ``Messages.stream`` (the context-manager helper). It does not call ``create``: it builds
  the request and the manager sends it on ``__enter__``/``__aenter__``. The span starts when
  ``stream()`` is called and ends when the manager exits (or when the events are read to
  the end through the entered stream). Its output is read from the entered
  ``MessageStream``'s own snapshot, because ``text_stream``/``until_done()``/
  ``get_final_message()`` read the SDK's inner iterator, not our proxy;
* ``Messages.parse`` (posts by itself, never streams);
* the same three in ``anthropic.resources.beta.messages.messages``, and the beta
  ``Messages`` classes of Bedrock and Vertex, which copy the first-party functions into
  their own class bodies.

``AnthropicBedrock``/``AnthropicVertex`` use the first-party ``Messages``; the provider name
comes from the client (``aws.bedrock``, ``gcp.vertex_ai``, else ``anthropic``) and
``server.address``/``server.port`` from its ``base_url``.

The SDK's own OpenTelemetry spans (``anthropic._tracing``, scope ``com.anthropic.sdk.python``,
on by default whenever a TracerProvider exists). One model call must make one LLM span:

* the client's construction is observed (``BaseClient._set_open_telemetry``, and
  ``_copy_open_telemetry`` so that ``with_options`` copies inherit it): a client *chose*
  the SDK's tracing when it was given an ``open_telemetry`` option, or when the
  environment had ``ANTHROPIC_OPEN_TELEMETRY`` (or ``..._TRACES_CONTENT_MODE``) at
  construction;
* on each call the wrapper reads the client's resolved option. SDK spans off: the agent
  traces. On and chosen: the wrapper calls through untraced (one debug line per process),
  having set the agent's pipeline up so that the SDK's spans reach its TracerProvider.
  On and not chosen: the agent switches them off on that client in place (its private
  ``_set_open_telemetry`` with ``traces.enabled = False``, everything else, such as
  ``propagation``, kept) and traces the call itself.

A client built before the agent patched (no construction record) counts as having chosen
when the environment variable is set or its option differs from the defaults in a
tracing field (``tracer_provider``, ``conversation_id``, ``content_mode=content``).

Errors: ``error.type`` is the HTTP status (``"400"``, ``"529"``) when the exception has one,
the API's error type for an ``error`` event inside a 200 stream (``"overloaded_error"``),
else the class name. An SDK error leaving a ``stream()`` block (read through
``text_stream``, which bypasses our proxy) makes the span an ERROR too; an app's own
exception there does not. Raw responses (``with_raw_response``) are the app's to read: their
span has the request attributes only.

An SDK whose ``Messages``/``AsyncMessages`` lack ``create`` or ``stream`` is declined with
one debug line; optional targets that are missing are listed in one debug line.
Per call the extractors read attributes (no ``model_dump``); content is built only when
capture is on; image and document bytes never leave (placeholders with type and size).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import wrapt

from weave_agent import _log
from weave_agent.patcher import MultiPatcher, SymbolPatcher
from weave_agent.tracing.calls import wrap_with_spec

from .extract import MessagesExtractor, _Spec
from .self_tracing import _copy_open_telemetry_hook, _set_open_telemetry_hook, _traced
from .streaming import _HELPER_STREAM, _RAW_STREAM, _State

MESSAGES_MODULE = "anthropic.resources.messages.messages"
BETA_MODULE = "anthropic.resources.beta.messages.messages"
BASE_CLIENT_MODULE = "anthropic._base_client"
PLATFORM_BETA_MODULES = ("anthropic.lib.bedrock._beta_messages", "anthropic.lib.vertex._beta_messages")


# --- the patcher ---------------------------------------------------------------------------


def _make(method: str, is_async: bool) -> Any:
    """``make_new_value``: the SDK method behind a gate that decides, per call, whether the
    agent records it (see the module docstring)."""
    accumulator = {"create": _RAW_STREAM, "stream": _HELPER_STREAM}.get(method)
    spec = _Spec(MessagesExtractor(method), accumulator)
    spec.name = "anthropic.messages." + method

    def make(original: Any) -> Any:
        parent = getattr(original, "_self_parent", None)
        if parent is not None and getattr(parent, "_self_weave_gate", False):
            return original  # a class body copied our wrapper while we were patched
        # (``async def`` under the SDK's synchronous ``required_args`` decorator needs
        # nothing here: op traces the coroutine such a call returns until it completes.)
        traced = wrap_with_spec(original, spec)._self_wrapper

        def gate(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            if instance is None or not _traced(instance):
                return wrapped(*args, **kwargs)
            return traced(wrapped, instance, args, kwargs)

        new = wrapt.FunctionWrapper(original, gate)
        new._self_weave_spec = spec  # type: ignore[attr-defined]
        # Marks the wrapper as ours on the wrapper itself (a copy made by a class body is
        # recognised through its parent): a registry of them would grow with every patch.
        new._self_weave_gate = True  # type: ignore[attr-defined]
        return new

    return make


class _Target:
    __slots__ = ("module", "path", "patcher", "required", "imports")

    def __init__(self, module: str, path: str, make: Any, required: bool, imports: bool = True) -> None:
        self.module = module
        self.path = path
        self.required = required
        # A module we do not import ourselves is patched only if already imported (if it is
        # imported later, its class body copies the patched first-party functions).
        self.imports = imports
        self.patcher = SymbolPatcher(lambda: importlib.import_module(module), path, make)

    def present(self) -> bool | None:
        """True/False; None for a module we do not import that is not (fully) imported yet."""
        if not self.imports:
            module = sys.modules.get(self.module)
            if module is None or getattr(getattr(module, "__spec__", None), "_initializing", False):
                return None
        try:
            obj: Any = importlib.import_module(self.module)
            for part in self.path.split("."):
                obj = getattr(obj, sys.intern(part))  # a fresh name would stay in the type cache
        except Exception:
            return False
        return True

    def __repr__(self) -> str:
        return "%s.%s" % (self.module, self.path)


class AnthropicPatcher(MultiPatcher):
    """Every target, required or optional. Declines (one debug line) when a required one is
    missing; patches the optional ones that exist and lists the others in one debug line."""

    def __init__(self, targets: list[_Target]) -> None:
        super().__init__([t.patcher for t in targets])
        self.targets = targets

    def attempt_patch(self) -> bool:
        present = [(t, t.present()) for t in self.targets]
        missing = [t for t, ok in present if t.required and ok is not True]
        if missing:
            _log.debug("anthropic: unknown SDK structure (missing %s): not patched", ", ".join(map(repr, missing)))
            return False
        ok = True
        skipped = []
        for target, exists in present:
            if not exists:
                if exists is False:
                    skipped.append(repr(target))
                continue
            try:
                ok = target.patcher.attempt_patch() and ok
            except Exception:
                _log.error_once("patch:%r" % (target,), "anthropic: patching %r raised", target)
                ok = False
        if skipped:
            _log.debug("anthropic: not in this SDK version, left unpatched: %s", ", ".join(skipped))
        _State.active = True
        return ok

    def undo_patch(self) -> bool:
        _State.active = False
        ok = True
        for target in reversed(self.targets):
            if not target.patcher.patched:
                continue
            try:
                ok = target.patcher.undo_patch() and ok
            except Exception:
                _log.error_once("undo:%r" % (target,), "anthropic: undoing %r raised", target)
                ok = False
        return ok


def _targets() -> list[_Target]:
    targets = []
    for module, required in ((MESSAGES_MODULE, True), (BETA_MODULE, False)):
        for cls, is_async in (("Messages", False), ("AsyncMessages", True)):
            for method in ("create", "stream", "parse"):
                needed = required and method != "parse"
                targets.append(_Target(module, "%s.%s" % (cls, method), _make(method, is_async), needed))
    for module in PLATFORM_BETA_MODULES:
        for cls, is_async in (("Messages", False), ("AsyncMessages", True)):
            for method in ("create", "stream", "parse"):
                targets.append(_Target(module, "%s.%s" % (cls, method), _make(method, is_async), False, False))
    targets.append(_Target(BASE_CLIENT_MODULE, "BaseClient._set_open_telemetry", _set_open_telemetry_hook, False))
    targets.append(_Target(BASE_CLIENT_MODULE, "BaseClient._copy_open_telemetry", _copy_open_telemetry_hook, False))
    return targets


anthropic_patcher = AnthropicPatcher(_targets())
