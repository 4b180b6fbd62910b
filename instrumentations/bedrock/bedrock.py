"""AWS Bedrock through botocore (``botocore`` >= 1.32, < 2; boto3 calls it; Converse from 1.34.116).

botocore builds each client's methods at run time from the service's JSON model, so there
is no ``converse`` function to patch: every operation of every AWS client goes through
``botocore.client.BaseClient._make_api_call(self, operation_name, api_params)``, defined in
``botocore.client`` (the registry's trigger; ``import boto3`` imports it). That one method
is patched, and acts only for these operations of ``bedrock-runtime`` (one CLIENT span
each, provider ``aws.bedrock``):

* ``Converse`` / ``ConverseStream`` (span ``chat {modelId}``);
* ``InvokeModel`` / ``InvokeModelWithResponseStream``: the body's model family
  (``families.py``) decides the operation: ``chat`` for message-shaped bodies,
  ``text_completion`` for a bare prompt, ``embeddings`` for Titan and Cohere Embed;
* ``InvokeAgent`` of ``bedrock-agent-runtime``: one ``invoke_agent`` span (agent id,
  session as conversation id), ended with its ``completion`` stream, with the usage its
  ``trace`` events report.

**Every other AWS call** (S3, DynamoDB, ...) costs the ``wrapt`` wrapper's call and one dict
lookup of its operation name before botocore's own code runs (``bench/bedrock_other_calls.py``
measures it). The service name is compared only for these four operation names.

``InvokeModel`` answers ``{"body": StreamingBody}``, which the app reads once. The agent
reads it inside the call (the span's duration then covers the whole answer, as it does for
every other SDK) and hands the app a new ``StreamingBody`` over the very same bytes (same
length, same ``read``/``iter_lines``/``iter_chunks``). A read that fails gives the app a
body whose ``read`` raises that same exception.

Streams: ``ConverseStream`` answers ``{"stream": EventStream}``,
``InvokeModelWithResponseStream`` ``{"body": EventStream}``; the dict keeps its place and
the ``EventStream`` in it becomes the agent's proxy (``isinstance`` holds; iteration,
``close()`` and ``get_initial_response()`` are the SDK's), which ends the span once however
the stream ends, with the ``metadata`` event's usage (Converse) or Bedrock's
``amazon-bedrock-invocationMetrics`` (InvokeModel).

``AnthropicBedrock`` (``anthropic[bedrock]``) signs with botocore but sends with httpx: it
never calls ``_make_api_call``, so its calls get the anthropic instrumentation's span only.
"""

from __future__ import annotations

import io
from typing import Any

import wrapt

from weave_agent import _log
from weave_agent.genai import GenAISpec
from weave_agent.patcher import ModulePatcher, MultiPatcher, SymbolPatcher
from weave_agent.tracing.calls import wrap_with_spec

from . import families
from .extract import BODIES, MAX_PARSED_BODY, AgentExtractor, ConverseExtractor, InvokeExtractor
from .streaming import AGENT_ACCUMULATOR, CONVERSE_ACCUMULATOR, INVOKE_ACCUMULATOR

CLIENT_MODULE = "botocore.client"
TRIGGERS = (CLIENT_MODULE,)
SERVICE = "bedrock-runtime"
AGENT_SERVICE = "bedrock-agent-runtime"


# --- InvokeModel's body: read once, handed back whole ----------------------------------------


class _FailedRead(io.RawIOBase):
    """The raw stream of a body whose read failed: raises that failure again."""

    def __init__(self, exc: BaseException) -> None:
        self._exc = exc

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        raise self._exc

    def readinto(self, b: Any) -> int:
        raise self._exc


def _rebuffer(result: Any) -> None:
    """Read ``result["body"]`` and put back a ``StreamingBody`` over the same bytes."""
    body = result.get("body") if isinstance(result, dict) else None
    if body is None or not hasattr(body, "read"):
        return
    from botocore.response import StreamingBody  # loaded: botocore made the body

    try:
        raw = body.read()
    except Exception as exc:
        result["body"] = StreamingBody(_FailedRead(exc), None)
        return
    try:
        body.close()  # read to the end: the connection goes back to the pool
    except Exception:
        pass
    fresh = StreamingBody(io.BytesIO(raw), len(raw))
    result["body"] = fresh
    if len(raw) <= MAX_PARSED_BODY:
        BODIES[fresh] = raw


def _call(original: Any) -> Any:
    def call(client: Any, operation_name: str, api_params: Any) -> Any:
        return original(client, operation_name, api_params)

    return call


