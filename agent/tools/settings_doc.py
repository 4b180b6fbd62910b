"""What each environment variable the agent reads means: the one table behind
``weave-run``'s options, its ``--help`` and the README's "Configuration" table.

``weave_agent.settings`` parses the values; this module only documents them, and is kept
apart so that the bootstrap, which reads settings in every process, never loads the text.
``python -m weave_agent.settings_doc README.md`` rewrites the README's table from here
(``tests/launcher/test_settings_doc.py`` fails while they differ). Cells are Markdown;
``--help`` shows them without the backticks.
"""

from __future__ import annotations

import sys

from ..settings import EXPORTERS, PROTOCOLS


class Setting:
    """One row: ``variables`` (the first is the main one; the others set it too),
    ``option`` and its ``metavar`` (None: a flag that sets the variable to ``flag``),
    ``default`` and ``meaning`` (Markdown), ``option_help`` (what the option does, when
    that is not the meaning itself), ``internal`` (read by the agent but not for users:
    left out of ``--help`` and the README)."""

    __slots__ = ("variables", "option", "metavar", "flag", "default", "meaning", "option_help", "internal")

    def __init__(
        self,
        variables: tuple[str, ...],
        meaning: str,
        default: str = "",
        option: str | None = None,
        metavar: str | None = None,
        flag: str | None = None,
        option_help: str | None = None,
        internal: bool = False,
    ) -> None:
        self.variables, self.meaning, self.default = variables, meaning, default
        self.option, self.metavar, self.flag = option, metavar, flag
        self.option_help, self.internal = option_help, internal

    @property
    def env(self) -> str:
        return self.variables[0]


