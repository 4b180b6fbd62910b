"""Section 6 of issue 9: nothing secret leaves, big values stay bounded, odd objects are harmless.

* Secrets: a real app (``_secrets_app.py``) runs under the agent (the sitecustomize shim)
  with content capture at its most revealing (``SPAN_AND_EVENT``), calls OpenAI, Anthropic
  and Mistral through their real SDKs against the local fake servers, and exports OTLP
  http/protobuf (traces and metrics) to a receiver that keeps the raw bytes; a second run
  writes the local OTLP-JSON files. Every byte that left (and the agent's debug log) is
  scanned for every secret of the run (fresh random values, so a hit cannot be a fixture).
* Size: a 10 MB prompt and base64 images end as bounded, valid JSON attributes with the
  truncation marker, quickly, and the SDK result is the one the app gets without the agent.
* Odd objects: arguments, returns and SDK kwargs whose ``repr``, iteration, properties or
  attribute access raise, lie or hang never break or hang the call.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import string
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from _secrets_capture import CaptureServer
from _subproc import SHIM_DIR, run_python

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
FAKES = REPO / "tests" / "instrumentations"
for _vendor in ("openai", "anthropic", "mistral"):
    if str(FAKES / _vendor) not in sys.path:
        sys.path.insert(0, str(FAKES / _vendor))

from fake_anthropic_server import FakeAnthropicServer  # noqa: E402
from fake_mistral_server import FakeMistralServer  # noqa: E402
from fake_openai_server import FakeOpenAIServer  # noqa: E402

_ALNUM = string.ascii_letters + string.digits


def _rand(n: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


def _make_secrets() -> dict[str, str]:
    """Fresh values per run, in the shapes real credentials have."""
    s = {
        # vendor credentials (never content): the real shapes
        "openai_env": "sk-proj-" + _rand(48),
        "openai_arg": "sk-proj-" + _rand(48),
        "openai_default_header": _rand(32),
        "openai_org": "org-" + _rand(24),
        "openai_extra_auth": "sk-svcacct-" + _rand(40),
        "openai_extra_xkey": _rand(40),
        "openai_invalid": "sk-invalid-" + _rand(40),
        "anthropic_env": "sk-ant-api03-" + _rand(80),
        "anthropic_arg": "sk-ant-api03-" + _rand(80),
        "anthropic_default_header": _rand(36),
        "anthropic_extra": "sk-ant-api03-" + _rand(80),
        "mistral_env": _rand(32),  # Mistral keys are 32 letters and digits: no telltale shape
        "mistral_arg": _rand(32),
        "mistral_header": _rand(32),
        "otlp_header_bearer": _rand(40),
        "otlp_header_team": _rand(32),
        "wandb_env": _rand(40).lower(),
        # key-shaped values inside content: redacted by shape
        "system_bearer": _rand(40),
        "prompt_openai_key": "sk-proj-" + _rand(48),
        "prompt_responses_key": "sk-" + _rand(48),
        "system_ant_key": "sk-ant-api03-" + _rand(60),
        "prompt_ant_key": "sk-ant-api03-" + _rand(60),
        "prompt_mi_key": "sk-" + _rand(40),
        # op arguments and results: redacted by key name, or by shape
        "op_password": _rand(20),
        "op_api_key": _rand(40),
        "op_bearer": _rand(40),
        "op_basic": _rand(24),
        "op_header_key": _rand(40),
        "op_cookie": _rand(32),
        "op_config_key": _rand(40),
        "op_config_token": _rand(40),
        "op_kw_key": _rand(40),
        "op_client_secret": _rand(40),
        "op_return_token": _rand(40),
        "op_return_shaped": "sk-" + _rand(40),
        "op_prompt_key": "sk-proj-" + _rand(48),
        "op_exception_key": "sk-proj-" + _rand(48),
    }
    return s


def _fragments(secret: str) -> list[str]:
    """The secret's random part, and every 16-character window of it: a key cut in two
    by truncation leaks as surely as a whole one."""
    core = secret.split("-")[-1] if secret.startswith(("sk-", "org-")) else secret
    width = 16
    return [core] + [core[i : i + width] for i in range(0, max(1, len(core) - width + 1))]


def _leaks(blobs: dict[str, bytes], secret_values: dict[str, str]) -> list[str]:
    found = []
    for name, secret in secret_values.items():
        for frag in _fragments(secret):
            needle = frag.encode()
            for where, blob in blobs.items():
                if needle in blob:
                    found.append("%s (%r...) in %s" % (name, frag[:6], where))
                    break
            else:
                continue
            break
    return found


# --- secrets ----------------------------------------------------------------------------


def _spans_of(bodies: list[bytes]) -> list[Any]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    spans = []
    for body in bodies:
        req = ExportTraceServiceRequest()
        req.ParseFromString(body)
        for rs in req.resource_spans:
            for ss in rs.scope_spans:
                spans.extend(ss.spans)
    return spans


def _attrs(span: Any) -> dict[str, Any]:
    out = {}
    for kv in span.attributes:
        v = kv.value
        out[kv.key] = getattr(v, v.WhichOneof("value")) if v.WhichOneof("value") else None
    return out


@pytest.fixture(scope="module")
def secret_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the app twice (OTLP to the capturing receiver; the local file exporter) with
    fresh secrets; everything the tests below scan."""
    tmp = tmp_path_factory.mktemp("secrets")
    values = _make_secrets()
    with FakeOpenAIServer(lifetime=90) as oa, FakeAnthropicServer(lifetime=90) as an, \
            FakeMistralServer(api_keys=(values["mistral_env"], values["mistral_arg"]), max_lifetime=90) as mi, \
            CaptureServer(lifetime=90) as otlp:
        plan = tmp / "plan.json"
        plan.write_text(json.dumps({
            "secrets": values,
            "urls": {"openai": oa.openai_base_url, "anthropic": an.url, "mistral": mi.url},
        }))
        env = {
            "OPENAI_API_KEY": values["openai_env"],
            "ANTHROPIC_API_KEY": values["anthropic_env"],
            "MISTRAL_API_KEY": values["mistral_env"],
            "WANDB_API_KEY": values["wandb_env"],
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_AND_EVENT",
            "WEAVE_AGENT_DEBUG": "true",
            "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%%20%s,x-team=%s"
            % (values["otlp_header_bearer"], values["otlp_header_team"]),
        }
        runs = {}
        for exporter in ("otlp", "file"):
            run_env = dict(env, WEAVE_AGENT_EXPORTER=exporter, WEAVE_AGENT_TRACES_DIR=str(tmp / "traces"))
            if exporter == "otlp":
                run_env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp.url
            runs[exporter] = run_python(args=[str(HERE / "_secrets_app.py"), str(plan)], pythonpath=[SHIM_DIR],
                                        env=run_env, cwd=tmp, timeout=60)
        captured = otlp.requests()
    files = {str(p): p.read_bytes() for p in (tmp / "traces").rglob("*") if p.is_file()}
    return {"secrets": values, "runs": runs, "captured": captured, "files": files}


