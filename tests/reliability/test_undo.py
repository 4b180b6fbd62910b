"""Undo: ``unpatch()`` puts back the very objects that were there, for every built-in
instrumentation, and patch/unpatch in a loop leaks nothing.

"Every patched symbol" is checked without trusting the patchers' own bookkeeping: before
patching, every attribute of every module of the vendor package that is loaded, and of
every class defined there, is recorded (the objects themselves); after ``unpatch()``
each one must be the same object again (``is``), with nothing added or removed. The
patch must have changed something first (else the test proves nothing), and a real call
makes a span while patched and none after.
"""

from __future__ import annotations

import gc
import importlib
import json
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from _proc_util import scaled

import weave_agent
from weave_agent.export import metric_queue
from weave_agent.hook import arming, importhook
from weave_agent.instrumentations.registry import INSTRUMENTATIONS

PACKAGES = {"openai": "openai", "anthropic": "anthropic", "mistral": "mistralai", "langchain": "langchain_core"}
ROWS = {name: triggers for name, triggers, *_ in INSTRUMENTATIONS}


# The instrumentations whose undo is proven in their own folder instead (restored originals
# checked by identity, no span after unpatch) and not yet by this module's whole-package
# snapshot: the test each one's folder holds.
OWN_UNDO_TESTS = {
    "bedrock": "bedrock/bedrock_test.py::test_unpatch_restores_the_original",
    "cohere": "cohere/cohere_test.py::test_rebound_chat_is_traced_and_stops_after_unpatch",
    "crewai": "crewai/crewai_test.py::test_undo_restores_the_originals",
    "dspy": "dspy/dspy_test.py::test_undo_restores_the_originals",
    "google_genai": "google_genai/google_genai_test.py::test_undo_restores_the_originals",
    "groq": "groq/groq_test.py::test_undo_restores_the_originals",
    "litellm": "litellm/litellm_test.py::test_undo_restores_the_originals",
    "llamaindex": "llamaindex/llamaindex_test.py::test_undo_restores_the_originals",
    "mcp": "mcp/mcp_test.py::test_unpatch_restores_every_original",
    "ollama": "ollama/ollama_test.py::test_undo_restores_the_originals",
    "openai_agents": "openai_agents/openai_agents_test.py::test_undo_restores_the_originals",
    "pydantic_ai": "pydantic_ai/pydantic_ai_test.py::test_undo_restores_the_originals",
}


def test_every_builtin_instrumentation_is_covered() -> None:
    """Each built-in instrumentation's undo is tested: here by snapshot, or by the named test
    of its own folder (which must exist)."""
    assert sorted(ROWS) == sorted({*PACKAGES, *OWN_UNDO_TESTS})
    assert not set(PACKAGES) & set(OWN_UNDO_TESTS)
    folder = Path(__file__).resolve().parents[1] / "instrumentations"
    for name, test in OWN_UNDO_TESTS.items():
        path, function = test.split("::")
        assert "def %s(" % function in (folder / path).read_text(encoding="utf-8"), (name, test)


def _import_triggers(name: str) -> None:
    """Load what the instrumentation patches (SDKs load these lazily), and the
    instrumentation's own module: loading code (which may, say, give a LangChain base class
    its ``__annotations__`` dict) is not patching, and is not undone."""
    for trigger in ROWS[name]:
        try:
            importlib.import_module(trigger)
        except ImportError:
            pass  # an optional platform module not installed
    if name == "langchain":
        importlib.import_module("langchain_core.tracers.context")
    importlib.import_module("weave_agent.instrumentations.%s" % name)


def snapshot(package: str) -> dict[tuple[str, ...], Any]:
    """Every attribute of every loaded module of ``package`` and of the classes they
    define. Looking at an SDK's lazy proxies loads modules: taken until it is stable."""
    previous = None
    for _ in range(5):
        snap = _snapshot_once(package)
        if previous is not None and snap.keys() == previous.keys():
            return snap
        previous = snap
    raise AssertionError("the modules of %s keep changing" % package)


def _snapshot_once(package: str) -> dict[tuple[str, ...], Any]:
    out: dict[tuple[str, ...], Any] = {}
    for modname, module in list(sys.modules.items()):
        if module is None or not (modname == package or modname.startswith(package + ".")):
            continue
        for attr, value in list(vars(module).items()):
            out[(modname, attr)] = value
            if isinstance(value, type) and value.__module__ == modname:
                for cattr, cvalue in list(vars(value).items()):
                    out[(modname, attr, cattr)] = cvalue
    if package == "langchain_core":
        from langchain_core.tracers import context

        out[("langchain_core.tracers.context", "_configure_hooks", "[items]")] = tuple(context._configure_hooks)
    return out


def changed(before: dict[tuple[str, ...], Any], after: dict[tuple[str, ...], Any]) -> list[tuple[str, ...]]:
    keys = set(before) | set(after)
    out = []
    for key in keys:
        a, b = before.get(key, KeyError), after.get(key, KeyError)
        if a is KeyError and key[-1] == "__annotations__" and b == {}:
            continue  # Python < 3.14 creates an empty one when it is first read (LangChain reads them)
        same = a is b or (isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b)
                          and all(x is y for x, y in zip(a, b, strict=True)))
        if not same:
            out.append(key)
    return sorted(out)


