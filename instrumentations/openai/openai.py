"""OpenAI SDK (``openai`` >= 1.92, < 4): what its requests and responses say, in GenAI terms.

Patched, sync and async (one span per model call):

* chat completions: ``Completions.create`` and ``Completions.parse`` in
  ``openai.resources.chat.completions.completions`` (``parse`` posts by itself; ``stream``
  is not patched because it calls ``create(stream=True)``);
* the Responses API: ``Responses.create`` and ``Responses.parse`` (operation ``chat``,
  ``openai.api.type = responses``; ``Responses.stream`` calls ``create``);
* ``Embeddings.create`` (operation ``embeddings``);
* legacy ``Completions.create`` in ``openai.resources.completions`` (``text_completion``).

``AzureOpenAI`` clients report ``gen_ai.provider.name = azure.ai.openai``; any client
reports ``server.address``/``server.port`` from its ``base_url`` (an OpenAI-compatible
server keeps the provider ``openai``).

Streams (``stream=True``) are rebuilt chunk by chunk by the accumulators (``streaming.py``); usage is
recorded only when the stream carried it (``stream_options={"include_usage": True}``):
the request is never modified.

Raw responses (headers and ``parse()`` behave as without the agent):

* ``with_raw_response.create`` returns a ``LegacyAPIResponse``. Not a stream: its body has
  already been read and ``parse()`` caches per type, so the span reads the response through
  ``parse()`` when ``create`` returns and the user's later ``parse()`` gets the very same
  object. A stream (SSE): the agent reads nothing; the span stays open and follows the
  stream the user's ``parse()`` returns (proxied, still an ``openai.Stream``); if
  ``parse()`` is never called, the span ends when the raw response is garbage-collected.
* ``with_streaming_response.create`` returns an ``APIResponse`` inside the SDK's context
  manager: the span ends when the response is closed (the manager's exit) or collected. A
  stream or body read through ``parse()`` is recorded; bytes read through ``iter_lines()``
  and friends bypass the SDK's parsing and are not (request attributes only).

Per call the extractors read attributes directly (no ``model_dump``); message content is
only built when capture is on, and image bytes never leave as such (a placeholder part
with the MIME type and size).
"""

from __future__ import annotations

from typing import Any

from weave_agent.genai import Extractor, genai_op
from weave_agent.patcher import ModulePatcher, MultiPatcher, SymbolPatcher
from weave_agent.streams import Accumulator

from .extract import ChatExtractor, CompletionsExtractor, EmbeddingsExtractor, ResponsesExtractor
from .streaming import _CHAT_ACC, _COMPLETION_ACC, _NO_ACC, _RESPONSES_ACC

CHAT_MODULE = "openai.resources.chat.completions.completions"
RESPONSES_MODULE = "openai.resources.responses.responses"
EMBEDDINGS_MODULE = "openai.resources.embeddings"
COMPLETIONS_MODULE = "openai.resources.completions"


# --- the patcher ---------------------------------------------------------------------------


def _module_patcher(module: str, targets: list[tuple[str, Extractor, Accumulator | None]]) -> ModulePatcher:
    """The methods one resource module defines, patched when that module is imported:
    the SDK loads ``client.chat``, ``client.responses`` ... lazily, and so do we."""

    def make(mod: Any) -> list[SymbolPatcher]:
        # A method this SDK version lacks: that SymbolPatcher logs one debug line and the
        # others still patch.
        return [SymbolPatcher(lambda: mod, path, genai_op(extractor, acc)) for path, extractor, acc in targets]

    return ModulePatcher(module, make)


def _patchers() -> list[ModulePatcher]:
    chat, responses = ChatExtractor(), ResponsesExtractor()
    embeddings, completions = EmbeddingsExtractor(), CompletionsExtractor()
    both = ("", "Async")
    return [
        _module_patcher(
            CHAT_MODULE,
            [(p + "Completions." + m, chat, _CHAT_ACC) for p in both for m in ("create", "parse")],
        ),
        _module_patcher(
            RESPONSES_MODULE,
            [(p + "Responses." + m, responses, _RESPONSES_ACC) for p in both for m in ("create", "parse")],
        ),
        _module_patcher(EMBEDDINGS_MODULE, [(p + "Embeddings.create", embeddings, _NO_ACC) for p in both]),
        _module_patcher(COMPLETIONS_MODULE, [(p + "Completions.create", completions, _COMPLETION_ACC) for p in both]),
    ]


openai_patcher = MultiPatcher(_patchers())
