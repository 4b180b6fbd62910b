"""MCP: one span per operation, client and server in one trace, over every transport.

The fake is a real MCP server built with the SDK (``mcp_server_app.py``): in process
(``mcp.Client(server)`` in its default mode, a ``DirectDispatcher`` without JSON-RPC, and in
``mode="legacy"``, JSON-RPC over in-memory streams), in a subprocess over stdio (the server
runs under ``weave-run``'s bootstrap and writes its spans to files), and over streamable
HTTP on a free 127.0.0.1 port. No cassettes: MCP has no vendor HTTP API, and the peer is
the SDK itself.

The SDK's own spans go to the global TracerProvider: the ``sdk_spans`` fixture makes the
recorder's provider the global one (and the SDK's tracer, which resolves once, its own).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

mcp = pytest.importorskip("mcp")

import anyio  # noqa: E402
from mcp import Client  # noqa: E402
from mcp.client import stdio as stdio_transport  # noqa: E402
from mcp.client.stdio import StdioServerParameters  # noqa: E402
from mcp.server.mcpserver import Context, MCPServer  # noqa: E402
from mcp.shared import _otel as sdk_otel  # noqa: E402
from mcp.shared.exceptions import MCPError  # noqa: E402
from mcp.types import CreateMessageResult, SamplingMessage, TextContent  # noqa: E402
from opentelemetry import trace  # noqa: E402
from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402

from weave_agent.export import telemetry  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(HERE))
import mcp_server_app  # noqa: E402

from weave_agent.instrumentations.mcp import client_span, transports  # noqa: E402
from weave_agent.instrumentations.mcp import mcp as mcp_mod  # noqa: E402

SDK_SCOPE = "mcp-python-sdk"
CONTENT_KEYS = ("gen_ai.tool.call.arguments", "gen_ai.tool.call.result")


@pytest.fixture
def sdk_spans(spans: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The recorder's provider as the global one, so the SDK's own spans are recorded."""
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", spans.provider)
    monkeypatch.setattr(sdk_otel, "_tracer", spans.provider.get_tracer(SDK_SCOPE))
    return spans


@pytest.fixture
def traced(sdk_spans: Any, instrumentation: Any) -> Any:
    instrumentation("mcp")
    return sdk_spans


async def _session(client: Any) -> list[Any]:
    """The operations every transport test makes: a call, two failing calls, a prompt, a resource."""
    out = [await client.call_tool("add", {"a": 2, "b": 3})]
    out.append(await client.call_tool("boom", {"x": 7}))
    out.append(await client.call_tool("refuse", {"reason": "not today"}))
    out.append(await client.get_prompt("review", {"code": "x = 1"}))
    out.append(await client.read_resource("notes://today"))
    return out


def run_in_process(mode: str, fn: Callable[[Any], Any] = _session, server: Any = None) -> Any:
    server = server or mcp_server_app.build()

    async def main() -> Any:
        async with Client(server, mode=mode) as client:
            return await fn(client)

    return anyio.run(main)


