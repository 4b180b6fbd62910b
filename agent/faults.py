"""Test-only fault injection: ``WEAVE_AGENT_FAULT_INJECTION=true`` makes every extractor,
accumulator and exporter call raise, so that a test can prove the host never notices.

The switch is read when the telemetry pipeline is set up (the first span), like every
other setting, and costs one module-attribute test at each site when off:
``if faults.ON: faults.fire("site")``.

Sites fire in a fixed order within a call (the request extractor first), and a fault at
the first one leaves the call untraced, so the later sites would never run. ``SITES``
narrows the faults to some sites (a test sets it in-process after the switch is on) so
that each site's containment can be proven on its own; ``None`` means every site.
"""

from __future__ import annotations

ON = False

# Every site name used in the agent, for tests that go through them one by one.
EXTRACTOR_SITES = (
    "extractor.request",
    "extractor.is_stream",
    "extractor.wrap_stream",
    "extractor.response",
    "extractor.partial_response",
    "extractor.error_type",
)
ACCUMULATOR_SITES = ("accumulator.step", "accumulator.finish")
OP_SITES = ("op.start", "op.end")

SITES: frozenset[str] | None = None


class InjectedFault(RuntimeError):
    """Raised at an agent site under ``WEAVE_AGENT_FAULT_INJECTION``; never reaches the app."""


def configure(enabled: bool) -> None:
    global ON
    ON = bool(enabled)


def fire(site: str) -> None:
    if SITES is None or site in SITES:
        raise InjectedFault("weave-agent fault injected at %s (WEAVE_AGENT_FAULT_INJECTION)" % site)
