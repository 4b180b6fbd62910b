"""``SymbolPatcher`` and ``MultiPatcher``: what is patched where, and exact undo.

No import state is touched (the patched objects are built by each test), so these run
in the test process.
"""

from __future__ import annotations

import logging
import types

import pytest

from weave_agent.hook.patcher import MultiPatcher, Patcher, SymbolPatcher


def _fake_sdk() -> types.ModuleType:
    """A fresh module shaped like an SDK: ``resources.Completions.create`` etc."""
    sdk = types.ModuleType("fake_sdk")

    class Base:
        def create(self, x):
            return ("base", x)

    class Completions(Base):
        def retrieve(self, x):
            return ("retrieve", x)

        @staticmethod
        def static(x):
            return ("static", x)

        @classmethod
        def klass(cls, x):
            return ("klass", cls.__name__, x)

        @property
        def prop(self):
            return "prop"

    def plain(x):
        return ("plain", x)

    sdk.Base, sdk.Completions, sdk.plain = Base, Completions, plain
    sdk.resources = types.SimpleNamespace(Completions=Completions)
    return sdk


def _tagging(calls: list):  # type: ignore[no-untyped-def]
    """make_new_value that records what it was given and wraps functions."""

    def make(original):  # type: ignore[no-untyped-def]
        calls.append(original)
        if isinstance(original, (staticmethod, classmethod)):
            inner = original.__func__

            def wrapped(*args, **kwargs):  # type: ignore[no-untyped-def]
                return ("wrapped", inner(*args, **kwargs))

            return type(original)(wrapped)
        if isinstance(original, property):
            return property(lambda self: ("wrapped", original.fget(self)))

        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            return ("wrapped", original(*args, **kwargs))

        return wrapper

    return make


def test_base_symbol_is_a_zero_arg_callable_called_at_patch_time():
    sdk = _fake_sdk()
    asked = []

    def get_base():  # type: ignore[no-untyped-def]
        asked.append(1)
        return sdk

    patcher = SymbolPatcher(get_base, "resources.Completions.retrieve", _tagging([]))
    assert asked == []  # not at construction
    assert patcher.attempt_patch() is True
    assert asked == [1]
    assert sdk.Completions().retrieve(1) == ("wrapped", ("retrieve", 1))
    assert patcher.undo_patch() is True
    assert sdk.Completions().retrieve(1) == ("retrieve", 1)


def test_dotted_attribute_path_and_patch_twice_is_a_noop():
    sdk = _fake_sdk()
    calls: list = []
    patcher = SymbolPatcher(lambda: sdk, "Completions.retrieve", _tagging(calls))
    original = vars(sdk.Completions)["retrieve"]
    assert patcher.attempt_patch() is True
    patched = vars(sdk.Completions)["retrieve"]
    assert patched is not original
    assert patcher.attempt_patch() is True  # second time: nothing more
    assert vars(sdk.Completions)["retrieve"] is patched
    assert calls == [original]
    assert sdk.Completions().retrieve(3) == ("wrapped", ("retrieve", 3))


@pytest.mark.parametrize(
    ("path", "owner", "attr", "kind", "call"),
    [
        ("plain", None, "plain", types.FunctionType, lambda sdk: sdk.plain(1)),
        ("Completions.static", "Completions", "static", staticmethod, lambda sdk: sdk.Completions.static(1)),
        ("Completions.klass", "Completions", "klass", classmethod, lambda sdk: sdk.Completions().klass(1)),
        ("Completions.prop", "Completions", "prop", property, lambda sdk: sdk.Completions().prop),
    ],
    ids=["function", "staticmethod", "classmethod", "property"],
)
def test_undo_restores_the_identical_raw_object(path, owner, attr, kind, call):
    sdk = _fake_sdk()
    target = sdk if owner is None else getattr(sdk, owner)
    original = vars(target)[attr]
    unpatched_result = call(sdk)
    calls: list = []
    patcher = SymbolPatcher(lambda: sdk, path, _tagging(calls))
    assert patcher.attempt_patch() is True
    # make_new_value got the raw descriptor, as stored, and the result went back there.
    assert len(calls) == 1 and calls[0] is original and isinstance(calls[0], kind)
    assert isinstance(vars(target)[attr], kind)
    assert call(sdk) == ("wrapped", unpatched_result)
    assert patcher.undo_patch() is True
    assert vars(target)[attr] is original
    assert call(sdk) == unpatched_result


