"""The v1 ``Client.embed`` thread pool: the caller's trace context follows each batch.

``cohere.client.Client.embed`` splits ``texts`` into batches of 96 and sends each batch
with ``BaseCohere.embed`` on the client's ``ThreadPoolExecutor`` (``self._executor``, one
pool of 64 threads shared by every client built with the default). Pool threads start
with an empty OpenTelemetry context: each batch's ``embeddings`` span (and any HTTP span
below it) would begin a trace of its own. ``ContextExecutor`` stands in for the client's
executor and runs each function handed to ``map``/``submit`` in the context that was
current where ``map``/``submit`` was called. The patcher installs it on a client the
first time its ``embed`` is called (the executor is the client's private attribute; the
pool itself, and every other use of it, is unchanged). Imports nothing of this folder.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry import context as otel_context


def _in_context(ctx: Any, fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        token = otel_context.attach(ctx)
        try:
            return fn(*args, **kwargs)
        finally:
            otel_context.detach(token)

    return run


class ContextExecutor:
    """A transparent stand-in for an executor whose ``map``/``submit`` carry the caller's context."""

    __slots__ = ("_inner",)

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    @property
    def inner(self) -> Any:
        return self._inner

    def map(self, fn: Callable[..., Any], *iterables: Any, **kwargs: Any) -> Any:
        return self._inner.map(_in_context(otel_context.get_current(), fn), *iterables, **kwargs)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return self._inner.submit(_in_context(otel_context.get_current(), fn), *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __enter__(self) -> Any:
        return self._inner.__enter__()

    def __exit__(self, *exc: Any) -> Any:
        return self._inner.__exit__(*exc)


def carry_context(client: Any) -> None:
    """Make ``client``'s executor carry the caller's context into its threads (once)."""
    stored = vars(client) if hasattr(client, "__dict__") else None
    if stored is None:
        return
    executor = stored.get("_executor")
    if executor is None or isinstance(executor, ContextExecutor):
        return
    stored["_executor"] = ContextExecutor(executor)