def test_the_app_ran_and_every_call_was_exported(secret_run: dict[str, Any]) -> None:
    """The scan below is only worth something if the spans, their content and the metrics
    really went out: a run that exported nothing would pass it trivially."""
    for name, result in secret_run["runs"].items():
        result.check()
        out = result.json()
        assert out["openai_401"] and out["fails"] and out["login"] == "alice", (name, out)
        assert out["openai_chat"] and out["anthropic_create"] and out["mistral_complete"], (name, out)
        assert out["ask"] is True and out["openai_stream"] and out["anthropic_stream"], (name, out)
    paths = {c.path for c in secret_run["captured"]}
    assert paths == {"/v1/traces", "/v1/metrics", "/v1/logs"}, paths  # logs: the content events
    spans = _spans_of([c.body for c in secret_run["captured"] if c.path == "/v1/traces"])
    names = sorted(s.name for s in spans)
    providers = {_attrs(s).get("gen_ai.provider.name") for s in spans}
    assert {"openai", "anthropic", "mistral_ai"} <= providers, names
    assert {"login", "ask", "fails"} <= set(names), names
    with_content = [s for s in spans if "gen_ai.input.messages" in _attrs(s)]
    assert len(with_content) >= 6, names  # capture was on
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    events = [r.event_name for c in secret_run["captured"] if c.path == "/v1/logs"
              for rl in ExportLogsServiceRequest.FromString(c.body).resource_logs
              for sl in rl.scope_logs for r in sl.log_records]
    assert "gen_ai.client.inference.operation.details" in events
    login = json.loads(next(_attrs(s) for s in spans if s.name == "login")["input.value"])
    assert login["user"] == "alice" and login["password"] == login["api_key"] == "[REDACTED]", login
    assert secret_run["files"], "the file exporter wrote nothing"


