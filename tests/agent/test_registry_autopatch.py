"""The instrumentation registry and ``autopatch``/``patch``/``unpatch``.

Fake SDKs, fake instrumentation modules and fake installed distributions (``*.dist-info``
folders with ``METADATA`` and ``entry_points.txt``) are written into a temporary folder
put on ``PYTHONPATH`` of a fresh interpreter.
"""

from __future__ import annotations

import pytest

FAKES = {
    # Two fake SDKs: one module, one package whose patched class lives in a submodule.
    "fakesdk_a.py": """
        class Client:
            def create(self):
                return "real-a"
    """,
    "fakesdk_b/__init__.py": "",
    "fakesdk_b/resources.py": """
        class Completions:
            def create(self):
                return "real-b"
    """,
    # Their instrumentations: modules exporting <name>_patcher.
    "fake_instrumentations/__init__.py": "",
    "fake_instrumentations/a.py": """
        import importlib
        from weave_agent.hook.patcher import SymbolPatcher
        def _wrap(original):
            def create(self):
                return "patched:" + original(self)
            return create
        fakea_patcher = SymbolPatcher(lambda: importlib.import_module("fakesdk_a"), "Client.create", _wrap)
    """,
    "fake_instrumentations/b.py": """
        import importlib
        from weave_agent.hook.patcher import SymbolPatcher
        def _wrap(original):
            def create(self):
                return "patched:" + original(self)
            return create
        fakeb_patcher = SymbolPatcher(
            lambda: importlib.import_module("fakesdk_b.resources"), "Completions.create", _wrap
        )
    """,
    # An installed distribution for fakesdk_a, with a version.
    "fake_sdk_dist-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: fake-sdk-dist\nVersion: 1.0\n",
}

# A third-party distribution contributing instrumentations through the entry-point
# group, in a folder of its own (only the entry-point tests put it on the path).
PLUGIN = {
    "fakeplugin-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: fakeplugin\nVersion: 1.0\n",
    "fakeplugin-1.0.dist-info/entry_points.txt": """
        [weave_agent.instrumentations]
        fakeplug = fakeplugin_rows:ROW
        fakeplug_tuple = fakeplugin_rows:TUPLE_ROW
        broken = fakeplugin_missing_module:ROW
    """,
    "fakeplugin_rows.py": """
        from weave_agent.hook.registry import Instrumentation
        ROW = Instrumentation("fakeplug", "fakesdk_a", "fakeplugin_inst", patcher="a_patcher")
        TUPLE_ROW = ("fakeplug_tuple", ("fakesdk_b.resources",), "fakeplugin_inst", None, None)
    """,
    "fakeplugin_inst.py": """
        from fake_instrumentations.a import fakea_patcher as a_patcher
        from fake_instrumentations.b import fakeb_patcher as fakeplug_tuple_patcher
    """,
}

REGISTER = """
import importlib, json, sys
import weave_agent
from weave_agent.hook.registry import Instrumentation
weave_agent.hook.arming.register(Instrumentation("fakea", "fakesdk_a", "fake_instrumentations.a"))
weave_agent.hook.arming.register(Instrumentation("fakeb", ["fakesdk_b.resources"], "fake_instrumentations.b"))

def state():
    import fakesdk_a, fakesdk_b.resources
    return [fakesdk_a.Client().create(), fakesdk_b.resources.Completions().create()]
"""


@pytest.fixture
def fakes(tree):  # type: ignore[no-untyped-def]
    return tree(FAKES, under="site")


@pytest.fixture
def plugin(tree):  # type: ignore[no-untyped-def]
    return tree(PLUGIN, under="plugin")


