"""The agent's providers hold the global place only until the app takes it.

OpenTelemetry lets the global ``TracerProvider`` (and ``MeterProvider``) be set once: a
second ``set_tracer_provider`` logs "Overriding of current TracerProvider is not allowed"
and changes nothing. Had the agent set its provider that way on its first span, an app
that configures OpenTelemetry later (in ``main()``, after its first LLM call, through
``opentelemetry-instrument``) would lose its own set-up, and its spans would go to the
agent's exporter. So:

* the agent's providers are put in the global place without using up that "once": the
  app's own ``set_tracer_provider``/``set_meter_provider`` (or the SDK's
  auto-configuration) still works, silently, whenever it comes;
* the tracers the agent's provider hands out (the agent's own, and any the app or a
  library took from it meanwhile) follow the global provider: from the app's set-up on,
  they start spans with the app's provider. A span already started stays with the
  provider it began with, so what the agent recorded before goes where it went;
* the meters follow through the API's own proxies, and the agent rebuilds its
  instruments on the app's provider (``telemetry.instruments``).

The agent's own provider is not shut down at the switch (that would block the app's
call on an export): its batch processor delivers what it holds on its schedule, and the
exit flush ends it as before. Without the API internals this relies on (a future
``opentelemetry-api``), the providers are set the ordinary way, as before.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import ProxyTracerProvider

from .. import _log


def install_tracer_provider(provider: Any) -> bool:
    """Make ``provider`` the global TracerProvider, leaving the app free to set its own
    later; False when a provider was set first (the app's: use that one)."""
    return _install(trace, "_TRACER_PROVIDER", provider, trace.set_tracer_provider, trace.get_tracer_provider)


def install_meter_provider(provider: Any) -> bool:
    """The MeterProvider twin of :func:`install_tracer_provider`. The meters libraries took
    before (the API's proxies) record to ``provider`` until the app sets its own."""
    from opentelemetry import metrics

    api: Any = getattr(metrics, "_internal", None)
    proxy: Any = getattr(api, "_PROXY_METER_PROVIDER", None)

    def installed() -> None:
        proxy.on_set_meter_provider(provider)

    return _install(api if proxy is not None else None, "_METER_PROVIDER", provider, metrics.set_meter_provider,
                    metrics.get_meter_provider, installed)


def install_logger_provider(provider: Any) -> bool:
    """The LoggerProvider twin of :func:`install_tracer_provider` (the API's proxy loggers
    resolve to the global provider when first used)."""
    from opentelemetry import _logs

    api: Any = getattr(_logs, "_internal", None)
    return _install(api, "_LOGGER_PROVIDER", provider, _logs.set_logger_provider, _logs.get_logger_provider)


def _install(api: Any, slot: str, provider: Any, set_global: Any, get_global: Any, installed: Any = None) -> bool:
    """Put ``provider`` in ``api.<slot>`` under the lock of ``api.<slot>_SET_ONCE`` without
    marking it done; without those internals, ``set_global`` it the ordinary way."""
    once: Any = getattr(api, slot + "_SET_ONCE", None)
    lock = getattr(once, "_lock", None)
    if lock is None or not hasattr(once, "_done") or not hasattr(api, slot):
        set_global(provider)
        return get_global() is provider
    with lock:
        if once._done or getattr(api, slot) is not None:
            return False
        setattr(api, slot, provider)
        if installed is not None:
            installed()
    return True


class FollowingTracerProvider(TracerProvider):
    """The agent's TracerProvider: its tracers follow the global provider (see the module
    docstring); everything else is the SDK's."""

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return FollowingTracer(self, super().get_tracer(*args, **kwargs), args, kwargs)


class FollowingTracer(trace.Tracer):
    """Starts spans with the agent's provider while it is the global one, then with the
    provider the app set (the same tracer name, version and schema)."""

    def __init__(self, home_provider: Any, home: trace.Tracer, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._home_provider = home_provider
        self._home = home
        self._args = args
        self._kwargs = kwargs
        self._away: tuple[Any, trace.Tracer] | None = None  # (the app's provider, its tracer)

    def _current(self) -> trace.Tracer:
        provider = trace.get_tracer_provider()
        if provider is self._home_provider or isinstance(provider, ProxyTracerProvider):
            return self._home
        away = self._away
        if away is None or away[0] is not provider:
            away = self._away = (provider, provider.get_tracer(*self._args, **self._kwargs))
            _log.debug_once(
                "handoff:tracer:%x" % id(provider),
                "tracing: the app set its own TracerProvider %r: spans start there from now on "
                "(the agent's earlier spans stay with its own exporter)", provider,
            )
        return away[1]

    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        return self._current().start_span(*args, **kwargs)

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        return self._current().start_as_current_span(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._current(), name)  # resource, sampler, ... of the tracer in use