def test_no_secret_in_any_exported_byte(secret_run: dict[str, Any]) -> None:
    """Raw OTLP bodies (traces and metrics, gunzipped when compressed) and the local files."""
    blobs = {"%s #%d" % (c.path, i): c.body for i, c in enumerate(secret_run["captured"])}
    blobs.update({"raw " + k: c.raw for k, c in zip(blobs, secret_run["captured"], strict=True)})
    blobs.update(secret_run["files"])
    assert _leaks(blobs, secret_run["secrets"]) == []


def test_no_secret_in_the_agents_own_log(secret_run: dict[str, Any]) -> None:
    """With ``WEAVE_AGENT_DEBUG`` on, stderr says what the agent did and how it is
    configured (exporter headers included): never with the values."""
    blobs = {}
    for name, result in secret_run["runs"].items():
        blobs[name + " stderr"] = result.stderr.encode()
        blobs[name + " stdout"] = result.stdout.encode()
    assert _leaks(blobs, secret_run["secrets"]) == []


def test_the_exporter_headers_reach_the_trace_server_only_as_headers(secret_run: dict[str, Any]) -> None:
    """OTEL_EXPORTER_OTLP_HEADERS are the trace server's credentials: sent as HTTP headers
    (that is their job), never inside a payload."""
    s = secret_run["secrets"]
    for c in secret_run["captured"]:
        assert c.headers.get("authorization") == "Bearer " + s["otlp_header_bearer"]
        assert c.headers.get("x-team") == s["otlp_header_team"]


# --- size -------------------------------------------------------------------------------

# Answers as the APIs document them (shapes copied from the cassettes beside the vendor tests).
OPENAI_CHAT = {
    "id": "chatcmpl-LKbfCR8IMFgVPBXgXHp9T1NEStGXH", "object": "chat.completion", "created": 1750000000,
    "model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_0000000000",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "A cat.", "refusal": None},
                 "logprobs": None, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
}
ANTHROPIC_MESSAGE = {
    "model": "claude-haiku-4-5-20251001", "id": "msg_01BjSY1DQa14j0rH9hTTeDv2", "type": "message",
    "role": "assistant", "content": [{"type": "text", "text": "A cat."}], "stop_reason": "end_turn",
    "stop_sequence": None, "usage": {"input_tokens": 25, "output_tokens": 3},
}
LIMIT = 20_000  # WEAVE_AGENT_MAX_VALUE_SIZE for these tests: not the default, so the setting is proven read
MARKER_ROOM = 64  # the truncation marker and the closing of the JSON document
CONTENT_ATTRS = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions",
                 "gen_ai.tool.definitions", "input.value", "output.value")
_RELEASE = threading.Event()  # set at module end: lets any thread a hanging object caught go


class _Transport:
    """A ``MockTransport`` that answers ``body`` and keeps the raw requests (``httpx`` for
    OpenAI, ``httpx2`` for Anthropic, which refuses the other's objects)."""

    def __init__(self, body: dict[str, Any], http: Any = httpx) -> None:
        self.body = body
        self.http = http
        self.seen: list[bytes] = []

    def handler(self, request: Any) -> Any:
        self.seen.append(request.read())
        return self.http.Response(200, json=self.body, headers={"content-type": "application/json"})

    def client(self) -> Any:
        return self.http.Client(transport=self.http.MockTransport(self.handler))