def test_builtin_table_is_plain_data(run_py):
    res = run_py(
        """
import json, sys
import weave_agent
before = set(sys.modules)
import weave_agent.instrumentations.registry as table
new = sorted(set(sys.modules) - before)
rows_ok = isinstance(table.INSTRUMENTATIONS, tuple) and all(
    isinstance(row, tuple) and len(row) == 5 and isinstance(row[0], str) and isinstance(row[2], str)
    for row in table.INSTRUMENTATIONS
)
# A row, as weave-run new-integration adds them, becomes an Instrumentation.
from weave_agent.hook import registry
table.INSTRUMENTATIONS = table.INSTRUMENTATIONS + (("fakex", ("fakex_sdk.resources",), "fakex", "fakex-sdk", ">=1,<3"),)
row = registry.builtin()["fakex"]
print(json.dumps([new, rows_ok, row.triggers, row.module, row.distribution, row.versions, row.patcher]))
"""
    ).check()
    new, rows_ok, triggers, module, distribution, versions, patcher = res.json()
    assert set(new) <= {"weave_agent.instrumentations", "weave_agent.instrumentations.registry"}
    assert rows_ok
    assert triggers == ["fakex_sdk.resources"]
    assert module == "weave_agent.instrumentations.fakex"
    assert (distribution, versions, patcher) == ("fakex-sdk", ">=1,<3", "fakex_patcher")


def test_register_is_reachable_from_the_package(run_py):
    res = run_py(
        """
import weave_agent
from weave_agent.hook.registry import Instrumentation
weave_agent.hook.arming.register(Instrumentation("fakez", "fakez_sdk", "fakez_inst"))
import weave_agent.hook.arming as ap
from weave_agent.hook.arming import known
print("fakez" in known(include_entry_points=False), ap.register is weave_agent.hook.arming.register)
"""
    ).check()
    assert res.lines == ["True True"]


def test_autopatch_patches_already_imported_and_later_imported_triggers(run_py, fakes):
    res = run_py(
        REGISTER
        + """
import fakesdk_a                      # imported before autopatch()
names = weave_agent.autopatch()
before_b = "fakesdk_b.resources" in sys.modules
print(json.dumps([sorted(names), before_b, state()]))
""",
        pythonpath=[fakes],
    ).check()
    names, before_b, st = res.json()
    assert {"fakea", "fakeb"} <= set(names)
    assert before_b is False
    assert st == ["patched:real-a", "patched:real-b"]


def test_patch_and_unpatch_by_name(run_py, fakes):
    res = run_py(
        REGISTER
        + """
from weave_agent.hook.arming import armed
import fakesdk_a, fakesdk_b.resources
original_a = vars(fakesdk_a.Client)["create"]
original_b = vars(fakesdk_b.resources.Completions)["create"]
out = []
weave_agent.patch(fakea=True, fakeb=True)
out.append(["both on", state(), armed()])
weave_agent.patch(fakea=False)
out.append(["a off", state(), vars(fakesdk_a.Client)["create"] is original_a])
weave_agent.patch(fakea=True)
out.append(["a on again", state()])
weave_agent.unpatch("fakea")
out.append(["unpatch a", state(), vars(fakesdk_a.Client)["create"] is original_a])
weave_agent.unpatch(fakeb=True)
out.append(["unpatch b=True", state(), vars(fakesdk_b.resources.Completions)["create"] is original_b])
weave_agent.patch(fakea=True, fakeb=True)
weave_agent.unpatch()
out.append(["unpatch all", state(), armed()])
print(json.dumps(out))
""",
        pythonpath=[fakes],
    ).check()
    assert res.json() == [
        ["both on", ["patched:real-a", "patched:real-b"], {"fakea": True, "fakeb": True}],
        ["a off", ["real-a", "patched:real-b"], True],
        ["a on again", ["patched:real-a", "patched:real-b"]],
        ["unpatch a", ["real-a", "patched:real-b"], True],
        ["unpatch b=True", ["real-a", "real-b"], True],
        ["unpatch all", ["real-a", "real-b"], {}],
    ]


