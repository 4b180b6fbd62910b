"""Mistral (``mistralai`` >= 2, < 4): chat, FIM and embeddings, sync and async, streams included.

``mistral.py`` holds the extractors and ``mistral_patcher``; ``accumulator.py`` rebuilds a
streamed completion (the worked example of a stream accumulator).
"""