def _openai(transport: _Transport) -> Any:
    import openai

    return openai.OpenAI(api_key="sk-test-0000", base_url="http://127.0.0.1:9/v1", max_retries=0,
                         http_client=transport.client())


def _anthropic_transport(body: dict[str, Any] = ANTHROPIC_MESSAGE) -> _Transport:
    import httpx2

    return _Transport(body, httpx2)


def _anthropic(transport: _Transport) -> Any:
    import anthropic

    return anthropic.Anthropic(api_key="sk-ant-test-0000", base_url="http://127.0.0.1:9", max_retries=0,
                               http_client=transport.client())


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEAVE_AGENT_MAX_VALUE_SIZE", str(LIMIT))
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_AND_EVENT")


@pytest.fixture
def recorder(limits: None, spans: Any, instrumentation: Any) -> Any:
    """``spans`` with the settings above; ``recorder.enable("openai")`` patches mid-test, so a
    test can make the same call untraced first and compare."""
    spans.enable = instrumentation
    return spans


def _exportable(spans: list[Any]) -> None:
    """The spans go through the real OTLP protobuf encoder: an unencodable attribute would
    make the exporter drop the whole batch."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    assert encode_spans(spans).SerializeToString()


def _check_bounded(span: Any) -> dict[str, Any]:
    """Every content attribute (span and event): at most LIMIT plus the marker, valid JSON."""
    docs: dict[str, Any] = {}
    sources = [dict(span.attributes or {})] + [dict(e.attributes or {}) for e in span.events]
    for attrs in sources:
        for key, value in attrs.items():
            if isinstance(value, str):
                assert len(value) <= LIMIT + MARKER_ROOM, (key, len(value))
            if key in CONTENT_ATTRS:
                docs[key] = json.loads(value)
    return docs


def _strings(value: Any) -> list[str]:
    """Every string in a structured value (the content event's maps and lists)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _strings(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _strings(v)]
    return []


def test_a_10mb_prompt_is_bounded_valid_json_quickly_and_the_call_is_unchanged(recorder: Any) -> None:
    prompt = ("The quick brown fox jumps over the lazy dog. " * 240_000)[:10_000_000]
    kwargs = {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": prompt},
                                                   {"role": "user", "content": prompt}]}
    bare = _Transport(OPENAI_CHAT)
    t0 = time.perf_counter()
    untraced = _openai(bare).chat.completions.create(**kwargs)
    bare_time = time.perf_counter() - t0
    recorder.enable("openai")
    seen = _Transport(OPENAI_CHAT)
    t0 = time.perf_counter()
    traced = _openai(seen).chat.completions.create(**kwargs)
    traced_time = time.perf_counter() - t0
    assert traced.model_dump() == untraced.model_dump()
    assert seen.seen == bare.seen  # the request on the wire is the one the app made
    span = recorder.one()
    docs = _check_bounded(span)
    (event,) = recorder.logs("gen_ai.client.inference.operation.details")
    assert all(len(text) <= LIMIT + MARKER_ROOM for text in _strings(dict(event.attributes)))
    system, user = docs["gen_ai.input.messages"]  # the system message stays in the history
    assert system["role"] == "system" and user["role"] == "user"
    user_text = user["parts"][0]["content"]
    assert "truncated" in user_text and user_text.startswith("The quick brown fox")
    assert "truncated" in system["parts"][0]["content"]
    _exportable(recorder.finished())
    # The agent's share is a few cuts of 20 KB, not a pass over 10 MB per character.
    assert traced_time - bare_time < 2.0, (traced_time, bare_time)


def test_an_op_with_10mb_arguments_and_result(recorder: Any) -> None:
    import weave_agent

    @weave_agent.op
    def summarize(text: str, notes: list[str]) -> str:
        return text + "!"

    text = "é\"\n\\" * 2_500_000  # every character escapes or is not ASCII: the JSON grows
    notes = ["x" * 100_000] * 100
    t0 = time.perf_counter()
    out = summarize(text, notes)
    elapsed = time.perf_counter() - t0
    assert out == text + "!"
    docs = _check_bounded(recorder.one())
    assert isinstance(docs["input.value"], (dict, str)) and isinstance(docs["output.value"], str)
    assert "truncated" in json.dumps(docs, ensure_ascii=False)
    _exportable(recorder.finished())
    assert elapsed < 2.0, elapsed


