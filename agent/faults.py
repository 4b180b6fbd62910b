"""Test-only fault injection: ``WEAVE_AGENT_FAULT_INJECTION=true`` makes every extractor,
accumulator and exporter call raise, so that a test can prove the host never notices.

The switch is read when the telemetry pipeline is set up (the first span), like every
other setting, and costs one module-attribute test at each site when off:
``if faults.ON: faults.fire("site")``.
"""

from __future__ import annotations

ON = False


class InjectedFault(RuntimeError):
    """Raised at an agent site under ``WEAVE_AGENT_FAULT_INJECTION``; never reaches the app."""


def configure(enabled: bool) -> None:
    global ON
    ON = bool(enabled)


def fire(site: str) -> None:
    raise InjectedFault("weave-agent fault injected at %s (WEAVE_AGENT_FAULT_INJECTION)" % site)