SETTINGS: tuple[Setting, ...] = (
    Setting(("WEAVE_AGENT_EXPORTER",),
            "where spans go: `otlp`, `file` (local OTLP-JSON files), `console`, `weave` (W&B Weave) or `none`",
            "`otlp` with an endpoint, `weave` with `WANDB_API_KEY` and `WEAVE_PROJECT`, else `file`",
            "--exporter", "{" + ",".join(EXPORTERS) + "}"),
    Setting(("OTEL_EXPORTER_OTLP_ENDPOINT",),
            "OTLP endpoint, e.g. `http://localhost:4318` (http/protobuf) or `http://localhost:4317` (grpc)",
            "", "--endpoint", "URL"),
    Setting(("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",),
            "full OTLP URL for traces only (http/protobuf: ending in `/v1/traces`)"),
    Setting(("OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
            "OTLP protocol: `http/protobuf` or `grpc`",
            "`http/protobuf`", "--protocol", "{" + ",".join(PROTOCOLS) + "}"),
    Setting(("OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"),
            "OTLP request headers, `key=value,key2=value2` (values URL-encoded)",
            "", "--headers", "K=V[,K=V]"),
    Setting(("OTEL_EXPORTER_OTLP_TIMEOUT",),
            "seconds one OTLP export request may take (read by the OpenTelemetry exporter)", "`10`"),
    Setting(("OTEL_METRICS_EXPORTER",),
            "`none` keeps the GenAI metrics off (for trace servers that accept no metrics, such as Phoenix)",
            "metrics go where spans go (`otlp`, `console`, `file`)"),
    Setting(("OTEL_LOGS_EXPORTER",),
            "`none` keeps the GenAI events (message content as `gen_ai.client.inference.operation.details` log "
            "records, with `EVENT_ONLY` or `SPAN_AND_EVENT`) from leaving the process",
            "events go where spans go (`otlp`, `console`, `file`; none to `weave`)"),
    Setting(("WEAVE_AGENT_TRACES_DIR",),
            "where the `file` exporter writes (a traces file and a metrics file per process) and `weave-run show` reads",
            "`./weave-traces`", "--traces-dir", "DIR"),
    Setting(("WEAVE_AGENT_TRACES_MAX_BYTES",),
            "a local file past this size is rotated (`...-<pid>.1.jsonl`, ...)", "`67108864` (64 MiB)"),
    Setting(("WEAVE_AGENT_TRACES_DIR_MAX_BYTES",),
            "the most the local files of the traces folder may hold, every process and earlier run together: "
            "the oldest files are removed first (other files there are left alone); bytes or `KiB`/`MiB`/`GiB`, "
            "`0`: no cap", "`1073741824` (1 GiB)"),
    Setting(("WEAVE_AGENT_TRACES_MIN_FREE_BYTES",),
            "free space kept for the app on the traces folder's disk: below it nothing is written there (one "
            "line says so, and when writing resumes); bytes or `KiB`/`MiB`/`GiB`, `0`: no reserve", "`67108864` (64 MiB)"),
    Setting(("WANDB_API_KEY",), "W&B API key (exporter `weave`)"),
    Setting(("WEAVE_PROJECT",), "W&B Weave project, `entity/project` (exporter `weave`)",
            "", "--weave-project", "ENTITY/PROJECT"),
    Setting(("WEAVE_AGENT_WEAVE_BASE_URL",),
            "a W&B Weave dedicated deployment, e.g. `https://acme.wandb.io`: spans go to "
            "`<url>/traces/otel/v1/traces` instead of `https://trace.wandb.ai/otel/v1/traces`"),
    Setting(("OTEL_SERVICE_NAME",), "`service.name` of the resource", "the script or module name",
            "--service-name", "NAME"),
    Setting(("OTEL_RESOURCE_ATTRIBUTES",),
            "more resource attributes, `key=value,key2=value2` (read by the OpenTelemetry SDK)"),
    Setting(("OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"),
            "the standard sampler and its argument (read by the OpenTelemetry SDK when "
            "`WEAVE_AGENT_SAMPLE_RATIO` is not set)", "all traces"),
    Setting(("WEAVE_AGENT_SAMPLE_RATIO",), "keep this fraction of traces, 0 to 1; parent-based", "all traces",
            "--sample-ratio", "RATIO"),
    Setting(("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",),
            "message content on spans and/or as a log record (the conventions' event): `true`/`false` or "
            "`NO_CONTENT`, `SPAN_ONLY`, `EVENT_ONLY`, `SPAN_AND_EVENT`",
            "on (`SPAN_ONLY`)", "--no-capture-content", flag="false",
            option_help="leave message content (prompts, completions, tool arguments) off the spans"),
    Setting(("WEAVE_AGENT_DISABLED_INSTRUMENTATIONS", "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"),
            "instrumentations to leave unpatched (names as in `weave-run list`; both variables count)",
            "", "--disable", "NAME[,NAME]"),
    Setting(("WEAVE_AGENT_ENABLED_INSTRUMENTATIONS",), "patch only these instrumentations", "all",
            "--enable-only", "NAME[,NAME]"),
    Setting(("WEAVE_AGENT_EXIT_TIMEOUT",), "seconds the exit flush may hold an exiting process", "`5`"),
    Setting(("WEAVE_AGENT_MAX_VALUE_SIZE",),
            "characters of one serialized value before the truncation marker", "`32768`"),
    Setting(("OTEL_INSTRUMENTATION_GENAI_UPLOAD_BASE_PATH",),
            "a folder, `file://` URL or (with `fsspec` installed) any fsspec URL: media in message content "
            "(images, audio, documents) is written there and the part becomes a `uri` part pointing at it",
            "unset: a placeholder part without the bytes"),
    Setting(("WEAVE_AGENT_GENAI_CONVENTIONS",),
            "GenAI convention names: `newest` (the conventions' repository: `gen_ai.client.inference.*` metrics, "
            "`gen_ai.usage.cache_write.input_tokens`, ...), `v1.41` (the names of the last core release, for "
            "dashboards that read them) or `both` (every name, for a migration)", "`newest`"),
    Setting(("WEAVE_AGENT_OTEL_INSTRUMENTORS",),
            "`false`: `weave-run` leaves the installed OpenTelemetry instrumentors (entry points "
            "`opentelemetry_instrumentor`: FastAPI, Flask, requests, ...) alone instead of arming each on the "
            "import of its library", "`true`", "--no-otel-instrumentors", flag="false",
            option_help="do not arm the installed OpenTelemetry instrumentors (FastAPI, Flask, requests, ...)"),
    Setting(("WEAVE_AGENT_PRICING",),
            "`false`: LLM spans get no `weave_agent.cost.usd` (the cost in USD that the bundled `genai-prices` "
            "table gives for the call's provider, model and tokens; nothing is fetched)", "`true`"),
    Setting(("WEAVE_AGENT_CHILDREN",), "`false`: Python child processes do not inherit the agent", "`true`"),
    Setting(("WEAVE_AGENT_QUIET",), "`true` silences the one-line summary at exit", "`false`"),
    Setting(("WEAVE_AGENT_DEBUG",), "the agent's log on stderr: what it patched, what it skipped and why",
            "`false`", "--debug", flag="true"),
    Setting(("WEAVE_AGENT_ENABLED", "OTEL_SDK_DISABLED"),
            "`WEAVE_AGENT_ENABLED=false` or `OTEL_SDK_DISABLED=true` turns the agent off entirely", "enabled"),
    # Read by the agent, not for users.
    Setting(("WEAVE_AGENT_FAULT_INJECTION",),
            "tests only: every extractor, accumulator and exporter raises", internal=True),
    Setting(("WEAVE_AGENT_ENTRY_POINTS",),
            "set by `weave-run` for the app: the third-party instrumentations it found, so that the app's "
            "start-up never scans installed distributions", internal=True),
    Setting(("WEAVE_AGENT_OTEL_INSTRUMENTOR_ROWS",),
            "set by `weave-run` for the app: the OpenTelemetry instrumentors to arm and the modules whose "
            "import arms each", internal=True),
)

PUBLIC: tuple[Setting, ...] = tuple(s for s in SETTINGS if not s.internal)
BY_OPTION = {s.option: s for s in SETTINGS if s.option}


def plain(markdown: str) -> str:
    """A cell as ``--help`` shows it: without the code backticks."""
    return markdown.replace("`", "")


def option_help(s: Setting) -> str:
    """The help of ``s.option``: what it does, its default and the variable it sets."""
    if s.flag is not None:
        text = "%s [env %s=%s]" % (s.option_help or s.meaning, s.env, s.flag)
    else:
        default = " (default: %s)" % s.default if s.default else ""
        also = "".join(", also " + v for v in s.variables[1:])
        text = "%s%s [env %s%s]" % (s.option_help or s.meaning, default, s.env, also)
    return plain(text)


def env_help(s: Setting) -> str:
    """One line of ``--help``'s list of the variables without an option."""
    default = " (default: %s)" % s.default if s.default else ""
    return plain("%s: %s%s" % (", ".join(s.variables), s.meaning, default))


HEADER = ("variable", "option", "default", "meaning")


def markdown_rows() -> list[tuple[str, str, str, str]]:
    rows = []
    for s in PUBLIC:
        option = ""
        if s.option:
            option = "`%s`" % s.option if s.flag is None else "`%s` sets `%s`" % (s.option, s.flag)
        rows.append((", ".join("`%s`" % v for v in s.variables), option, s.default, s.meaning))
    return rows


def markdown_table() -> str:
    lines = ["| %s |" % " | ".join(HEADER), "|" + "---|" * len(HEADER)]
    lines += ["| %s |" % " | ".join(row) for row in markdown_rows()]
    return "\n".join(lines) + "\n"


CONFIGURATION_HEADING = "## Configuration"


def _table_span(text: str) -> tuple[int, int]:
    """Where the table of the README's "Configuration" section starts and ends in ``text``."""
    pos = text.index(CONFIGURATION_HEADING + "\n")
    lines = text[pos:].splitlines(keepends=True)
    for line in lines:
        if line.startswith("|"):
            break
        pos += len(line)
    end = pos
    for line in text[pos:].splitlines(keepends=True):
        if not line.startswith("|"):
            break
        end += len(line)
    return pos, end


def readme_table(text: str) -> str:
    """The table of the README's "Configuration" section, as it is."""
    start, end = _table_span(text)
    return text[start:end]


def replace_readme_table(text: str) -> str:
    """``text`` (the README) with the table of its "Configuration" section rewritten."""
    start, end = _table_span(text)
    return text[:start] + markdown_table() + text[end:]


def main(argv: list[str]) -> int:
    """``python -m weave_agent.settings_doc [README.md]``: print the table, or rewrite it in
    the given README."""
    if not argv:
        sys.stdout.write(markdown_table())
        return 0
    with open(argv[0], encoding="utf-8") as f:
        text = f.read()
    updated = replace_readme_table(text)
    if updated != text:
        with open(argv[0], "w", encoding="utf-8") as f:
            f.write(updated)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