# --- one real call per vendor, over a mock transport -------------------------------------


def _openai_call() -> None:
    import openai

    body = {"id": "c", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
    with openai.OpenAI(api_key="sk-test", max_retries=0, http_client=httpx.Client(
            transport=httpx.MockTransport(lambda r: httpx.Response(200, json=body)))) as client:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])


def _anthropic_call() -> None:
    import anthropic
    import httpx2  # what anthropic 2.x uses

    body = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
            "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 1}}
    with anthropic.Anthropic(api_key="sk-ant-test", max_retries=0, http_client=httpx2.Client(
            transport=httpx2.MockTransport(lambda r: httpx2.Response(200, json=body)))) as client:
        client.messages.create(model="claude-haiku-4-5", max_tokens=8, messages=[{"role": "user", "content": "hi"}])


def _mistral_call() -> None:
    import httpx2
    from mistralai.client import Mistral

    body = {"id": "m", "object": "chat.completion", "created": 1, "model": "mistral-small-latest",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
    transport = httpx2.MockTransport(lambda r: httpx2.Response(200, json=body))
    client = Mistral(api_key="test-key", client=httpx2.Client(transport=transport))
    client.chat.complete(model="mistral-small-latest", messages=[{"role": "user", "content": "hi"}])


def _langchain_call() -> None:
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    GenericFakeChatModel(messages=iter([AIMessage(content="hi")])).invoke("hi")


CALLS: dict[str, Callable[[], None]] = {
    "openai": _openai_call, "anthropic": _anthropic_call, "mistral": _mistral_call, "langchain": _langchain_call,
}


@pytest.mark.parametrize("name", sorted(PACKAGES))
def test_unpatch_restores_every_symbol_and_calls_make_no_spans(spans: Any, name: str) -> None:
    _import_triggers(name)
    CALLS[name]()  # whatever the SDK caches on first use exists before the snapshot
    spans.clear()
    before = snapshot(PACKAGES[name])
    weave_agent.patch(**{name: True})
    try:
        patched = changed(before, snapshot(PACKAGES[name]))
        assert patched, "patching %s changed nothing: this test would prove nothing" % name
        assert arming.armed() == {name: True}
        CALLS[name]()
        assert spans.finished(), "%s made no span while patched" % name
    finally:
        weave_agent.unpatch()
    assert changed(before, snapshot(PACKAGES[name])) == []
    assert arming.armed() == {}
    spans.clear()
    CALLS[name]()
    assert [s.name for s in spans.finished()] == [], "%s still traced after unpatch()" % name


def test_unpatch_by_name_leaves_the_others_patched(spans: Any) -> None:
    for name in ("openai", "langchain"):
        _import_triggers(name)
    before = snapshot("openai")
    weave_agent.patch(openai=True, langchain=True)
    try:
        weave_agent.unpatch("langchain")
        assert arming.armed() == {"openai": True}
        assert changed(before, snapshot("openai"))  # still patched
        spans.clear()
        _openai_call()
        _langchain_call()
        assert len(spans.finished()) == 1
    finally:
        weave_agent.unpatch()
    assert changed(before, snapshot("openai")) == []


def _hook_count() -> int:
    with importhook._lock:
        return sum(len(v) for v in importhook._hooks.values())


@pytest.mark.parametrize("n", scaled(100, 1000))
def test_patch_unpatch_loop_leaks_nothing(spans: Any, n: int) -> None:
    """Every instrumentation patched and unpatched ``n`` times: memory stays within a
    constant bound, the import hooks registered are back to what they were, the symbols
    are the originals, and one more patch still works."""
    names = sorted(PACKAGES)
    for name in names:
        _import_triggers(name)
    before = {p: snapshot(p) for p in PACKAGES.values()}
    hooks = _hook_count()

    def cycle() -> None:
        weave_agent.patch(**dict.fromkeys(names, True))
        weave_agent.unpatch()

    for _ in range(3):
        cycle()
    # GenAI metric points earlier tests queued become series of the SDK's aggregation when
    # a reader next collects (a patch can be what collects): collect them now, or they count
    # as this window's growth (~575 KiB in the full suite).
    metric_queue.drain()
    gc.collect()
    tracemalloc.start()
    try:
        cycle()
        metric_queue.drain()
        gc.collect()
        first = tracemalloc.take_snapshot()
        for _ in range(n):
            cycle()
        gc.collect()
        second = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    diff = second.filter_traces(ignore).compare_to(first.filter_traces(ignore), "lineno")
    grown = sum(d.size_diff for d in diff)
    print("patch/unpatch x%d: growth=%d bytes" % (n, grown))
    assert grown < 32 * 1024, "\n".join(str(d) for d in diff[:10])
    assert _hook_count() == hooks
    assert arming.armed() == {}
    for package, snap in before.items():
        assert changed(snap, snapshot(package)) == [], package
    spans.clear()
    weave_agent.patch(openai=True)
    try:
        _openai_call()
    finally:
        weave_agent.unpatch()
    (span,) = spans.finished()
    assert span.attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert json.loads(json.dumps(dict(span.attributes)))  # a complete, ordinary span