@pytest.mark.parametrize(
    "env",
    [
        {"WEAVE_AGENT_DISABLED_INSTRUMENTATIONS": "fakea,some_other"},
        {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": " FakeA "},
        {"WEAVE_AGENT_DISABLED_INSTRUMENTATIONS": "fakea", "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "fakeb"},
    ],
    ids=["weave-variable", "otel-variable", "both-variables-add-up"],
)
def test_disabled_instrumentations(run_py, fakes, env):
    res = run_py(
        REGISTER
        + """
names = weave_agent.autopatch()
print(json.dumps([sorted(n for n in names if n.startswith("fake")), state()]))
""",
        pythonpath=[fakes],
        env=env,
    ).check()
    names, st = res.json()
    assert "fakea" not in names and st[0] == "real-a"
    if "fakeb" in env.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", ""):
        assert "fakeb" not in names and st[1] == "real-b"
    else:
        assert "fakeb" in names and st[1] == "patched:real-b"


def test_unknown_name_raises_listing_known_names_and_changes_nothing(run_py, fakes):
    res = run_py(
        REGISTER
        + """
from weave_agent.hook.arming import armed
errors = []
for call in (lambda: weave_agent.patch(fakea=True, nosuch=True), lambda: weave_agent.unpatch("nosuch")):
    try:
        call()
    except ValueError as exc:
        errors.append(str(exc))
print(json.dumps([errors, armed(), state()]))
""",
        pythonpath=[fakes],
    ).check()
    errors, armed_now, st = res.json()
    assert len(errors) == 2
    for message in errors:
        assert "nosuch" in message and "fakea" in message and "fakeb" in message
    assert armed_now == {} and st == ["real-a", "real-b"]


@pytest.mark.parametrize(("versions", "patched"), [(">=2", False), (">=1,<2", True)])
def test_installed_version_outside_the_range_declines_with_one_debug_line(run_py, fakes, versions, patched):
    res = run_py(
        """
import json, weave_agent
from weave_agent.hook.registry import Instrumentation
weave_agent.hook.arming.register(
    Instrumentation("fakea", "fakesdk_a", "fake_instrumentations.a", distribution="fake-sdk-dist", versions=%r)
)
weave_agent.patch(fakea=True)
import fakesdk_a
print(json.dumps(fakesdk_a.Client().create()))
"""
        % versions,
        pythonpath=[fakes],
        env={"WEAVE_AGENT_DEBUG": "1"},
    ).check()
    assert res.json() == ("patched:real-a" if patched else "real-a")
    about = [line for line in res.err_lines if "fake-sdk-dist" in line]
    assert len(about) == 1, res
    if patched:
        assert "patched fakea (fake-sdk-dist 1.0)" in about[0]
    else:
        assert "fake-sdk-dist 1.0 is not supported (supported: >=2)" in about[0]
    assert all(line.startswith("weave-agent: ") for line in res.err_lines)


def test_entry_points_are_read_only_when_needed(run_py, fakes, plugin):
    res = run_py(
        """
import json, sys
out = {"at_start": "importlib.metadata" in sys.modules}
import weave_agent
from weave_agent.lifecycle import bootstrap
out["bootstrap"] = bootstrap()
out["after_bootstrap"] = "importlib.metadata" in sys.modules
names = weave_agent.autopatch()
out["after_autopatch"] = "importlib.metadata" in sys.modules
out["names"] = sorted(n for n in names if n.startswith("fake"))
import fakesdk_a, fakesdk_b.resources
out["state"] = [fakesdk_a.Client().create(), fakesdk_b.resources.Completions().create()]
print(json.dumps(out))
""",
        pythonpath=[fakes, plugin],
    ).check()
    assert res.json() == {
        "at_start": False,
        "bootstrap": True,
        "after_bootstrap": False,
        "after_autopatch": True,
        "names": ["fakeplug", "fakeplug_tuple"],
        "state": ["patched:real-a", "patched:real-b"],
    }
    # The broken entry point is reported once and skipped.
    assert len(res.err_lines) == 1 and "fakeplugin_missing_module" in res.err_lines[0], res


def test_patch_by_name_reads_entry_points_when_the_name_is_not_built_in(run_py, fakes, plugin):
    res = run_py(
        """
import json, sys, weave_agent
weave_agent.patch(fakeplug=True)
import fakesdk_a, fakesdk_b.resources
print(json.dumps([fakesdk_a.Client().create(), fakesdk_b.resources.Completions().create()]))
""",
        pythonpath=[fakes, plugin],
    ).check()
    assert res.json() == ["patched:real-a", "real-b"]  # only the one asked for


def test_known_rows_without_entry_points_do_not_import_importlib_metadata(run_py, fakes, plugin):
    res = run_py(
        REGISTER
        + """
weave_agent.patch(fakea=True)      # a registered name: no entry-point scan needed
print(json.dumps(["importlib.metadata" in sys.modules, state()[0]]))
""",
        pythonpath=[fakes, plugin],
    ).check()
    assert res.json() == [False, "patched:real-a"]
