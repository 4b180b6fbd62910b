"""Mistral (``mistralai`` >= 2, < 4): chat, FIM and embeddings, sync and async, streams included.

``mistral.py`` holds ``mistral_patcher`` (and the check for the SDK's own tracer, made at
each call), ``extract.py`` the extractors, ``streaming.py`` the stream accumulator (the
worked example of one).
"""

from .mistral import mistral_patcher

__all__ = ["mistral_patcher"]