def _invoke(original: Any) -> Any:
    # ``body`` is the request body the dispatcher already parsed: the extractor reads it
    # from the call's inputs instead of parsing it again.
    def invoke(client: Any, operation_name: str, api_params: Any, body: Any = None) -> Any:
        result = original(client, operation_name, api_params)
        _rebuffer(result)
        return result

    return invoke


def _invoke_stream(original: Any) -> Any:
    def invoke_stream(client: Any, operation_name: str, api_params: Any, body: Any = None) -> Any:
        return original(client, operation_name, api_params)

    return invoke_stream


def _request_body(api_params: Any) -> Any:
    """The JSON request body, when the app passed it as bytes or text (a file object is
    never read: it is the app's to send)."""
    body = api_params.get("body") if isinstance(api_params, dict) else None
    if isinstance(body, (bytes, bytearray, str)) and len(body) <= MAX_PARSED_BODY:
        return families.loads(body)
    return None


class _Router:
    """The traced versions of ``_make_api_call``, one per operation (and for InvokeModel,
    per model family and operation, made on first use)."""

    def __init__(self, original: Any) -> None:
        self.original = original
        self.converse_spec = GenAISpec(ConverseExtractor(False))
        self.routes = {
            "Converse": wrap_with_spec(_call(original), self.converse_spec),
            "ConverseStream": wrap_with_spec(_call(original), GenAISpec(ConverseExtractor(True),
                                                                          CONVERSE_ACCUMULATOR)),
            "InvokeModel": self.invoke,
            "InvokeModelWithResponseStream": self.invoke,
            "InvokeAgent": wrap_with_spec(_call(original), GenAISpec(AgentExtractor(), AGENT_ACCUMULATOR)),
        }
        # the service each operation belongs to (compared only once the name matched)
        self.services = dict.fromkeys(self.routes, SERVICE)
        self.services["InvokeAgent"] = AGENT_SERVICE
        self._invokers: dict[tuple[str, str, bool], Any] = {}

    def invoke(self, client: Any, operation_name: str, api_params: Any) -> Any:
        try:
            body = _request_body(api_params)
            model_id = api_params.get("modelId") if isinstance(api_params, dict) else None
            family = families.family_of(model_id, body)
            key = (family, families.operation_of(family, model_id, body), operation_name != "InvokeModel")
            traced = self._invokers.get(key)
            if traced is None:
                family, operation, streaming = key
                extractor = InvokeExtractor(family, operation, streaming)
                if streaming:
                    traced = wrap_with_spec(_invoke_stream(self.original), GenAISpec(extractor, INVOKE_ACCUMULATOR))
                else:
                    traced = wrap_with_spec(_invoke(self.original), GenAISpec(extractor))
                self._invokers[key] = traced
        except Exception:
            _log.error_once("bedrock-invoke-route", "bedrock: reading an invoke_model request failed; the call runs untraced")
            return self.original(client, operation_name, api_params)
        return traced(client, operation_name, api_params, body)


def _patched(original: Any) -> Any:
    """``make_new_value``: ``_make_api_call`` that traces the Bedrock operations only."""
    router = _Router(original)
    routes = router.routes
    services = router.services

    def dispatch(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        # botocore calls ``self._make_api_call(operation_name, api_params)``: every other
        # AWS operation stops at this dict lookup.
        name = args[0] if args else kwargs.get("operation_name")
        route = routes.get(name)
        if route is None or instance is None or instance.meta.service_model.service_name != services[name]:
            return wrapped(*args, **kwargs)
        return route(instance, *args, **kwargs)

    outer = wrapt.FunctionWrapper(original, dispatch)
    outer._self_weave_spec = router.converse_spec  # type: ignore[attr-defined]  # introspection, the benchmark
    outer._self_weave_routes = routes  # type: ignore[attr-defined]
    return outer


def _patchers(module: Any) -> list[SymbolPatcher]:
    """The patcher of ``module`` (``botocore.client``, imported: nothing is imported here)."""
    return [SymbolPatcher(lambda: module, "BaseClient._make_api_call", _patched)]


def _missing(module: Any) -> list[str]:
    owner = getattr(module, "BaseClient", None)
    if not isinstance(owner, type) or not callable(vars(owner).get("_make_api_call")):
        return ["%s.BaseClient._make_api_call" % CLIENT_MODULE]
    return []


bedrock_patcher = MultiPatcher([ModulePatcher(CLIENT_MODULE, _patchers, _missing)])
