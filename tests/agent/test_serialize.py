"""Values to attributes: valid, bounded JSON; secrets removed; odd objects survive."""

from __future__ import annotations

import dataclasses
import enum
import json

import pytest

from weave_agent.tracing.serialize import REDACTED, is_secret_key, redact_text, to_json, to_jsonable


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    y: int
    token: str = "tok"


class FakeArray:
    """numpy-like: shape, size, dtype, tolist."""

    shape = (2, 2)
    size = 4
    dtype = "float32"

    def tolist(self):
        return [[1.0, 2.0], [3.0, 4.0]]


class BigArray(FakeArray):
    shape = (1000, 1000)
    size = 1_000_000


class Exploding:
    def __repr__(self):
        raise RuntimeError("repr bug")

    def __str__(self):
        raise RuntimeError("str bug")

    @property
    def boom(self):
        raise RuntimeError("property evaluated")


class Slotted:
    __slots__ = ("a", "_hidden")

    def __init__(self):
        self.a = 1
        self._hidden = 2


def test_common_types():
    value = {
        "enum": Color.RED,
        "dc": Point(1, 2),
        "bytes": b"\x00" * 10,
        "tuple": (1, "a"),
        "set": {1},
        "nan": float("nan"),
        "nested": {"list": [None, True, 1.5]},
        "array": FakeArray(),
        "big": BigArray(),
        "slots": Slotted(),
        3: "int key",
    }
    doc = json.loads(to_json(value))
    assert doc["enum"] == "red"
    assert doc["dc"] == {"_type": "Point", "x": 1, "y": 2, "token": REDACTED}
    assert doc["bytes"] == {"type": "bytes", "size": 10}
    assert doc["tuple"] == [1, "a"] and doc["set"] == [1]
    assert doc["nan"] == "nan"
    assert doc["array"] == [[1.0, 2.0], [3.0, 4.0]]
    assert doc["big"] == {"type": "BigArray", "shape": [1000, 1000], "dtype": "float32"}
    assert doc["slots"] == {"_type": "Slotted", "a": 1}
    assert doc["3"] == "int key"


def test_pydantic_models():
    pydantic = pytest.importorskip("pydantic")

    class Message(pydantic.BaseModel):
        role: str
        content: str
        api_key: str = "sk-should-not-leak-0000000000"

    doc = json.loads(to_json([Message(role="user", content="hi")]))
    assert doc == [{"_type": "Message", "role": "user", "content": "hi", "api_key": REDACTED}]


def test_cycles_and_depth():
    a: list = [1]
    a.append(a)
    assert json.loads(to_json(a)) == [1, "<cycle>"]
    deep: list = []
    node = deep
    for _ in range(100):
        node.append([])
        node = node[0]
    assert "<max depth>" in to_json(deep)


def test_objects_that_raise_are_never_called():
    doc = json.loads(to_json({"x": Exploding()}))
    assert doc == {"x": {"_type": "Exploding"}}  # no __dict__ entries, nothing evaluated


@pytest.mark.parametrize(
    "key", ["api_key", "API_KEY", "Authorization", "x-api-key", "password", "openai_api_key", "access_token", "token"]
)
def test_secret_keys(key):
    assert is_secret_key(key)
    assert json.loads(to_json({key: "value"})) == {key: REDACTED}


@pytest.mark.parametrize("key", ["max_tokens", "input_tokens", "tokens", "model", "keyboard"])
def test_not_secret_keys(key):
    assert not is_secret_key(key)


@pytest.mark.parametrize(
    "secret",
    [
        "sk-proj-abcdefghijklmnopqrstuvwx",
        "sk-ant-api03-abcdefghijklmnopqrstuv",
        "Bearer abcdefghijklmnop",
        "AKIAABCDEFGHIJKLMNOP",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc",
    ],
)
def test_secret_values_in_text(secret):
    text = "please use %s now" % secret
    assert secret not in redact_text(text)
    assert secret not in to_json({"prompt": text})


def test_large_values_are_bounded_valid_json_with_marker():
    prompt = "x" * 10_000_000
    text = to_json({"messages": [{"role": "user", "content": prompt}]}, limit=32768)
    assert len(text) < 33_000
    doc = json.loads(text)
    assert "truncated" in doc["messages"][0]["content"]
    many = to_json(["y" * 1000] * 1000, limit=4096)
    assert len(many) < 4200
    assert "truncated" in json.loads(many)


def test_large_collections_are_cut():
    doc = to_jsonable(list(range(5000)))
    assert len(doc) == 1001 and "more items" in doc[-1]


# --- the fast path (C encoder + one redaction pass) gives the walker's result ------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from weave_agent.tracing import serialize  # noqa: E402

_SECRETS = st.sampled_from([
    "sk-" + "a1" * 12, "sk-ant-" + "Z9_" * 8, "Bearer abcdefgh12345", "Bearer\nabcdefgh12345",
    "Bearer\t\x0babcdefgh12345", "Basic dXNlcjpwYXNzd29yZA==", "AKIA" + "A1B2C3D4E5F6G7H8",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkw.sig", "ghp_" + "x" * 24,
])
_TEXT = st.one_of(st.text(max_size=40), _SECRETS, st.builds(lambda a, b: a + b, st.text(max_size=10), _SECRETS))
_KEYS = st.one_of(st.text(max_size=12), st.sampled_from(
    ["role", "content", "api_key", "apiKey", "My_Token", 'k"_token', "x\\_secret", "password\n", "AUTHORIZATION"]))
_JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), _TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=6), st.dictionaries(_KEYS, inner, max_size=6)),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(value=st.one_of(st.lists(_JSONISH, max_size=6), st.dictionaries(_KEYS, _JSONISH, max_size=6)))
def test_the_fast_path_gives_the_walkers_text(value: object) -> None:
    assert to_json(value) == serialize._walked_json(value, 32768)


def test_the_fast_path_is_taken_for_plain_content_and_declines_the_rest() -> None:
    plain = [{"role": "user", "parts": [{"type": "text", "content": "hi sk-" + "a" * 20}]}]
    assert serialize._plain_json(plain, 32768) == '[{"role":"user","parts":[{"type":"text","content":"hi %s"}]}]' % REDACTED
    assert serialize._plain_json([{"api_key": "x"}], 32768) is None  # secret-named key: the walker
    assert serialize._plain_json([float("nan")], 32768) is None
    assert serialize._plain_json([b"bytes"], 32768) is None
    assert serialize._plain_json([{"a": type("D", (dict,), {})()}], 32768) is None  # a subclass: user code
    assert serialize._plain_json(["x" * 100], 50) is None  # over the limit: the walker cuts
    assert serialize._plain_json(list(range(1001)), 10**6) is None  # over the item limit
    assert serialize._plain_json([[[1]]], 32768) == "[[[1]]]"
    cyclic: list[object] = []
    cyclic.append(cyclic)
    assert serialize._plain_json(cyclic, 32768) is None
