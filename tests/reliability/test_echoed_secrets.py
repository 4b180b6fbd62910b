"""Issue 18, item 3: a credential the server echoes back never leaves in a span.

Servers repeat what they were sent: a 401 says "Incorrect API key provided: <the key>", a
404 says which URL was not found, query string included. The key is then in the SDK's
exception message, so in ``exception.message``, ``exception.stacktrace`` and the status
description, whatever the content-capture setting. The keys here have no telltale shape
(random hex or base64, as Mistral's and many proxies' keys are), so only knowing the exact
values the client was given (``api_key``, ``default_headers``, ``default_query``, Azure
keys and AD tokens) can remove them.

A local HTTP server (127.0.0.1, a free port, stopped at the end of each test) answers every
request with the vendor's documented error JSON, echoing the credential it received; the
real OpenAI, Azure OpenAI, Anthropic and Mistral SDKs call it. The test first checks that
the app's own exception does carry the key (the echo happened: the test can fail), then
that no exported byte of any span does: every attribute, event and status, as
``ReadableSpan.to_json()`` writes them, with content capture on and off.
"""

from __future__ import annotations

import http.server
import json
import os
import secrets
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from weave_agent.tracing import secrets as known_secrets


class EchoServer:
    """Every POST gets ``status`` and the vendor's error body, quoting ``echo(handler)``."""

    def __init__(self) -> None:
        self.status = 401
        self.body: Callable[[str], dict[str, Any]] = openai_error
        self.echo: Callable[[Any], str] = lambda h: ""
        self.requests = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                self.rfile.read(int(self.headers.get("content-length") or 0))
                server.requests += 1
                body = json.dumps(server.body(server.echo(self))).encode()
                self.send_response(server.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.http.server_address[1]
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()


def openai_error(echoed: str) -> dict[str, Any]:
    """OpenAI's documented error object (Azure OpenAI answers the same shape)."""
    return {
        "error": {
            "message": "Incorrect API key provided: %s. You can find your API key at "
            "https://platform.openai.com/account/api-keys." % echoed,
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }


def openai_not_found(echoed: str) -> dict[str, Any]:
    return {"error": {"message": "Invalid URL (POST %s)" % echoed, "type": "invalid_request_error",
                      "param": None, "code": None}}


def anthropic_error(echoed: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key: %s" % echoed}}


def anthropic_not_found(echoed: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": "not_found_error", "message": "Not found: %s" % echoed}}


def mistral_error(echoed: str) -> dict[str, Any]:
    return {"message": "Unauthorized: invalid api key %s" % echoed, "request_id": "req-echo"}


def header(*names: str) -> Callable[[Any], str]:
    """The credential in the first of the request headers ``names`` sent, its scheme
    (``Bearer``) dropped."""

    def echo(handler: Any) -> str:
        sent = [handler.headers.get(name) for name in names if handler.headers.get(name)]
        return sent[0].split(" ")[-1] if sent else ""

    return echo


def path(handler: Any) -> str:
    return str(handler.path)  # as sent: percent-encoded, query string included


@pytest.fixture
def server() -> Iterator[EchoServer]:
    srv = EchoServer()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(params=["SPAN_AND_EVENT", "NO_CONTENT"], ids=["content-on", "content-off"])
def capture(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", request.param)
    return str(request.param)


@pytest.fixture
def traced(capture: str, spans: Any, instrumentation: Any) -> Any:
    """``spans`` with the capture setting above (the env is read when ``spans`` starts the pipeline)."""
    known_secrets.forget()  # each test proves its own client's values are learned
    try:
        yield spans
    finally:
        known_secrets.forget()


def hex_key() -> str:
    return secrets.token_hex(20)  # 40 hex digits: no shape the redaction knows


def b64_key() -> str:
    # '+', '/' and '=' are percent-encoded in a URL: the echo differs from the value given
    return "Ab+/" + secrets.token_urlsafe(24).replace("-", "+").replace("_", "/") + "=="


MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]


def call_and_check(spans: Any, key: str, call: Callable[[], Any]) -> None:
    with pytest.raises(Exception) as raised:
        call()
    # the server did echo it, so without the agent's help the key would be in the span
    assert key in str(raised.value) or urllib.parse.quote(key, safe="") in str(raised.value), str(raised.value)
    found = spans.finished()
    assert found, "the call made no span"
    span = found[-1]
    assert span.status.description, "the error's status description is recorded"
    assert [e for e in span.events if e.name == "exception"], "the exception is recorded"
    forms = {key, urllib.parse.quote(key, safe=""), urllib.parse.quote(key), urllib.parse.quote_plus(key)}
    for s in found:
        exported = s.to_json()
        for form in forms:
            assert form not in exported, "a credential the server echoed left in span %r:\n%s" % (s.name, exported)
        assert "[REDACTED]" in exported  # the message is kept, the key replaced


# --- OpenAI ----------------------------------------------------------------------------------


def test_openai_401_echoing_the_api_key(traced: Any, instrumentation: Any, server: EchoServer) -> None:
    import openai

    instrumentation("openai")
    key = hex_key()
    server.body, server.echo = openai_error, header("authorization")
    client = openai.OpenAI(api_key=key, base_url=server.url + "/v1", max_retries=0)
    call_and_check(traced, key, lambda: client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES))


def test_openai_401_echoing_a_default_header(traced: Any, instrumentation: Any, server: EchoServer) -> None:
    import openai

    instrumentation("openai")
    key = hex_key()
    server.body, server.echo = openai_error, header("x-proxy-api-key")
    client = openai.OpenAI(api_key="unused-key-0000", base_url=server.url + "/v1", max_retries=0,
                           default_headers={"X-Proxy-Api-Key": key})
    call_and_check(traced, key, lambda: client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES))


@pytest.mark.parametrize("make_key", [hex_key, b64_key], ids=["hex", "url-encoded"])
def test_openai_404_echoing_the_url_with_a_default_query_key(
    traced: Any, instrumentation: Any, server: EchoServer, make_key: Callable[[], str]
) -> None:
    import openai

    instrumentation("openai")
    key = make_key()
    server.status, server.body, server.echo = 404, openai_not_found, path
    client = openai.OpenAI(api_key="unused-key-0000", base_url=server.url + "/v1", max_retries=0,
                           default_query={"key": key})
    call_and_check(traced, key, lambda: client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES))


@pytest.mark.asyncio
async def test_async_openai_stream_401(traced: Any, instrumentation: Any, server: EchoServer) -> None:
    import openai

    instrumentation("openai")
    key = hex_key()
    server.body, server.echo = openai_error, header("authorization")
    client = openai.AsyncOpenAI(api_key=key, base_url=server.url + "/v1", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    assert key in str(raised.value)
    for s in traced.finished():
        assert key not in s.to_json()


@pytest.mark.parametrize("credential", ["api_key", "azure_ad_token"])
def test_azure_openai_401_echoing_the_key_or_token(
    traced: Any, instrumentation: Any, server: EchoServer, credential: str
) -> None:
    import openai

    instrumentation("openai")
    key = hex_key()
    server.body = openai_error
    server.echo = header("api-key") if credential == "api_key" else header("authorization")
    client = openai.AzureOpenAI(azure_endpoint=server.url, api_version="2024-10-21", max_retries=0,
                                **{credential: key})
    call_and_check(traced, key, lambda: client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES))


# --- Anthropic -------------------------------------------------------------------------------


def test_anthropic_401_echoing_the_api_key(traced: Any, instrumentation: Any, server: EchoServer) -> None:
    import anthropic

    instrumentation("anthropic")
    key = hex_key()
    server.body, server.echo = anthropic_error, header("x-api-key", "authorization")
    client = anthropic.Anthropic(api_key=key, base_url=server.url, max_retries=0)
    call_and_check(
        traced, key, lambda: client.messages.create(model="claude-sonnet-4-5", max_tokens=16, messages=MESSAGES)
    )


def test_anthropic_404_echoing_the_url_with_a_default_query_key(
    traced: Any, instrumentation: Any, server: EchoServer
) -> None:
    import anthropic

    instrumentation("anthropic")
    key = b64_key()
    server.status, server.body, server.echo = 404, anthropic_not_found, path
    client = anthropic.Anthropic(api_key="unused-key-0000", base_url=server.url, max_retries=0,
                                 default_query={"key": key})
    call_and_check(
        traced, key, lambda: client.messages.create(model="claude-sonnet-4-5", max_tokens=16, messages=MESSAGES)
    )


# --- Mistral ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["complete", "stream"])
def test_mistral_401_echoing_the_api_key(traced: Any, instrumentation: Any, server: EchoServer, method: str) -> None:
    from mistralai.client import Mistral

    instrumentation("mistral")
    key = hex_key()
    server.body, server.echo = mistral_error, header("authorization")
    client = Mistral(api_key=key, server_url=server.url)
    call_and_check(traced, key, lambda: getattr(client.chat, method)(model="mistral-small-latest", messages=MESSAGES))


# --- what the registry will not learn ---------------------------------------------------------


def test_short_values_are_not_learned() -> None:
    """A value shorter than ``MIN_LENGTH`` (``api_key="EMPTY"`` for a local server, an API
    version) would scrub common words out of every message: it is not remembered."""
    known_secrets.forget()
    try:
        known_secrets.remember("EMPTY")
        known_secrets.remember("x" * (known_secrets.MIN_LENGTH - 1))
        assert known_secrets.scrub("EMPTY response from xxxxxxxxxxx") == "EMPTY response from xxxxxxxxxxx"
        known_secrets.remember("k" * known_secrets.MIN_LENGTH)
        assert known_secrets.scrub("key=" + "k" * known_secrets.MIN_LENGTH) == "key=[REDACTED]"
    finally:
        known_secrets.forget()


@pytest.mark.agent_errors_expected
def test_the_agents_own_log_lines_lose_known_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its lines and, in debug mode, the tracebacks they carry (an agent error raised while
    an SDK error quoting the key was being handled)."""
    import logging

    from weave_agent import _log

    key = hex_key()
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(logging.Formatter("%(message)s").format(record))

    handler = Keep()
    logger = logging.getLogger(_log.LOGGER_NAME)
    logger.addHandler(handler)
    monkeypatch.setattr(_log, "_logger", None)
    monkeypatch.setattr(_log, "_debug", True)
    known_secrets.forget()
    known_secrets.remember(key)
    try:
        try:
            try:
                raise PermissionError("Incorrect API key provided: %s" % key)
            except PermissionError as sdk_error:
                raise RuntimeError("the agent failed on %s" % sdk_error) from sdk_error
        except RuntimeError:
            _log.error_once("echoed-secrets-test", "recording %s failed", "x: " + key)
    finally:
        logger.removeHandler(handler)
        _log.set_debug(False)
        known_secrets.forget()
    (line,) = records
    assert "Traceback" in line and "[REDACTED]" in line
    assert key not in line, line


# --- LangChain ---------------------------------------------------------------------------------


def test_langchain_model_whose_key_comes_from_its_variable(
    traced: Any, instrumentation: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A LangChain model that calls its API itself (no instrumented SDK underneath, as
    ``langchain-mistralai`` does): its key is known from the variable its serialized form
    names, so the error its run ends with is scrubbed."""
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import HumanMessage
    from pydantic import SecretStr

    key = hex_key()
    monkeypatch.setenv("ECHO_TEST_API_KEY", key)

    class EchoingChatModel(BaseChatModel):
        echo_api_key: SecretStr

        @property
        def lc_secrets(self) -> dict[str, str]:
            return {"echo_api_key": "ECHO_TEST_API_KEY"}

        @classmethod
        def is_lc_serializable(cls) -> bool:
            return True

        @property
        def _llm_type(self) -> str:
            return "echoing"

        def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
            raise PermissionError("401 Unauthorized: invalid api key %s" % self.echo_api_key.get_secret_value())

    instrumentation("langchain")
    model = EchoingChatModel(echo_api_key=SecretStr(os.environ["ECHO_TEST_API_KEY"]))
    call_and_check(traced, key, lambda: model.invoke([HumanMessage("What is the capital of France?")]))