def _attrs(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


def _check_results(results: list[Any]) -> None:
    add, boom, refuse, prompt, resource = results
    assert add.is_error is False and add.structured_content == {"result": 5}
    assert boom.is_error is True and "boom" in boom.content[0].text
    assert refuse.is_error is True and refuse.content[0].text == "not today"
    assert prompt.messages[0].content.text == "Please review:\nx = 1"
    assert resource.contents[0].text == "buy milk"


def _one_span_per_operation(spans: Any) -> None:
    """Every client span has exactly one SERVER child of the same name; no SDK client span."""
    finished = spans.finished()
    assert not [s for s in finished if s.name.startswith("MCP send")]
    clients = [s for s in finished if s.kind == SpanKind.CLIENT]
    assert clients and all(s.instrumentation_scope.name == telemetry.SCOPE for s in clients)
    for c in clients:
        children = [s for s in finished if s.parent is not None and s.parent.span_id == c.context.span_id]
        assert [(s.name, s.kind, s.instrumentation_scope.name) for s in children] == [(c.name, SpanKind.SERVER,
                                                                                     SDK_SCOPE)]
        assert children[0].context.trace_id == c.context.trace_id


# --- in process: mcp.Client(server), direct and legacy ----------------------------------------------



SESSION_SHAPE = [
    ("tools/call add", 0), ("tools/call add", 1),
    ("tools/list", 0), ("tools/list", 1),  # the SDK lists tools to validate a structured result
    ("tools/call boom", 0), ("tools/call boom", 1),
    ("tools/call refuse", 0), ("tools/call refuse", 1),
    ("prompts/get review", 0), ("prompts/get review", 1),
    ("resources/read", 0), ("resources/read", 1),
]
# mode -> the handshake's spans: server/discover (2026-07-28), or initialize and the
# notifications/initialized that follows it (legacy; a notification has a client span too)
SHAPES = {
    "auto": [("server/discover", 0), ("server/discover", 1), *SESSION_SHAPE],
    "legacy": [("initialize", 0), ("initialize", 1), ("notifications/initialized", 0),
               ("notifications/initialized", 1), *SESSION_SHAPE],
}
VERSIONS = {"auto": "2026-07-28", "legacy": "2025-11-25"}


def _by(spans: Any, name: str, kind: Any) -> Any:
    found = [s for s in spans.finished() if s.name == name and s.kind == kind]
    assert len(found) == 1, [(s.name, s.kind) for s in spans.finished()]
    return found[0]


def _check_session_spans(spans: Any, mode: str, transport: dict[str, Any], server_transport: dict[str, Any]) -> None:
    assert spans.shape() == SHAPES[mode]
    _one_span_per_operation(spans)
    version = {"mcp.protocol.version": VERSIONS[mode]}
    jsonrpc = {} if mode == "auto" and not transport else {"jsonrpc.request.id": "2"}
    add = _by(spans, "tools/call add", SpanKind.CLIENT)
    assert _attrs(add) == {
        "mcp.method.name": "tools/call", "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "add",
        "gen_ai.tool.call.arguments": '{"a":2,"b":3}', "gen_ai.tool.call.result": '{"result":5}',
        **version, **jsonrpc, **transport,
    }
    assert add.status.status_code == StatusCode.UNSET
    served = _by(spans, "tools/call add", SpanKind.SERVER)
    assert _attrs(served) == {
        "mcp.method.name": "tools/call", "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "add",
        "gen_ai.tool.call.arguments": '{"a":2,"b":3}', "gen_ai.tool.call.result": '{"result":5}',
        "jsonrpc.request.id": "2", **version, **server_transport,
    }
    for name in ("tools/call boom", "tools/call refuse"):
        for kind in (SpanKind.CLIENT, SpanKind.SERVER):
            span = _by(spans, name, kind)
            assert span.status.status_code == StatusCode.ERROR, (name, kind)
            assert _attrs(span)["error.type"] == "tool_error"
            assert "gen_ai.tool.call.result" not in _attrs(span)
    prompt = _by(spans, "prompts/get review", SpanKind.CLIENT)
    assert _attrs(prompt)["gen_ai.prompt.name"] == "review" and "gen_ai.operation.name" not in _attrs(prompt)
    for kind in (SpanKind.CLIENT, SpanKind.SERVER):
        assert _attrs(_by(spans, "resources/read", kind))["mcp.resource.uri"] == "notes://today"
    ok = [s for s in spans.finished() if s.name not in ("tools/call boom", "tools/call refuse")]
    assert all(s.status.status_code == StatusCode.UNSET for s in ok)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Every connection but to the test's own 127.0.0.1 server fails the test."""
    import socket

    attempts: list[Any] = []
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        if isinstance(address, tuple) and address[0] == "127.0.0.1" or isinstance(address, (str, bytes)):
            return real_connect(self, address)
        attempts.append(address)
        raise AssertionError("a test tried to connect to %r" % (address,))

    monkeypatch.setattr(socket.socket, "connect", connect)
    yield attempts
    assert attempts == []


# --- in process: mcp.Client(server), direct (auto) and JSON-RPC over memory streams (legacy) --------


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_in_process_one_trace(traced: Any, mode: str) -> None:
    _check_results(run_in_process(mode))
    _check_session_spans(traced, mode, {}, {})


def test_without_the_agent(sdk_spans: Any) -> None:
    """The baseline the instrumentation fixes: the SDK's client span has another name, no
    gen_ai attributes and no error for a failed tool; in process its server spans are roots."""
    _check_results(run_in_process("legacy"))
    sent = _by(sdk_spans, "MCP send tools/call boom", SpanKind.CLIENT)
    assert "gen_ai.tool.name" not in _attrs(sent) and sent.status.status_code == StatusCode.UNSET
    sdk_spans.clear()
    _check_results(run_in_process("auto"))
    assert {s.kind for s in sdk_spans.finished()} == {SpanKind.SERVER}
    assert all(s.parent is None for s in sdk_spans.finished())


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_jsonrpc_error(traced: Any, mode: str) -> None:
    """A JSON-RPC error: the app gets the SDK's very MCPError; both spans ERROR with its code."""

    async def missing_prompt(client: Any) -> Any:
        with pytest.raises(MCPError) as raised:
            await client.get_prompt("nope", {})
        return raised.value

    error = run_in_process(mode, missing_prompt)
    client = _by(traced, "prompts/get nope", SpanKind.CLIENT)
    code = str(error.error.code)
    assert _attrs(client)["error.type"] == code and _attrs(client)["rpc.response.status_code"] == code
    assert client.status.status_code == StatusCode.ERROR and client.status.description == error.error.message
    server = _by(traced, "prompts/get nope", SpanKind.SERVER)
    # the server's span is the SDK's: the handler's exception class (the dispatcher turns it
    # into the -32603 the client sees after the span ended)
    assert server.parent.span_id == client.context.span_id and _attrs(server)["error.type"] == "ValueError"
    assert server.status.status_code == StatusCode.ERROR


def test_same_results_and_exception_without_the_agent(sdk_spans: Any, instrumentation: Any) -> None:
    async def both(client: Any) -> Any:
        out = [r.model_dump() for r in await _session(client)]
        try:
            await client.get_prompt("nope", {})
        except MCPError as exc:
            out.append((type(exc), exc.error.code, exc.error.message))
        return out

    plain = run_in_process("legacy", both)
    instrumentation("mcp")
    assert run_in_process("legacy", both) == plain


@pytest.mark.filterwarnings("ignore:The sampling capability is deprecated")
def test_server_request_to_the_client(traced: Any) -> None:
    """A request the server sends its client (sampling) is a CLIENT span of the agent under
    the conventions' name (not the SDK's "MCP send ..."), the child of the server span that
    sent it."""
    server = MCPServer("sampling")

    @server.tool()
    async def ask(q: str, ctx: Context) -> str:
        message = SamplingMessage(role="user", content=TextContent(type="text", text=q))
        answer = await ctx.session.create_message(messages=[message], max_tokens=5)
        return answer.content.text

    async def sample(context: Any, params: Any) -> Any:
        return CreateMessageResult(role="assistant", content=TextContent(type="text", text="42"), model="fake")

    async def main() -> Any:
        async with Client(server, mode="legacy", sampling_callback=sample) as client:
            return await client.call_tool("ask", {"q": "?"})

    assert anyio.run(main).content[0].text == "42"
    assert traced.shape()[4:7] == [("tools/call ask", 0), ("tools/call ask", 1), ("sampling/createMessage", 2)]
    sampling = _by(traced, "sampling/createMessage", SpanKind.CLIENT)
    assert sampling.instrumentation_scope.name == telemetry.SCOPE
    assert _attrs(sampling) == {"mcp.method.name": "sampling/createMessage", "jsonrpc.request.id": "1"}


def test_content_off_records_no_content(traced: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import weave_agent.lifecycle as lifecycle
    from weave_agent.settings import Settings

    monkeypatch.setattr(lifecycle, "_settings",
                        Settings.load({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "false"}))
    telemetry.reset()
    telemetry.use_providers(traced.provider, traced.meter_provider)
    _check_results(run_in_process("auto"))
    finished = traced.finished()
    assert len(finished) == len(SHAPES["auto"])
    assert not [k for s in finished for k in _attrs(s) if k in CONTENT_KEYS]


# --- streamable HTTP on 127.0.0.1 -------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_streamable_http_one_trace(traced: Any, mode: str) -> None:
    with mcp_server_app.HttpServer(mcp_server_app.build()) as server:

        async def main() -> Any:
            async with Client(server.url, mode=mode) as client:
                assert len(transports._open) == 1  # the client's write stream, marked while open
                return await _session(client)

        _check_results(anyio.run(main))
    assert transports._open == {} and client_span._request_span.get() is None
    network = {"network.transport": "tcp", "network.protocol.name": "http"}
    session: dict[str, Any] = {}
    if mode == "legacy":  # a stateful session: the server assigned an Mcp-Session-Id
        session_id = _attrs(_by(traced, "tools/call add", SpanKind.SERVER))["mcp.session.id"]
        assert isinstance(session_id, str) and len(session_id) >= 16
        session = {"mcp.session.id": session_id}
    client_side = {**network, "server.address": "127.0.0.1", "server.port": server.port, **session}
    served = _attrs(_by(traced, "tools/call add", SpanKind.SERVER))
    server_side = {**network, "client.address": "127.0.0.1", "client.port": served.get("client.port"), **session}
    _check_session_spans(traced, mode, client_side, server_side)


def test_no_credential_in_anything_exported(traced: Any) -> None:
    """A server that echoes the client's Authorization header into a JSON-RPC error: the
    client span's status and attributes carry no trace of the key the HTTP client holds."""
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    key = "weave-mcp-token-7f3a9c"  # no secret shape: only the remembered value can catch it
    with mcp_server_app.HttpServer(mcp_server_app.build()) as server:

        async def main() -> Any:
            async with httpx2.AsyncClient(headers={"Authorization": "Token " + key}) as http:
                async with Client(streamable_http_client(server.url, http_client=http), mode="legacy") as client:
                    with pytest.raises(MCPError) as raised:
                        await client.get_prompt("whoami", {})
                    return raised.value

        error = anyio.run(main)
    assert key in error.error.message  # the app gets the server's message as it is
    span = _by(traced, "prompts/get whoami", SpanKind.CLIENT)
    assert span.status.status_code == StatusCode.ERROR and span.status.description
    exported = [span.status.description, *map(str, _attrs(span).values())]
    exported += [str(v) for e in span.events for v in (e.attributes or {}).values()]
    assert not [text for text in exported if key in text]


# --- stdio: the server in a subprocess, under weave-run's bootstrap -----------------------------------


def _bootstrap_env(traces: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEAVE_AGENT_", "OTEL_", "PYTHON", "PYTEST_"))}
    env.update(PYTHONPATH=str(REPO / "sitecustomize_shim"), WEAVE_AGENT_EXPORTER="file",
               WEAVE_AGENT_TRACES_DIR=str(traces), WEAVE_AGENT_QUIET="true")
    return env


def _file_spans(folder: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted(folder.glob("traces-*")):
        for line in path.read_text().splitlines():
            for rs in json.loads(line).get("resourceSpans", ()):
                for ss in rs.get("scopeSpans", ()):
                    for span in ss.get("spans", ()):
                        attrs = {a["key"]: next(iter(a["value"].values())) for a in span.get("attributes", ())}
                        found.append({"scope": ss["scope"]["name"], "name": span["name"], "kind": span.get("kind"),
                                      "trace": span["traceId"], "parent": span.get("parentSpanId", ""),
                                      "id": span["spanId"], "attributes": attrs,
                                      "status": span.get("status", {}).get("code")})
    return found


def test_stdio_two_processes_one_trace(traced: Any, tmp_path: Path) -> None:
    params = StdioServerParameters(command=sys.executable, args=[str(HERE / "mcp_server_app.py"), "stdio"],
                                   env=_bootstrap_env(tmp_path))

    async def main() -> Any:
        # the transport by its module attribute: the name the agent rebinds (a test-time
        # ``from mcp.client.stdio import stdio_client`` would hold the original)
        async with Client(stdio_transport.stdio_client(params)) as client:
            return await _session(client)

    _check_results(anyio.run(main))
    clients = traced.finished()
    assert traced.shape() == [(name, 0) for name, depth in SHAPES["auto"] if depth == 0]
    assert all(s.kind == SpanKind.CLIENT and _attrs(s)["network.transport"] == "pipe" for s in clients)
    served = _file_spans(tmp_path)
    # one SERVER span per client span, the SDK's, each the child of its client span (across processes)
    assert sorted((s["name"], s["scope"]) for s in served) == sorted((c.name, SDK_SCOPE) for c in clients)
    for c in clients:
        (child,) = [s for s in served if s["parent"] == "%016x" % c.context.span_id]
        assert child["name"] == c.name and child["trace"] == "%032x" % c.context.trace_id
        assert child["attributes"]["network.transport"] == "pipe"
    boom = [s for s in served if s["name"] == "tools/call boom"][0]
    assert boom["attributes"]["error.type"] == "tool_error" and boom["status"] == 2  # STATUS_CODE_ERROR


# --- the first MCP operation of a fresh process, under the bootstrap -----------------------------------

_FIRST_CALL = """
import sys, anyio
sys.path.insert(0, {here!r})
import mcp_server_app
from mcp import Client

async def main():
    async with Client(mcp_server_app.build()) as client:
        await client.call_tool("add", {{"a": 1, "b": 2}})

anyio.run(main)
"""


def test_first_operation_of_a_process_is_traced_with_its_children(tmp_path: Path) -> None:
    """The agent's pipeline starts on the first span of one of its integrations; the SDK's
    server spans of that very first operation are children of it, not dropped."""
    done = subprocess.run([sys.executable, "-c", _FIRST_CALL.format(here=str(HERE))], env=_bootstrap_env(tmp_path),
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    found = _file_spans(tmp_path)
    ids = {s["id"]: s for s in found}
    pairs = sorted((s["name"], s["scope"], ids[s["parent"]]["name"] if s["parent"] else None) for s in found)
    assert pairs == [
        ("server/discover", SDK_SCOPE, "server/discover"),
        ("server/discover", telemetry.SCOPE, None),
        ("tools/call add", SDK_SCOPE, "tools/call add"),
        ("tools/call add", telemetry.SCOPE, None),
        ("tools/list", SDK_SCOPE, "tools/list"),
        ("tools/list", telemetry.SCOPE, None),
    ]
    assert len({s["trace"] for s in found}) == 3


# --- patching: unpatch, version range, unknown structure --------------------------------------------------


def _originals() -> dict[str, Any]:
    import mcp.client.client as client_module
    import mcp.client.session as session_module
    import mcp.client.stdio as stdio_module
    import mcp.server._otel as server_otel
    import mcp.shared.jsonrpc_dispatcher as jsonrpc

    return {
        "send_request": vars(session_module.ClientSession)["send_request"],
        "send_discover": vars(session_module.ClientSession)["send_discover"],
        "send_notification": vars(session_module.ClientSession)["send_notification"],
        "notify": vars(jsonrpc.JSONRPCDispatcher)["notify"],
        "otel_span": vars(jsonrpc)["otel_span"],
        "middleware": vars(server_otel.OpenTelemetryMiddleware)["__call__"],
        "stdio_client": vars(stdio_module)["stdio_client"],
        "client_stdio_client": vars(client_module).get("stdio_client"),
        "mcp_stdio_client": vars(mcp)["stdio_client"],
    }


def test_unpatch_restores_every_original(sdk_spans: Any) -> None:
    from weave_agent import patch, unpatch

    before = _originals()
    patch(mcp=True)
    try:
        during = _originals()
        changed = [k for k in before if before[k] is not None]
        assert all(during[k] is not before[k] for k in changed), [k for k in changed if during[k] is before[k]]
    finally:
        unpatch("mcp")
    after = _originals()
    assert all(after[k] is before[k] for k in before)
    _check_results(run_in_process("legacy"))
    assert {s.instrumentation_scope.name for s in sdk_spans.finished()} == {SDK_SCOPE}


def test_version_range() -> None:
    from weave_agent.hook.registry import builtin, supports

    row = builtin()["mcp"]
    assert row.triggers == mcp_mod.TRIGGERS and row.distribution == "mcp"
    assert supports(row, "2.3.0") and supports(row, "2.3.5")
    assert supports(row, "2.2.0") is False and supports(row, "3.0.0") is False


def test_outside_the_range_declines_with_one_debug_line(
        sdk_spans: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from weave_agent import patch, unpatch
    from weave_agent.hook import arming

    before = _originals()
    monkeypatch.setattr(arming, "installed_version", lambda dist: "2.2.0" if dist == "mcp" else None)
    with caplog.at_level(logging.DEBUG, logger="weave_agent"):
        patch(mcp=True)
    try:
        assert _originals() == before
        lines = [r.getMessage() for r in caplog.records if "mcp" in r.getMessage()]
        assert lines == ["weave-agent: mcp 2.2.0 is not supported (supported: >=2.3,<3): not patched"]
        _check_results(run_in_process("auto"))
        assert {s.instrumentation_scope.name for s in sdk_spans.finished()} == {SDK_SCOPE}
    finally:
        unpatch("mcp")


def test_without_the_sdk_span_hook_the_client_side_declines(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """An SDK whose own client span is not where the agent switches it off: the session is
    left unpatched (never two client spans), with one debug line."""
    import mcp.shared.jsonrpc_dispatcher as jsonrpc

    from weave_agent.patcher import ModulePatcher

    monkeypatch.delattr(jsonrpc, "otel_span")
    patcher = ModulePatcher(mcp_mod.SESSION_MODULE, mcp_mod._session_patchers, mcp_mod._session_missing)
    with caplog.at_level(logging.DEBUG, logger="weave_agent"):
        assert patcher.attempt_patch() is False
    lines = [r.getMessage() for r in caplog.records if mcp_mod.SESSION_MODULE in r.getMessage()]
    assert len(lines) == 1 and "otel_span" in lines[0]
    patcher.undo_patch()
