"""Ollama (``ollama`` >= 0.4, < 1): chat, generate, embed and embeddings, sync and async, streams included.

``ollama.py`` holds ``ollama_patcher``, ``extract.py`` the extractors, ``streaming.py`` the
stream accumulator, ``default_client.py`` the rebinding of the module-level ``ollama.chat``
& co. (bound methods of the client ``ollama`` makes at import).
"""

from .ollama import ollama_patcher

__all__ = ["ollama_patcher"]
