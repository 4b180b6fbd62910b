"""Ollama (``ollama`` >= 0.4, < 1): chat, generate, embed and embeddings, sync and async.

Patched (one CLIENT span per model call, provider ``ollama``), on ``Client`` and
``AsyncClient`` in ``ollama._client``, the module that defines them:

* ``chat`` (operation ``chat``) and ``generate`` (``text_completion``), plain and
  ``stream=True``: the sync client returns a generator (the HTTP request is made at the
  first ``next``), the async one, awaited, an async generator; the agent's proxies keep
  ``isinstance`` and end the span once however the stream ends. ``streaming.py`` rebuilds
  the answer from the NDJSON parts; usage is on the last (``done``) part only;
* ``embed`` and the deprecated ``embeddings`` (``embeddings``).

The module-level ``ollama.chat``, ``ollama.generate``, ``ollama.embed`` and
``ollama.embeddings`` are bound methods of the client ``ollama`` creates at import:
``default_client.py`` explains why a class patch alone misses them when ``ollama`` was
imported before the agent started, and rebinds them then. The registry row triggers on
``ollama._client`` (by ``sys.modules``: the attribute ``ollama._client`` is that client
instance, not the submodule), which runs before ``ollama/__init__`` binds those names.

Not traced: model management (``pull``, ``push``, ``create``, ``list``, ``show``, ...),
``web_search``/``web_fetch`` (ollama.com's search API, no model call) and ``systemone``.

Errors: ``error.type`` is the HTTP status of a ``ResponseError`` (``"404"`` for a model
that is not pulled), else the exception's class name (``ResponseError`` for an error line
inside a stream, ``ConnectionError`` when no server listens, ``RequestError`` for a call
without a model, pydantic's ``ValidationError`` for a malformed request).
"""

from __future__ import annotations

from types import ModuleType

from weave_agent.genai import Extractor, genai_op
from weave_agent.patcher import ModulePatcher, MultiPatcher, SymbolPatcher
from weave_agent.streams import Accumulator

from .default_client import PACKAGE, DefaultClientPatcher
from .extract import ChatExtractor, EmbeddingsExtractor, EmbedExtractor, GenerateExtractor
from .streaming import STREAM_ACCUMULATOR

CLIENT_MODULE = "ollama._client"
CLASSES = ("Client", "AsyncClient")
# method -> (extractor, accumulator); the same for the sync and the async client
METHODS: dict[str, tuple[Extractor, Accumulator | None]] = {
    "chat": (ChatExtractor(), STREAM_ACCUMULATOR),
    "generate": (GenerateExtractor(), STREAM_ACCUMULATOR),
    "embed": (EmbedExtractor(), None),
    "embeddings": (EmbeddingsExtractor(), None),
}
TRIGGERS = (CLIENT_MODULE,)  # the registry row's triggers (a test keeps them equal)


def _client_patchers(module: ModuleType) -> list[SymbolPatcher]:
    """The methods of both clients (``module`` is ``ollama._client``, already imported: no
    import here, so nothing takes the import lock while the patcher's lock is held)."""
    return [
        SymbolPatcher(lambda: module, "%s.%s" % (cls, method), genai_op(extractor, accumulator))
        for cls in CLASSES
        for method, (extractor, accumulator) in METHODS.items()
    ]


def _missing(module: ModuleType) -> list[str]:
    """What an ``ollama._client`` of another structure lacks (then nothing is patched)."""
    out = []
    for cls in CLASSES:
        owner = getattr(module, cls, None)
        if not isinstance(owner, type):
            out.append("%s.%s" % (CLIENT_MODULE, cls))
            continue
        out += ["%s.%s.%s" % (CLIENT_MODULE, cls, m) for m in METHODS if not callable(vars(owner).get(m))]
    return out


# The clients' classes first; then, once the package itself has finished executing (at
# once if it has), the module-level names bound to its default client before the patch.
ollama_patcher = MultiPatcher([
    ModulePatcher(CLIENT_MODULE, _client_patchers, _missing),
    ModulePatcher(PACKAGE, lambda _package: [DefaultClientPatcher(tuple(METHODS))]),
])