def test_method_of_a_base_class_is_patched_where_it_is_defined():
    sdk = _fake_sdk()
    base_original = vars(sdk.Base)["create"]
    sub_dict_before = dict(vars(sdk.Completions))
    patcher = SymbolPatcher(lambda: sdk, "Completions.create", _tagging([]))
    assert patcher.attempt_patch() is True
    assert vars(sdk.Base)["create"] is not base_original  # on the base ...
    assert "create" not in vars(sdk.Completions)  # ... not a copy on the subclass
    assert dict(vars(sdk.Completions)) == sub_dict_before
    assert sdk.Completions().create(1) == ("wrapped", ("base", 1))
    assert patcher.undo_patch() is True
    assert vars(sdk.Base)["create"] is base_original
    assert dict(vars(sdk.Completions)) == sub_dict_before


@pytest.mark.parametrize(
    "path_or_base",
    ["Completions.missing", "Missing.create", "resources.Missing.create", "base raises ImportError"],
)
def test_missing_target_returns_false_logs_one_debug_line_and_patches_nothing(path_or_base, caplog):
    sdk = _fake_sdk()

    def get_base():  # type: ignore[no-untyped-def]
        if path_or_base.startswith("base raises"):
            raise ImportError("no module named fake_sdk.v2")
        return sdk

    path = "Completions.create" if path_or_base.startswith("base raises") else path_or_base
    before = {
        name: dict(vars(obj)) for name, obj in (("module", sdk), ("Base", sdk.Base), ("Completions", sdk.Completions))
    }
    calls: list = []
    patcher = SymbolPatcher(get_base, path, _tagging(calls))
    with caplog.at_level(logging.DEBUG, logger="weave_agent"):
        assert patcher.attempt_patch() is False
    records = [r for r in caplog.records if r.name == "weave_agent"]
    assert len(records) == 1, [r.getMessage() for r in records]
    assert records[0].levelno == logging.DEBUG and path in records[0].getMessage()
    assert calls == []
    after = {
        name: dict(vars(obj)) for name, obj in (("module", sdk), ("Base", sdk.Base), ("Completions", sdk.Completions))
    }
    assert after == before
    assert patcher.undo_patch() is False  # nothing to undo


def test_undo_leaves_a_wrapper_added_on_top_of_ours():
    sdk = _fake_sdk()
    patcher = SymbolPatcher(lambda: sdk, "plain", _tagging([]))
    patcher.attempt_patch()

    def theirs(x):  # type: ignore[no-untyped-def]
        return "theirs"

    sdk.plain = theirs
    assert patcher.undo_patch() is False
    assert sdk.plain is theirs


@pytest.mark.parametrize("path", ["", ".create", "Completions."])
def test_bad_attribute_paths_are_refused(path):
    with pytest.raises(ValueError):
        SymbolPatcher(lambda: None, path, lambda v: v)


class _Recording(Patcher):
    def __init__(self, log: list, name: str, ok: bool = True, raises: bool = False) -> None:
        self.log, self.name, self.ok, self.raises = log, name, ok, raises

    def attempt_patch(self) -> bool:
        self.log.append(("patch", self.name))
        if self.raises:
            raise RuntimeError("patcher bug")
        return self.ok

    def undo_patch(self) -> bool:
        self.log.append(("undo", self.name))
        return self.ok


def test_multipatcher_tries_all_and_returns_whether_all_succeeded():
    log: list = []
    multi = MultiPatcher([_Recording(log, "a"), _Recording(log, "b", ok=False), _Recording(log, "c")])
    assert multi.attempt_patch() is False
    assert log == [("patch", "a"), ("patch", "b"), ("patch", "c")]
    log.clear()
    assert MultiPatcher([_Recording(log, "a"), _Recording(log, "c")]).attempt_patch() is True


@pytest.mark.agent_errors_expected
def test_multipatcher_survives_a_raising_patcher(caplog):
    log: list = []
    multi = MultiPatcher([_Recording(log, "a"), _Recording(log, "boom", raises=True), _Recording(log, "c")])
    with caplog.at_level(logging.DEBUG, logger="weave_agent"):
        assert multi.attempt_patch() is False
        assert multi.attempt_patch() is False
    assert log.count(("patch", "c")) == 2
    errors = [r for r in caplog.records if r.name == "weave_agent" and r.levelno >= logging.ERROR]
    assert len(errors) == 1  # once per site


