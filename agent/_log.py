"""The agent's own log: lazy, and once per site.

``logging`` imports ``threading``; importing it at bootstrap would break gevent users and
cost every short script, so the stdlib logger is only created when the first message is
actually emitted. Failures inside the agent are reported once per *site* (a string key),
so a patcher that no longer fits an SDK does not produce a traceback per call.
"""

from __future__ import annotations

import os
import sys

LOGGER_NAME = "weave_agent"

_seen: set[str] = set()
_logger = None
_debug: bool | None = None


def _get_logger():  # type: ignore[no-untyped-def]
    global _logger
    if _logger is None:
        import logging

        logger = logging.getLogger(LOGGER_NAME)
        if debug_enabled() and not logger.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(message)s"))
            logger.addHandler(handler)
            logger.setLevel(logging.DEBUG)
            logger.propagate = False
        # Otherwise the app's logging configuration decides; with none, the stdlib's
        # last-resort handler prints warnings and errors as one line on stderr.
        if _scrub_record not in logger.filters:
            logger.addFilter(_scrub_record)
        _logger = logger
    return _logger


def _scrub_record(record):  # type: ignore[no-untyped-def]
    """A filter on the agent's logger: its lines (and, in debug mode, their tracebacks,
    which may quote an SDK error) lose the credentials the SDK clients were given. The
    registry is looked up, not imported: it exists once a traced call has read a client."""
    secrets = sys.modules.get("weave_agent.tracing.secrets")
    if secrets is not None and secrets.known():
        try:
            record.msg = secrets.scrub(record.getMessage())
            record.args = None
            if record.exc_info and not record.exc_text:
                import logging

                record.exc_text = secrets.scrub(logging.Formatter().formatException(record.exc_info))
        except Exception:  # a record that cannot be formatted: logging says so itself, later
            pass
    return True


def debug_enabled() -> bool:
    """True when ``WEAVE_AGENT_DEBUG`` asks for the agent's log on stderr."""
    global _debug
    if _debug is None:
        _debug = os.environ.get("WEAVE_AGENT_DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}
    return _debug


def set_debug(value: bool) -> None:
    global _debug, _logger
    _debug = value
    _logger = None
    if "logging" in sys.modules:
        import logging

        logger = logging.getLogger(LOGGER_NAME)
        for h in list(logger.handlers):
            logger.removeHandler(h)
        logger.setLevel(logging.NOTSET)


PREFIX = "weave-agent: "


def debug(msg: str, *args: object) -> None:
    # Without debug mode and with logging never imported, nobody could see the line:
    # skip it rather than import logging for nothing.
    if debug_enabled() or "logging" in sys.modules:
        _get_logger().debug(PREFIX + msg, *args)


def info(msg: str, *args: object) -> None:
    _get_logger().info(PREFIX + msg, *args)


def warning(msg: str, *args: object) -> None:
    _get_logger().warning(PREFIX + msg, *args)


def error(msg: str, *args: object) -> None:
    _get_logger().error(PREFIX + msg, *args)


def once(site: str) -> bool:
    """True the first time ``site`` is seen: the caller logs, later calls stay quiet."""
    if site in _seen:
        return False
    _seen.add(site)
    return True


def warn_once(site: str, msg: str, *args: object, exc_info: bool = False) -> None:
    """One warning per site; the traceback only in debug mode."""
    if once(site):
        _get_logger().warning(PREFIX + msg, *args, exc_info=exc_info and debug_enabled())


def error_once(site: str, msg: str, *args: object, exc_info: bool = True) -> None:
    """One error per site (an agent bug caught at the boundary)."""
    if once(site):
        _get_logger().error(PREFIX + msg, *args, exc_info=exc_info and debug_enabled())


def debug_once(site: str, msg: str, *args: object) -> None:
    if once(site):
        debug(msg, *args)
