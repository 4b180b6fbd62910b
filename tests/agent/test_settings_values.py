"""Bad setting values: one message naming the variable and what it accepts; the agent
keeps running with that part at its default (or, for the exporter, off)."""

from __future__ import annotations

import pytest
from _subproc import SHIM_DIR

from weave_agent.settings import FIELDS_BY_NAME, Settings

APP = """
import json
from weave_agent import lifecycle
from weave_agent.hook import importhook
s = lifecycle.current_settings()
print(json.dumps({
    "started": lifecycle.started(),
    "finder": importhook.installed(),
    "exporter": s.resolved_exporter(),
    "exit_timeout": s.exit_timeout,
    "headers": s.headers,
    "protocol": s.protocol,
}))
"""

BAD = [
    ("WEAVE_AGENT_EXPORTER", "bogus", "accepts one of: otlp, file", {"exporter": "none"}),
    ("WEAVE_AGENT_EXIT_TIMEOUT", "abc", "accepts a number of seconds", {"exit_timeout": 5.0, "exporter": "file"}),
    (
        "OTEL_EXPORTER_OTLP_HEADERS",
        "malformed",
        "accepts comma-separated key=value pairs",
        {"headers": None, "exporter": "none"},
    ),
    (
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "carrier-pigeon",
        "accepts one of: http/protobuf, grpc",
        {"protocol": "http/protobuf", "exporter": "none"},
    ),
]


@pytest.mark.parametrize(("var", "value", "accepts", "expected"), BAD, ids=[b[0] for b in BAD])
def test_bad_value_gives_one_message_and_the_agent_runs(run_py, var, value, accepts, expected):
    res = run_py(APP, pythonpath=[SHIM_DIR], env={var: value}).check()
    out = res.json()
    assert out["started"] is True and out["finder"] is True
    for key, want in expected.items():
        assert out[key] == want, (key, out)
    assert len(res.err_lines) == 1, res
    line = res.err_lines[0]
    assert line.startswith("weave-agent: ") and var in line and accepts in line
    if var == "OTEL_EXPORTER_OTLP_HEADERS":
        assert value not in line  # header values may be secrets: never echoed
    else:
        assert repr(value) in line


def test_several_bad_values_give_one_message_each(run_py):
    env = {var: value for var, value, _, _ in BAD[:3]}
    res = run_py(APP, pythonpath=[SHIM_DIR], env=env).check()
    out = res.json()
    assert (out["started"], out["exporter"], out["exit_timeout"], out["headers"]) == (True, "none", 5.0, None)
    assert sorted(line.split("=", 1)[0] for line in res.err_lines) == sorted("weave-agent: " + var for var in env)


def test_settings_load_reports_each_bad_value_once():
    s = Settings.load(
        {"WEAVE_AGENT_EXIT_TIMEOUT": "abc", "WEAVE_AGENT_SAMPLE_RATIO": "2", "WEAVE_AGENT_DEBUG": "maybe"}
    )
    assert s.exit_timeout == FIELDS_BY_NAME["exit_timeout"].default
    assert s.sample_ratio is None and s.debug is False
    assert len(s.errors) == 3
    assert {e.split("=", 1)[0] for e in s.errors} == {
        "WEAVE_AGENT_EXIT_TIMEOUT",
        "WEAVE_AGENT_SAMPLE_RATIO",
        "WEAVE_AGENT_DEBUG",
    }
    assert all("accepts" in e for e in s.errors)


def test_good_values_give_no_message():
    s = Settings.load(
        {
            "WEAVE_AGENT_EXPORTER": "Console",
            "WEAVE_AGENT_EXIT_TIMEOUT": "0.5",
            "OTEL_EXPORTER_OTLP_HEADERS": "api-key=abc%3D%3D, x-team = ml",
        }
    )
    assert s.errors == []
    assert (s.resolved_exporter(), s.exit_timeout) == ("console", 0.5)
    assert s.headers == {"api-key": "abc==", "x-team": "ml"}


def test_signal_specific_otlp_variables_win_over_the_general_ones():
    s = Settings.load(
        {
            "OTEL_EXPORTER_OTLP_HEADERS": "x-general=1",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-traces=2",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
        }
    )
    assert s.headers == {"x-traces": "2"}
    assert s.protocol == "grpc"
    general_only = Settings.load({"OTEL_EXPORTER_OTLP_HEADERS": "x-general=1", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    assert (general_only.headers, general_only.protocol) == ({"x-general": "1"}, "grpc")


def test_disabled_instrumentations_from_both_variables_add_up():
    s = Settings.load(
        {
            "WEAVE_AGENT_DISABLED_INSTRUMENTATIONS": "OpenAI, anthropic",
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "mistral",
        }
    )
    assert s.disabled == frozenset({"openai", "anthropic", "mistral"})
    assert not s.is_enabled("openai") and not s.is_enabled("Mistral") and s.is_enabled("langchain")