def test_multipatcher_with_symbol_patchers_patches_what_exists_and_undo_reverses():
    sdk = _fake_sdk()
    originals = {
        "plain": vars(sdk)["plain"],
        "retrieve": vars(sdk.Completions)["retrieve"],
        "static": vars(sdk.Completions)["static"],
    }
    multi = MultiPatcher(
        [
            SymbolPatcher(lambda: sdk, "plain", _tagging([])),
            SymbolPatcher(lambda: sdk, "Completions.retrieve", _tagging([])),
            SymbolPatcher(lambda: sdk, "Responses.create", _tagging([])),  # an API this version lacks
            SymbolPatcher(lambda: sdk, "Completions.static", _tagging([])),
        ]
    )
    assert multi.attempt_patch() is False  # not all succeeded ...
    assert vars(sdk)["plain"] is not originals["plain"]  # ... but every existing one is patched
    assert vars(sdk.Completions)["retrieve"] is not originals["retrieve"]
    assert vars(sdk.Completions)["static"] is not originals["static"]
    multi.undo_patch()
    assert vars(sdk)["plain"] is originals["plain"]
    assert vars(sdk.Completions)["retrieve"] is originals["retrieve"]
    assert vars(sdk.Completions)["static"] is originals["static"]


def test_multipatcher_undo_runs_in_reverse_order():
    log: list = []
    multi = MultiPatcher([_Recording(log, "a"), _Recording(log, "b")])
    multi.attempt_patch()
    log.clear()
    assert multi.undo_patch() is True
    assert log == [("undo", "b"), ("undo", "a")]


def test_module_patcher_waits_for_each_modules_own_import(run_py, tree):
    root = tree(
        {
            "lazysdk/__init__.py": "",
            "lazysdk/chat.py": "class Chat:\n    def create(self):\n        return 'chat'\n",
            "lazysdk/heavy.py": "class Heavy:\n    def create(self):\n        return 'heavy'\n",
        }
    )
    res = run_py(
        """
import json, sys
import weave_agent
from weave_agent.patcher import ModulePatcher, MultiPatcher, SymbolPatcher

weave_agent.install()

def patchers_for(cls_name):
    def make(module):
        return [SymbolPatcher(lambda: getattr(module, cls_name), "create", lambda f: lambda self: "patched " + f(self))]
    return make

def missing(module):
    return [] if hasattr(module, "Chat") or hasattr(module, "Heavy") else ["nothing"]

p = MultiPatcher([ModulePatcher("lazysdk.chat", patchers_for("Chat"), missing),
                  ModulePatcher("lazysdk.heavy", patchers_for("Heavy"), missing)])
out = {"armed": p.attempt_patch(), "heavy_loaded_early": "lazysdk.heavy" in sys.modules}
from lazysdk.chat import Chat
out["chat"] = Chat().create()
out["heavy_loaded_by_chat"] = "lazysdk.heavy" in sys.modules
from lazysdk.heavy import Heavy
out["heavy"] = Heavy().create()
original = Chat.__dict__["create"]
out["undone"] = p.undo_patch()
out["after"] = [Chat().create(), Heavy().create()]
print(json.dumps(out))
""",
        pythonpath=[root],
    ).check()
    assert res.json() == {
        "armed": True,
        "heavy_loaded_early": False,
        "chat": "patched chat",
        "heavy_loaded_by_chat": False,
        "heavy": "patched heavy",
        "undone": True,
        "after": ["chat", "heavy"],
    }


def test_module_patcher_declines_another_structure(run_py, tree):
    root = tree({"oddsdk.py": "class Other:\n    pass\n"})
    res = run_py(
        """
import json, logging
logging.basicConfig(level=logging.DEBUG, format="%(message)s")
import weave_agent, oddsdk
from weave_agent.patcher import ModulePatcher

p = ModulePatcher("oddsdk", lambda m: [], lambda m: ["oddsdk.Chat"])
print(json.dumps([p.attempt_patch(), p.undo_patch()]))
""",
        pythonpath=[root],
    ).check()
    assert res.json() == [False, True]
    assert len([line for line in res.err_lines if "missing oddsdk.Chat" in line]) == 1
