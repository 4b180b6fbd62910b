"""Google Gen AI SDK (``google-genai`` >= 2.0, < 4): Gemini and Vertex AI calls in GenAI terms.

Patched in ``google.genai.models`` (sync ``Models`` and async ``AsyncModels``, which
``client.models``, ``client.aio.models`` and ``client.chats``/``client.aio.chats`` all
use), one CLIENT span per HTTP model call:

* ``_generate_content`` and ``_generate_content_stream`` (operation ``chat``): the private
  methods that make one ``generateContent`` / ``streamGenerateContent`` request each. The
  public ``generate_content`` runs the automatic function calling loop and the automatic
  continuation loop around them, so one public call can be several model calls: each gets
  its own span. Private names move without notice, so the registry's range admits only
  the releases the compatibility matrix passed, and a module lacking any of them is left
  unpatched with one debug line (``missing``);
* ``embed_content`` (operation ``embeddings``): one request;
* ``generate_content`` and ``generate_content_stream``, only when the call will run
  Python functions (automatic function calling): the loop's parent span, and
  ``execute_tool`` spans around ``google.genai._extra_utils.invoke_function_from_dict_args``
  and ``..._async`` (``afc.py``). Any other call is passed straight through.

Provider ``gcp.vertex_ai`` when the client was made with ``vertexai=True`` (or
``GOOGLE_GENAI_USE_VERTEXAI``), else ``gcp.gemini``; ``server.address``/``server.port``
from the client's base URL (``generativelanguage.googleapis.com``,
``aiplatform.googleapis.com``, ``{location}-aiplatform.googleapis.com``, a custom one).

``google`` is a namespace package shared by many distributions: the registry triggers on
``google.genai.models``, the module defining what is patched, whichever way the app
imports it (``from google import genai``, ``import google.genai``).

Streams: the sync ``_generate_content_stream`` is a generator function (no request before
the first ``next``); the agent's generator proxy runs each step under the call's span and
ends it once (exhausted, closed, error, collected). The async one is a coroutine that sends
the request and returns an async generator, proxied the same way. The app iterates the
SDK's own outer generator, unchanged. Errors: ``error.type`` is the HTTP status of
``google.genai.errors.APIError`` (``"400"``, ``"429"``, ``"500"``), else the class name.
"""

from __future__ import annotations

from typing import Any

import wrapt

from weave_agent.genai import Extractor, genai_op
from weave_agent.patcher import ModulePatcher, MultiPatcher, SymbolPatcher
from weave_agent.streams import Accumulator
from weave_agent.tracing.calls import wrap_with_spec

from .afc import LoopSpec, ToolSpec, afc_wanted
from .extract import EmbedContentExtractor, GenerateContentExtractor
from .streaming import STREAM_ACCUMULATOR

MODELS_MODULE = "google.genai.models"
EXTRA_UTILS_MODULE = "google.genai._extra_utils"
CLASSES = ("Models", "AsyncModels")
PER_REQUEST = ("_generate_content", "_generate_content_stream", "embed_content")
LOOPS = ("generate_content", "generate_content_stream")
TOOL_FUNCTIONS = ("invoke_function_from_dict_args", "invoke_function_from_dict_args_async")
TRIGGERS = (MODELS_MODULE,)  # the registry row's triggers (a test keeps them equal)


def _when_afc(original: Any) -> Any:
    """``make_new_value`` for the public loops: traced by ``LoopSpec`` only for a call that
    will run Python functions; any other call goes straight to the SDK."""
    traced = wrap_with_spec(original, LoopSpec())

    def dispatch(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        try:
            wanted = afc_wanted(kwargs.get("config"))
        except Exception:
            wanted = False
        if not wanted:
            return wrapped(*args, **kwargs)
        if instance is None:
            return traced(*args, **kwargs)
        return traced.__get__(instance, type(instance))(*args, **kwargs)

    return wrapt.FunctionWrapper(original, dispatch)


def _models_patchers(module: Any) -> list[SymbolPatcher]:
    targets: list[tuple[str, Any]] = []
    chat, streamed, embed = GenerateContentExtractor(), GenerateContentExtractor(streaming=True), EmbedContentExtractor()
    per_request: dict[str, tuple[Extractor, Accumulator | None]] = {
        "_generate_content": (chat, None),
        "_generate_content_stream": (streamed, STREAM_ACCUMULATOR),
        "embed_content": (embed, None),
    }
    for cls in CLASSES:
        for method, (extractor, acc) in per_request.items():
            targets.append(("%s.%s" % (cls, method), genai_op(extractor, acc)))
        for method in LOOPS:
            targets.append(("%s.%s" % (cls, method), _when_afc))
    return [SymbolPatcher(lambda: module, path, make) for path, make in targets]


def _models_missing(module: Any) -> list[str]:
    out = []
    for cls in CLASSES:
        owner = getattr(module, cls, None)
        if not isinstance(owner, type):
            out.append("%s.%s" % (MODELS_MODULE, cls))
            continue
        out += ["%s.%s.%s" % (MODELS_MODULE, cls, m) for m in PER_REQUEST + LOOPS if not callable(vars(owner).get(m))]
    return out


def _tool_patchers(module: Any) -> list[SymbolPatcher]:
    spec = ToolSpec()
    return [SymbolPatcher(lambda: module, name, lambda f: wrap_with_spec(f, spec)) for name in TOOL_FUNCTIONS]


def _tool_missing(module: Any) -> list[str]:
    return ["%s.%s" % (EXTRA_UTILS_MODULE, n) for n in TOOL_FUNCTIONS if not callable(getattr(module, n, None))]


google_genai_patcher = MultiPatcher(
    [
        ModulePatcher(MODELS_MODULE, _models_patchers, _models_missing),
        ModulePatcher(EXTRA_UTILS_MODULE, _tool_patchers, _tool_missing),
    ]
)