@pytest.mark.parametrize("size", [1_000_000, 10_000_000])
def test_serializing_is_linear_not_quadratic(size: int) -> None:
    """to_json of a value N bytes big costs what its first LIMIT characters cost."""
    from weave_agent.tracing.serialize import to_json

    value = {"messages": [{"role": "user", "content": "a🙂\"" * (size // 3)}] * 3, "blob": "b" * size}
    t0 = time.perf_counter()
    text = to_json(value, LIMIT)
    elapsed = time.perf_counter() - t0
    assert len(text) <= LIMIT + MARKER_ROOM and "truncated" in text
    json.loads(text)
    assert elapsed < 0.5, elapsed


def _image_b64(nbytes: int) -> str:
    return base64.b64encode(os.urandom(nbytes)).decode()


def test_a_base64_image_in_openai_content_never_leaves_as_base64(recorder: Any) -> None:
    data = _image_b64(3_000_000)
    messages = [{"role": "user", "content": [
        {"type": "text", "text": "What is in this image?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + data, "detail": "low"}},
    ]}]
    untraced = _openai(_Transport(OPENAI_CHAT)).chat.completions.create(model="gpt-4o-mini", messages=messages)
    recorder.enable("openai")
    traced = _openai(_Transport(OPENAI_CHAT)).chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert traced.model_dump() == untraced.model_dump()
    span = recorder.one()
    docs = _check_bounded(span)
    parts = docs["gen_ai.input.messages"][0]["parts"]
    assert parts[1] == {"type": "generic", "generic_type": "blob", "modality": "image", "mime_type": "image/png",
                        "byte_size": 3_000_000}
    assert data[:64] not in json.dumps(docs)
    _exportable(recorder.finished())


def test_a_base64_image_in_an_anthropic_block_never_leaves_as_base64(recorder: Any) -> None:
    data = _image_b64(3_000_000)
    messages = [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": data}},
        {"type": "text", "text": "Describe it."},
    ]}]
    kwargs = {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": messages}
    untraced = _anthropic(_anthropic_transport()).messages.create(**kwargs)
    recorder.enable("anthropic")
    traced = _anthropic(_anthropic_transport()).messages.create(**kwargs)
    assert traced.model_dump() == untraced.model_dump()
    docs = _check_bounded(recorder.one())
    parts = docs["gen_ai.input.messages"][0]["parts"]
    assert parts[0] == {"type": "generic", "generic_type": "blob", "modality": "image", "mime_type": "image/jpeg",
                        "byte_size": 3_000_000}
    assert data[:64] not in json.dumps(docs)
    _exportable(recorder.finished())


def test_a_base64_image_given_to_an_op_is_cut(recorder: Any) -> None:
    import weave_agent

    url = "data:image/png;base64," + _image_b64(3_000_000)

    @weave_agent.op
    def caption(image_url: str) -> str:
        return "a cat"

    assert caption(url) == "a cat"
    docs = _check_bounded(recorder.one())
    assert docs["input.value"]["image_url"].startswith("data:image/png;base64,")
    assert "truncated" in docs["input.value"]["image_url"]


def test_a_key_cut_by_the_cap_leaves_no_prefix() -> None:
    """Redaction runs before the cut: a key straddling the cut would otherwise lose its
    shape with its tail (``sk-proj-`` + 12 characters is no longer key-shaped) and leave
    with its head."""
    from weave_agent.tracing.serialize import to_json

    filler = "a" * (3 * LIMIT)
    kept = json.loads(to_json({"prompt": filler}, LIMIT))["prompt"].index("…")  # where the cut lands
    for inside in (4, 12, 20, 40):  # characters of the key before the cut
        key = "sk-proj-" + _rand(48)
        prompt = filler[: kept - inside] + key + filler
        text = to_json({"prompt": prompt}, LIMIT)
        assert "truncated" in text
        core = key[len("sk-proj-"):]
        assert not any(core[i : i + 6] in text for i in range(len(core) - 5)), (inside, text[-120:])


def test_lone_surrogates_do_not_cost_the_batch(recorder: Any) -> None:
    """A string from ``surrogateescape`` decoding or half an emoji is a valid Python str the
    SDK sends fine; the attribute must still be UTF-8 encodable for the OTLP encoder."""
    import weave_agent

    @weave_agent.op
    def echo(text: str) -> str:
        return text

    broken = "file name caf\udce9.txt and half an emoji \ud83d"
    assert echo(broken) is broken
    recorder.enable("openai")
    kwargs = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": broken}]}
    with pytest.raises(UnicodeEncodeError):  # the SDK refuses it, with or without the agent
        _openai(_Transport(OPENAI_CHAT)).chat.completions.create(**kwargs)
    assert len(recorder.finished()) == 2
    _exportable(recorder.finished())
    docs = _check_bounded(next(s for s in recorder.finished() if s.name.endswith("echo")))
    assert docs["input.value"]["text"].startswith("file name caf")


# --- odd objects --------------------------------------------------------------------------

HANG = 3600.0


def _hang() -> None:
    _RELEASE.wait(HANG)


class SleepyRepr:
    def __init__(self) -> None:
        self.visible = 1

    def __repr__(self) -> str:
        _hang()
        return "never"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        _hang()
        return "never"


class RaisingIter(list):  # type: ignore[type-arg]
    def __iter__(self) -> Any:
        raise RuntimeError("iter bug")


class HangingIterSet(set):  # type: ignore[type-arg]
    def __iter__(self) -> Any:
        while True:
            _hang()
            yield 1


class RaisingItems(dict):  # type: ignore[type-arg]
    def items(self) -> Any:
        raise RuntimeError("items bug")

    def keys(self) -> Any:
        raise RuntimeError("keys bug")

    def get(self, *args: Any) -> Any:
        raise RuntimeError("get bug")


class PropertyRaises:
    def __init__(self) -> None:
        self.name = "p"

    @property
    def value(self) -> Any:
        raise RuntimeError("property bug")

    @property
    def role(self) -> Any:
        raise RuntimeError("property bug")


class LyingLen(list):  # type: ignore[type-arg]
    def __len__(self) -> int:
        return 10**12


class LyingLenDict(dict):  # type: ignore[type-arg]
    def __len__(self) -> int:
        return 10**12


class SelfGetattr:
    """Every attribute it does not have is itself (mocks, lazy proxies, some ORMs)."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        return self


class HangingGetattr:
    __slots__ = ("label",)

    def __init__(self) -> None:
        self.label = "x"

    def __getattr__(self, name: str) -> Any:
        _hang()
        raise AttributeError(name)


class RaisingDictAttr:
    @property
    def __dict__(self) -> Any:  # type: ignore[override]
        raise RuntimeError("__dict__ bug")


class WeirdInt(int):
    def __int__(self) -> int:
        raise RuntimeError("int bug")

    def __repr__(self) -> str:
        _hang()
        return "never"


def _recursive() -> Any:
    d: dict[str, Any] = {"name": "loop"}
    d["self"] = d
    lst: list[Any] = [d]
    lst.append(lst)
    d["list"] = lst
    o = PropertyRaises()
    o.me = o  # type: ignore[attr-defined]
    d["obj"] = o
    return d


ODD = {
    "sleepy_repr": SleepyRepr,
    "raising_iter": lambda: RaisingIter([1, 2]),
    "hanging_iter_set": lambda: HangingIterSet({1, 2}),
    "raising_items": lambda: RaisingItems(a=1),
    "property_raises": PropertyRaises,
    "lying_len": lambda: LyingLen([1, 2, 3]),
    "lying_len_dict": lambda: LyingLenDict(a=1),
    "self_getattr": SelfGetattr,
    "hanging_getattr": HangingGetattr,
    "raising_dict_attr": RaisingDictAttr,
    "weird_int": lambda: WeirdInt(7),
    "recursive": _recursive,
}


def _within(seconds: float, fn: Any) -> Any:
    """``fn()`` in a thread; fails fast (not after an hour) if it does not return in time."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "the call hung (still running after %.0f s)" % seconds
    return box


@pytest.fixture(scope="module", autouse=True)
def _release_hung_threads() -> Any:
    yield
    _RELEASE.set()


@pytest.mark.parametrize("kind", sorted(ODD))
def test_odd_objects_as_op_arguments_and_results(recorder: Any, kind: str) -> None:
    import weave_agent

    @weave_agent.op
    def handle(arg: Any, *rest: Any, **extra: Any) -> Any:
        return arg

    value = ODD[kind]()
    box = _within(5, lambda: handle(value, [value], {"k": value}, also=value))
    assert "error" not in box, box.get("error")
    assert box["value"] is value  # the very object, untouched
    span = recorder.one()
    docs = _check_bounded(span)
    assert set(docs) == {"input.value", "output.value"}, docs  # recorded, as a placeholder at worst
    _exportable(recorder.finished())


def _same_outcome(untraced: dict[str, Any], traced: dict[str, Any]) -> None:
    assert set(untraced) == set(traced), (untraced, traced)
    if "error" in untraced:
        assert type(traced["error"]) is type(untraced["error"]), (traced["error"], untraced["error"])
    else:
        assert traced["value"].model_dump() == untraced["value"].model_dump()


def _openai_call(value: Any, where: str) -> Any:
    def call() -> Any:
        transport = _Transport(OPENAI_CHAT)
        kwargs: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        if where == "metadata":
            kwargs["metadata"] = {"k": value}
        elif where == "extra_body":
            kwargs["extra_body"] = {"odd": value}
        elif where == "content":
            kwargs["messages"] = [{"role": "user", "content": value}]
        elif where == "message":
            kwargs["messages"] = [value]
        elif where == "tools":
            kwargs["tools"] = [value]
        return _openai(transport).chat.completions.create(**kwargs)

    return call


def _anthropic_call(value: Any, where: str) -> Any:
    def call() -> Any:
        kwargs: dict[str, Any] = {"model": "claude-haiku-4-5", "max_tokens": 32,
                                  "messages": [{"role": "user", "content": "hi"}]}
        if where == "metadata":
            kwargs["metadata"] = {"user_id": value}
        elif where == "extra_body":
            kwargs["extra_body"] = {"odd": value}
        elif where == "content":
            kwargs["messages"] = [{"role": "user", "content": value}]
        elif where == "message":
            kwargs["messages"] = [value]
        elif where == "tools":
            kwargs["tools"] = [value]
        return _anthropic(_anthropic_transport()).messages.create(**kwargs)

    return call


# Not "hanging_getattr": the extractors read request fields with getattr, so a __getattr__
# that blocks blocks them (as it blocks the SDK's own serializer for most places).
SDK_ODD = ("sleepy_repr", "raising_iter", "raising_items", "property_raises", "lying_len", "lying_len_dict",
           "self_getattr", "raising_dict_attr", "weird_int", "recursive")
PLACES = ("metadata", "extra_body", "content", "message", "tools")


@pytest.mark.parametrize("vendor", ["openai", "anthropic"])
@pytest.mark.parametrize("kind", SDK_ODD)
def test_odd_objects_inside_sdk_kwargs(recorder: Any, vendor: str, kind: str) -> None:
    """Whatever the SDK does with an odd object (sends it, refuses it), it does the same
    with the agent, as fast; the agent itself never raises, never hangs."""
    make = _openai_call if vendor == "openai" else _anthropic_call
    untraced = {}
    for where in PLACES:
        untraced[where] = _within(10, make(ODD[kind](), where))
    recorder.enable(vendor)
    for where in PLACES:
        traced = _within(10, make(ODD[kind](), where))
        _same_outcome(untraced[where], traced)
    _exportable(recorder.finished())
    for span in recorder.finished():
        _check_bounded(span)
