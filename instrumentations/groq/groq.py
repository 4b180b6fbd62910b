"""Groq SDK (``groq`` >= 0.13, < 2): what its requests and responses say, in GenAI terms.

Patched, sync and async (one CLIENT span per model call, provider ``groq``):

* ``Completions.create`` / ``AsyncCompletions.create`` in ``groq.resources.chat.completions``
  (operation ``chat``): plain, ``stream=True``, tools;
* ``Embeddings.create`` / ``AsyncEmbeddings.create`` in ``groq.resources.embeddings``
  (operation ``embeddings``).

Both modules load lazily (on the first ``client.chat`` / ``client.embeddings``): each is
patched when it is imported (a ``ModulePatcher`` each), and the registry row triggers on
both. The SDK retries (2 by default) stay inside the one call, so inside the one span.
``server.address``/``server.port`` come from the client's ``base_url``.

Groq is a Stainless SDK shaped like openai 1.x, and speaks OpenAI's formats
(``instrumentations/openai_compatible.py``); what Groq adds is read in ``extract.py`` and
``streaming.py``: usage of a stream from the last chunk's ``x_groq.usage`` (or ``usage``
with ``stream_options={"include_usage": True}``, the same counts, read once), the reasoning
of reasoning models, the tools compound models run on Groq's side (``server_tool_call``
parts), ``x_groq.id`` as ``groq.request_id``, the service tier. The request is never
modified.

``with_raw_response.create`` and ``with_streaming_response.create`` call the patched
``create`` and give one span: the SDK's ``APIResponse`` is returned in a proxy whose
``parse()`` result is followed (``streaming.RawResponse``); headers and ``parse()`` behave
as without the agent.

Errors: ``error.type`` is the HTTP status (``"401"``, ``"429"``, ``"500"``); an error the
API sends inside a stream (an ``APIError`` without status) gives its ``code``
(``tool_use_failed``); anything else its class name. Groq's SDK has no tracing of its
own and sends nothing anywhere but the API.

Audio (transcriptions, translations, speech), batches, files and models are not traced.
"""

from __future__ import annotations

from typing import Any

from weave_agent.genai import Extractor, genai_op
from weave_agent.patcher import ModulePatcher, MultiPatcher, SymbolPatcher
from weave_agent.streams import Accumulator

from .extract import ChatExtractor, EmbeddingsExtractor
from .streaming import CHAT_ACC, NO_ACC

CHAT_MODULE = "groq.resources.chat.completions"
EMBEDDINGS_MODULE = "groq.resources.embeddings"
TRIGGERS = (CHAT_MODULE, EMBEDDINGS_MODULE)


def _module_patcher(module: str, cls: str, extractor: Extractor, acc: Accumulator) -> ModulePatcher:
    """``cls.create`` and ``Async<cls>.create`` of one resource module, patched when that
    module is imported."""

    def make(mod: Any) -> list[SymbolPatcher]:
        return [SymbolPatcher(lambda: mod, prefix + cls + ".create", genai_op(extractor, acc)) for prefix in ("", "Async")]

    return ModulePatcher(module, make)


groq_patcher = MultiPatcher(
    [
        _module_patcher(CHAT_MODULE, "Completions", ChatExtractor(), CHAT_ACC),
        _module_patcher(EMBEDDINGS_MODULE, "Embeddings", EmbeddingsExtractor(), NO_ACC),
    ]
)
"""Groq: chat completions (plain, streamed, tools) and embeddings, sync and async."""
