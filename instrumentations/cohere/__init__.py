"""Cohere (``cohere`` >= 5.12, < 8): v2 chat, chat_stream, embed, rerank and v1 chat,
chat_stream, embed, rerank, sync and async.

``cohere.py`` holds ``cohere_patcher`` (and why a client's rebound ``chat`` stays traced),
``extract.py`` the extractors and the rerank span, ``streaming.py`` the stream
accumulators, ``thread_pool.py`` the context that follows ``Client.embed``'s batches.
"""

from .cohere import cohere_patcher

__all__ = ["cohere_patcher"]
