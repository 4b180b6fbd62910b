"""The agent's settings: one table, read from keyword arguments over the environment.

The table (``FIELDS``) is the single source for parsing and for the message a bad value
gets; ``weave_agent.settings_doc`` documents each variable (``weave-run``'s options, its
``--help``, the README's table) and is not loaded at bootstrap. A bad value never stops
the app: it is reported once, naming the variable and what it accepts, and that setting
falls back to its default (an exporter that cannot be configured becomes ``none``).

No ``dataclasses``/``typing`` at run time: the bootstrap reads settings and must stay
within a few hundred microseconds.
"""

from __future__ import annotations

import os

from . import _log

if False:  # typing only
    from collections.abc import Callable, Mapping


class SettingError(ValueError):
    """A value a setting does not accept; the message names the variable."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def parse_bool(raw: str) -> bool:
    v = raw.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise SettingError("accepts true/false (also 1/0, yes/no, on/off)")


def parse_names(raw: str) -> frozenset[str]:
    return frozenset(n.strip().lower() for n in raw.split(",") if n.strip())


def parse_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingError("accepts a number of seconds, e.g. 5 or 0.5") from None
    if value < 0 or value != value:
        raise SettingError("accepts a number >= 0")
    return value


def parse_ratio(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingError("accepts a number from 0 to 1, e.g. 0.25") from None
    if not 0.0 <= value <= 1.0:
        raise SettingError("accepts a number from 0 to 1, e.g. 0.25")
    return value


def parse_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingError("accepts a whole number, e.g. 16384") from None
    if value <= 0:
        raise SettingError("accepts a whole number > 0")
    return value


_BYTE_UNITS = {"": 1, "b": 1, "kib": 1024, "mib": 1024 ** 2, "gib": 1024 ** 3, "tib": 1024 ** 4}


def parse_bytes(raw: str) -> int:
    """A size: whole bytes, or with a binary unit (``64MiB``, ``1 GiB``); 0 turns the limit off."""
    v = raw.strip().lower().replace(" ", "")
    digits = v.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = v[len(digits):]
    if not (digits.isascii() and digits.isdigit()) or unit not in _BYTE_UNITS:
        raise SettingError("accepts a size in bytes >= 0, e.g. 1073741824 or 1GiB (units KiB, MiB, GiB, TiB); "
                           "0 turns it off")
    return int(digits) * _BYTE_UNITS[unit]


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        v = raw.strip().lower()
        if v not in choices:
            raise SettingError("accepts one of: " + ", ".join(choices))
        return v

    return parse


def parse_headers(raw: str) -> dict[str, str]:
    """``key=value,key2=value2`` as the OTLP exporter variables define it (URL-encoded values)."""
    from urllib.parse import unquote

    headers: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SettingError("accepts comma-separated key=value pairs, e.g. api-key=abc,x-team=ml")
        headers[unquote(key.strip()).lower()] = unquote(value.strip())
    return headers


# Content capture: the OpenTelemetry Python libraries' two forms, both accepted.
CAPTURE_MODES = ("no_content", "span_only", "event_only", "span_and_event")


def parse_capture(raw: str) -> str:
    v = raw.strip().lower()
    if v in _TRUE:
        return "span_only"
    if v in _FALSE:
        return "no_content"
    if v in CAPTURE_MODES:
        return v
    raise SettingError(
        "accepts true/false or NO_CONTENT, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT (any case)"
    )


EXPORTERS = ("otlp", "file", "console", "weave", "none")
# Which GenAI convention names the agent emits: the newest (the conventions' repository),
# the last core release's (v1.41, for dashboards that read them), or both during a migration.
GENAI_CONVENTIONS = ("newest", "v1.41", "both")
PROTOCOLS = ("http/protobuf", "grpc")


class Field:
    """One setting: the attribute, the variable, how its value is parsed, the default, and
    the variables that also set it (``also``). Its option and help text live in
    ``weave_agent.settings_doc``: the bootstrap reads settings in every process and must not
    load text only ``--help`` shows."""

    __slots__ = ("name", "env", "parse", "default", "also")

    def __init__(
        self,
        name: str,
        env: str,
        parse: Callable[[str], object],
        default: object,
        also: tuple[str, ...] = (),
    ) -> None:
        self.name, self.env, self.parse, self.default, self.also = name, env, parse, default, also


FIELDS: tuple[Field, ...] = (
    Field("enabled", "WEAVE_AGENT_ENABLED", parse_bool, True),
    Field("debug", "WEAVE_AGENT_DEBUG", parse_bool, False),
    Field("service_name", "OTEL_SERVICE_NAME", str, None),
    Field("exporter", "WEAVE_AGENT_EXPORTER", _choice(*EXPORTERS), None),
    Field("endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT", str, None),
    Field("traces_endpoint", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", str, None),
    Field("protocol", "OTEL_EXPORTER_OTLP_PROTOCOL", _choice(*PROTOCOLS), "http/protobuf",
          also=("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",)),
    Field("headers", "OTEL_EXPORTER_OTLP_HEADERS", parse_headers, None, also=("OTEL_EXPORTER_OTLP_TRACES_HEADERS",)),
    Field("traces_dir", "WEAVE_AGENT_TRACES_DIR", str, "weave-traces"),
    Field("traces_max_bytes", "WEAVE_AGENT_TRACES_MAX_BYTES", parse_int, 64 * 1024 * 1024),
    Field("traces_dir_max_bytes", "WEAVE_AGENT_TRACES_DIR_MAX_BYTES", parse_bytes, 1024 ** 3),
    Field("traces_min_free_bytes", "WEAVE_AGENT_TRACES_MIN_FREE_BYTES", parse_bytes, 64 * 1024 * 1024),
    Field("weave_project", "WEAVE_PROJECT", str, None),
    Field("weave_base_url", "WEAVE_AGENT_WEAVE_BASE_URL", str, None),
    Field("disabled", "WEAVE_AGENT_DISABLED_INSTRUMENTATIONS", parse_names, frozenset(),
          also=("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS",)),
    Field("enable_only", "WEAVE_AGENT_ENABLED_INSTRUMENTATIONS", parse_names, None),
    Field("capture_content", "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", parse_capture, "span_only"),
    Field("sample_ratio", "WEAVE_AGENT_SAMPLE_RATIO", parse_ratio, None),
    Field("exit_timeout", "WEAVE_AGENT_EXIT_TIMEOUT", parse_float, 5.0),
    Field("children", "WEAVE_AGENT_CHILDREN", parse_bool, True),
    Field("quiet", "WEAVE_AGENT_QUIET", parse_bool, False),
    Field("max_value_size", "WEAVE_AGENT_MAX_VALUE_SIZE", parse_int, 32768),
    Field("upload_base_path", "OTEL_INSTRUMENTATION_GENAI_UPLOAD_BASE_PATH", str, None),
    Field("genai_conventions", "WEAVE_AGENT_GENAI_CONVENTIONS", _choice(*GENAI_CONVENTIONS), "newest"),
    Field("fault_injection", "WEAVE_AGENT_FAULT_INJECTION", parse_bool, False),
    Field("otel_instrumentors", "WEAVE_AGENT_OTEL_INSTRUMENTORS", parse_bool, True),
    Field("pricing", "WEAVE_AGENT_PRICING", parse_bool, True),
)

FIELDS_BY_NAME = {f.name: f for f in FIELDS}
FIELDS_BY_ENV = {f.env: f for f in FIELDS}


def weave_entity_project(raw: str) -> tuple[str, str] | None:
    """``entity/project`` as its two parts, or None when it is not that."""
    entity, sep, project = raw.strip().partition("/")
    if not sep or not entity.strip() or not project.strip() or "/" in project:
        return None
    return entity.strip(), project.strip()


class Settings:
    """Resolved settings. Build with ``Settings.load(environ, **overrides)``."""

    __slots__ = tuple(f.name for f in FIELDS) + ("errors", "exporter_broken", "wandb_api_key")

    enabled: bool
    debug: bool
    service_name: str | None
    exporter: str | None
    endpoint: str | None
    traces_endpoint: str | None
    protocol: str
    headers: dict[str, str] | None
    traces_dir: str
    traces_max_bytes: int
    traces_dir_max_bytes: int
    traces_min_free_bytes: int
    weave_project: str | None
    weave_base_url: str | None
    disabled: frozenset[str]
    enable_only: frozenset[str] | None
    capture_content: str
    sample_ratio: float | None
    exit_timeout: float
    children: bool
    quiet: bool
    max_value_size: int
    upload_base_path: str | None
    fault_injection: bool
    genai_conventions: str
    otel_instrumentors: bool
    pricing: bool
    errors: list[str]
    exporter_broken: bool
    wandb_api_key: str | None  # never in repr(), never logged

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, /, **overrides: object) -> Settings:
        env = os.environ if environ is None else environ
        self = cls.__new__(cls)
        self.errors = []
        self.exporter_broken = False
        self.wandb_api_key = (env.get("WANDB_API_KEY") or "").strip() or None
        unknown = set(overrides) - set(FIELDS_BY_NAME)
        if unknown:
            raise TypeError(
                "unknown setting(s) %s; known: %s" % (", ".join(sorted(unknown)), ", ".join(FIELDS_BY_NAME))
            )
        for f in FIELDS:
            value = f.default
            if f.name in overrides and overrides[f.name] is not None:
                given = overrides[f.name]
                if isinstance(given, str):
                    value = self._parse(f, f.name, given)
                elif f.name in ("disabled", "enable_only") and not isinstance(given, frozenset):
                    value = frozenset(str(n).lower() for n in given)  # type: ignore[attr-defined]
                else:
                    value = given
            elif f.name == "disabled":
                # Both variables count, not only the first one set.
                names: set[str] = set()
                for var in (f.env,) + f.also:
                    if env.get(var, "").strip():
                        names |= self._parse(f, var, env[var])  # type: ignore[arg-type]
                value = frozenset(names)
            else:
                # ``also`` holds the signal-specific variables (OTEL_EXPORTER_OTLP_TRACES_*):
                # the OTLP exporter spec has them win over the general one.
                for var in f.also + (f.env,):
                    raw = env.get(var)
                    if raw is not None and raw.strip():
                        value = self._parse(f, var, raw)
                        break
            object.__setattr__(self, f.name, value)
        if "enabled" not in overrides and env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
            self.enabled = False
        self._check_weave()
        for message in self.errors:
            _log.warn_once("setting:" + message, "%s", message)
        return self

    def _parse(self, f: Field, var: str, raw: str) -> object:
        try:
            return f.parse(raw)
        except SettingError as exc:
            shown = "<hidden>" if f.name == "headers" else repr(raw)
            fallback = "the exporter is off" if f.name in ("exporter", "protocol", "headers") else "using the default"
            self.errors.append("%s=%s is not valid: %s; %s" % (var, shown, exc, fallback))
            if f.name in ("exporter", "protocol", "headers"):
                self.exporter_broken = True
            return f.default

    def _check_weave(self) -> None:
        """The weave exporter needs the key and an entity/project; without them it is off."""
        if self.resolved_exporter() != "weave":
            return
        if not self.wandb_api_key:
            self.errors.append("WANDB_API_KEY is not set: the weave exporter needs a W&B API key; the exporter is off")
        elif not self.weave_project:
            self.errors.append("WEAVE_PROJECT is not set: the weave exporter accepts entity/project, e.g. my-team/chat-app; "
                               "the exporter is off")
        elif weave_entity_project(self.weave_project) is None:
            self.errors.append("WEAVE_PROJECT=%r is not valid: accepts entity/project, e.g. my-team/chat-app; "
                               "the exporter is off" % self.weave_project)
        else:
            return
        self.exporter_broken = True

    def is_enabled(self, name: str) -> bool:
        """Whether instrumentation ``name`` may be patched under these settings."""
        name = name.lower()
        if name in self.disabled:
            return False
        return self.enable_only is None or name in self.enable_only

    def resolved_exporter(self) -> str:
        if self.exporter_broken:
            return "none"
        if self.exporter:
            return self.exporter
        if self.endpoint or self.traces_endpoint:
            return "otlp"
        return "weave" if (self.weave_project and self.wandb_api_key) else "file"

    def __repr__(self) -> str:
        shown = {f.name: getattr(self, f.name) for f in FIELDS if f.name != "headers"}
        return "Settings(%s)" % ", ".join("%s=%r" % kv for kv in shown.items())
