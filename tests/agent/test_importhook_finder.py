"""The ``sys.meta_path`` finder: install/uninstall, and transparency.

Transparency is checked by comparison: the same script imports the same modules once
without the agent and once with every one of them watched; what the modules look like
afterwards (``__spec__``, ``__loader__`` and its type, ``__file__``, ``__path__``, data
read through ``importlib.resources`` and ``pkgutil``, during the body and after) must
be identical, and each hook must have run exactly once, seeing the real loader.
"""

from __future__ import annotations

import sys
import zipfile

import pytest

# --- install / uninstall --------------------------------------------------------------


def test_install_is_idempotent_and_puts_one_finder_first(run_py):
    res = run_py(
        """
import json, sys
import weave_agent
from weave_agent.hook import importhook
before = list(sys.meta_path)   # as the app had it, weave_agent imported
weave_agent.install()
weave_agent.install()
first = sys.meta_path[0]
ours = [f for f in sys.meta_path if type(f).__module__ == "weave_agent.hook.importhook"]
print(json.dumps({
    "first_is_ours": type(first).__module__ == "weave_agent.hook.importhook",
    "count": len(ours),
    "rest_unchanged": sys.meta_path[1:] == before,
    "installed": importhook.installed(),
}))
"""
    ).check()
    assert res.json() == {"first_is_ours": True, "count": 1, "rest_unchanged": True, "installed": True}


def test_uninstall_leaves_meta_path_as_found(run_py):
    res = run_py(
        """
import json, sys
import weave_agent
from weave_agent.hook import importhook

class Foreign:
    def __init__(self, name): self.name = name
    def find_spec(self, fullname, path=None, target=None): return None
    def __repr__(self): return self.name

sys.meta_path.insert(1, Foreign("middle"))
before = list(sys.meta_path)
weave_agent.install()
sys.meta_path.append(Foreign("appended-after-install"))
expected = before + [sys.meta_path[-1]]
weave_agent.uninstall()
after_first = list(sys.meta_path)
weave_agent.uninstall()            # a second uninstall is a no-op
print(json.dumps({
    "same": after_first == expected and all(a is b for a, b in zip(after_first, expected)),
    "still_same": sys.meta_path == expected,
    "installed": importhook.installed(),
    "order": [repr(f) for f in sys.meta_path if isinstance(f, Foreign)],
}))
"""
    ).check()
    assert res.json() == {
        "same": True,
        "still_same": True,
        "installed": False,
        "order": ["middle", "appended-after-install"],
    }


def test_uninstalled_finder_runs_no_hook_and_stays_out(run_py, tree):
    vendor = tree({"late.py": "V = 1\n"}, under="vendor")
    res = run_py(
        """
import json, sys, weave_agent
from weave_agent.hook import importhook
weave_agent.install()
weave_agent.when_imported("late", lambda m: print("HOOK"))
finder = sys.meta_path[0]
weave_agent.uninstall()
import late
finder.find_spec("json")   # a stale reference asked directly does not put it back
print(json.dumps([importhook.installed(), finder in sys.meta_path]))
""",
        pythonpath=[vendor],
    ).check()
    assert res.lines == ["[false, false]"]


def test_finder_moves_back_in_front_of_a_finder_inserted_later(run_py, tree):
    """pytest's rewriter (and typeguard, beartype) insert themselves at
    ``sys.meta_path[0]`` after the agent started: ``install()`` and the next import put
    the finder first again; the others keep their relative order."""
    vendor = tree({"watched_late.py": "V = 1\n", "unwatched_mod.py": "V = 2\n"}, under="vendor")
    res = run_py(
        """
import json, sys, weave_agent
weave_agent.install()

class Foreign:
    def find_spec(self, fullname, path=None, target=None): return None

def ours_first(): return type(sys.meta_path[0]).__module__ == "weave_agent.hook.importhook"

base = list(sys.meta_path)                # ours first, then the interpreter's
a = Foreign(); sys.meta_path.insert(0, a)
step1 = ours_first()
weave_agent.install()
step2 = sys.meta_path == [base[0], a] + base[1:]
b = Foreign(); sys.meta_path.insert(0, b)
import unwatched_mod                      # any import reaches the finder
step3 = sys.meta_path == [base[0], b, a] + base[1:]
weave_agent.when_imported("watched_late", lambda m: print("HOOK", m.V))
c = Foreign(); sys.meta_path.insert(0, c)
import watched_late
weave_agent.uninstall()
print(json.dumps([step1, step2, step3, sys.meta_path[:3] == [c, b, a]]))
""",
        pythonpath=[vendor],
    ).check()
    assert res.lines == ["HOOK 1", "[false, true, true, true]"]


# --- transparency -----------------------------------------------------------------------

FINGERPRINT = r"""
import importlib, importlib.machinery, importlib.resources, json, os, pkgutil, site, sys, warnings

for d in json.loads(os.environ.get("SITE_DIRS", "[]")):
    site.addsitedir(d)            # processes .pth files, as at start-up
NAMES = json.loads(os.environ["NAMES"])
DATA = json.loads(os.environ.get("DATA", "[]"))
if "<extension>" in NAMES:
    # A standard-library extension module that a fresh interpreter has not imported.
    for cand in ("mmap", "array", "_json", "_csv", "cmath", "_bisect", "_random", "_statistics", "_heapq"):
        spec = importlib.machinery.PathFinder.find_spec(cand)
        if cand not in sys.modules and spec is not None and isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
            NAMES[NAMES.index("<extension>")] = cand
            break
    else:
        raise SystemExit("no unimported extension module found")

HOOKED = []
if os.environ.get("WITH_AGENT"):
    import weave_agent
    weave_agent.install()
    for n in NAMES:
        weave_agent.when_imported(
            n, lambda m, n=n: HOOKED.append([n, m.__name__, type(m.__loader__).__qualname__, m.__spec__.loader is m.__loader__])
        )

for n in NAMES:
    importlib.import_module(n)

def qual(obj):
    return type(obj).__module__ + "." + type(obj).__qualname__

def describe(n):
    m = sys.modules[n]
    s = m.__spec__
    d = {
        "loader": qual(m.__loader__),
        "spec_loader": qual(s.loader),
        "loader_is_spec_loader": m.__loader__ is s.loader,
        "spec": [s.name, s.origin, s.cached, s.has_location, s.parent, s.loader_state is None,
                 None if s.submodule_search_locations is None else list(s.submodule_search_locations)],
        "file": getattr(m, "__file__", "<unset>"),
        "cached": getattr(m, "__cached__", "<unset>"),
        "path": list(m.__path__) if hasattr(m, "__path__") else "<unset>",
        "package": m.__package__,
        "at_import": getattr(m, "DATA_AT_IMPORT", None),
    }
    for meth in ("get_source", "is_package", "get_filename"):
        fn = getattr(m.__loader__, meth, None)
        if fn is not None:
            try:
                r = fn(n)
                d[meth] = len(r) if isinstance(r, str) else r
            except Exception as exc:
                d[meth] = "raises " + type(exc).__name__
    if n in DATA:
        d["resources"] = importlib.resources.files(n).joinpath("data.txt").read_text()
        d["pkgutil"] = pkgutil.get_data(n, "data.txt").decode()
    return d

print(json.dumps({"names": NAMES, "modules": {n: describe(n) for n in NAMES}, "hooked": HOOKED}))
"""

READS_DATA_AT_IMPORT = """
import importlib.resources, pkgutil
DATA_AT_IMPORT = [
    importlib.resources.files(__name__).joinpath("data.txt").read_text(),
    pkgutil.get_data(__name__, "data.txt").decode(),
]
"""


def _compare(run_py, names, pythonpath, data=(), site_dirs=()):  # type: ignore[no-untyped-def]
    import json

    env = {
        "NAMES": json.dumps(names),
        "DATA": json.dumps(list(data)),
        "SITE_DIRS": json.dumps([str(d) for d in site_dirs]),
    }
    without = run_py(FINGERPRINT, pythonpath=pythonpath, env=env).check().json()
    with_agent = run_py(FINGERPRINT, pythonpath=pythonpath, env=dict(env, WITH_AGENT="1")).check().json()
    assert without["hooked"] == []
    assert with_agent["names"] == without["names"]
    assert with_agent["modules"] == without["modules"]
    # Each watched module's hook ran once, with the module, seeing the real loader.
    modules = with_agent["modules"]
    expected = sorted([n, n, modules[n]["loader"].rsplit(".", 1)[1], True] for n in with_agent["names"])
    assert sorted(with_agent["hooked"]) == expected
    return with_agent["modules"]


def test_regular_package_and_nested_submodules(run_py, tree):
    vendor = tree(
        {
            "regpkg/__init__.py": READS_DATA_AT_IMPORT,
            "regpkg/data.txt": "regular data",
            "regpkg/sub/__init__.py": "",
            "regpkg/sub/deeper/__init__.py": "",
            "regpkg/sub/deeper/leaf.py": "LEAF = 1\n",
        },
        under="vendor",
    )
    names = ["regpkg", "regpkg.sub", "regpkg.sub.deeper", "regpkg.sub.deeper.leaf"]
    modules = _compare(run_py, names, [vendor], data=["regpkg"])
    assert modules["regpkg"]["loader"] == "_frozen_importlib_external.SourceFileLoader"
    assert modules["regpkg"]["at_import"] == ["regular data", "regular data"]
    assert modules["regpkg"]["resources"] == modules["regpkg"]["pkgutil"] == "regular data"
    assert modules["regpkg.sub.deeper.leaf"]["file"].endswith("leaf.py")


def test_namespace_packages(run_py, tree):
    tree({"nsvendor/mod.py": "X = 1\n", "nsvendor/inner/deep.py": "Y = 2\n"}, under="portion1")
    tree({"nsvendor/other.py": "Z = 3\n"}, under="portion2")
    portions = [tree({}, under="portion1"), tree({}, under="portion2")]
    names = ["nsvendor", "nsvendor.mod", "nsvendor.inner", "nsvendor.inner.deep", "nsvendor.other"]
    modules = _compare(run_py, names, portions)
    # importlib's own class for namespace packages: public (NamespaceLoader) since 3.11.
    loader = "_frozen_importlib_external.%sNamespaceLoader" % ("" if sys.version_info >= (3, 11) else "_")
    for ns in ("nsvendor", "nsvendor.inner"):
        assert modules[ns]["file"] is None
        assert modules[ns]["loader"] == loader
        assert modules[ns]["spec_loader"] == loader
        assert modules[ns]["loader_is_spec_loader"] is True
    assert len(modules["nsvendor"]["path"]) == 2  # both portions


def test_extension_module_from_the_standard_library(run_py):
    modules = _compare(run_py, ["<extension>"], [])
    (only,) = modules.values()
    assert only["loader"] == "_frozen_importlib_external.ExtensionFileLoader"
    assert only["file"].endswith(".so") or only["file"].endswith(".pyd")


def test_zip_import(run_py, tmp_path):
    archive = tmp_path / "vendor.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("zpkg/__init__.py", READS_DATA_AT_IMPORT)
        z.writestr("zpkg/data.txt", "zipped data")
        z.writestr("zpkg/sub/__init__.py", "")
        z.writestr("zpkg/sub/leaf.py", "LEAF = 1\n")
    modules = _compare(run_py, ["zpkg", "zpkg.sub", "zpkg.sub.leaf"], [archive], data=["zpkg"])
    assert modules["zpkg"]["loader"] == "zipimport.zipimporter"
    assert modules["zpkg"]["at_import"] == ["zipped data", "zipped data"]
    assert modules["zpkg"]["resources"] == "zipped data"


def test_setuptools_editable_finder(run_py, tmp_path, tree):
    """A vendor installed with ``pip install -e``: setuptools writes a ``.pth`` that
    appends its own meta-path finder mapping the import name onto the source folder
    (named otherwise here, so that only that finder can find it). The finder's source
    is setuptools' own template, the very text an editable install writes."""
    editable_wheel = pytest.importorskip("setuptools.command.editable_wheel")
    template = getattr(editable_wheel, "_finder_template", None)
    make_identifier = getattr(editable_wheel, "_make_identifier", None)
    if template is None or make_identifier is None:
        pytest.skip("this setuptools has no _finder_template: cannot write its editable finder offline")
    src = (
        tree(
            {
                "edvendor_src/__init__.py": READS_DATA_AT_IMPORT,
                "edvendor_src/data.txt": "editable data",
                "edvendor_src/sub.py": "V = 1\n",
            },
            under="project/src",
        )
        / "edvendor_src"
    )
    site_dir = tmp_path / "site-packages"
    site_dir.mkdir()
    name = "__editable__.edvendor-1.0.finder"
    finder_module = make_identifier(name)
    (site_dir / (finder_module + ".py")).write_text(template(name, {"edvendor": str(src)}, {}))
    (site_dir / "__editable__.edvendor-1.0.pth").write_text("import %s; %s.install()" % (finder_module, finder_module))
    modules = _compare(run_py, ["edvendor", "edvendor.sub"], [], data=["edvendor"], site_dirs=[site_dir])
    assert modules["edvendor"]["file"] == str(src / "__init__.py")
    assert modules["edvendor"]["at_import"] == ["editable data", "editable data"]
    assert modules["edvendor.sub"]["file"] == str(src / "sub.py")


# --- legacy loaders and finders -----------------------------------------------------------

LEGACY = r"""
import importlib, json, os, sys, types, warnings
warnings.simplefilter("ignore", ImportWarning)

class LegacyLoader:
    # Only the pre-3.4 protocol: load_module, no exec_module/create_module.
    def load_module(self, fullname):
        module = sys.modules.get(fullname) or types.ModuleType(fullname)
        module.COUNT = getattr(module, "COUNT", 0) + 1
        sys.modules[fullname] = module
        return module

class SpecFinder:                      # find_spec, but a legacy loader
    def find_spec(self, name, path=None, target=None):
        if name == "legacy_spec_mod":
            return importlib.util.spec_from_loader(name, LegacyLoader())

class OldFinder:                       # only find_module (3.10/3.11 still honour it)
    def find_module(self, name, path=None):
        if name == "legacy_finder_mod":
            return LegacyLoader()

import importlib.util
sys.meta_path.extend([SpecFinder(), OldFinder()])
NAMES = ["legacy_spec_mod"] + (["legacy_finder_mod"] if sys.version_info < (3, 12) else [])
HOOKED = []
if os.environ.get("WITH_AGENT"):
    import weave_agent
    weave_agent.install()
    for n in NAMES:
        weave_agent.when_imported(n, lambda m: HOOKED.append([m.__name__, m.COUNT, type(m.__loader__).__name__]))
def describe(m):
    return [m.COUNT, type(m.__loader__).__name__, type(m.__spec__.loader).__name__, m.__loader__ is m.__spec__.loader]
out = {}
for n in NAMES:
    m = importlib.import_module(n)
    first = describe(m)
    out[n] = [first, describe(importlib.reload(m))]
print(json.dumps({"modules": out, "hooked": HOOKED}))
"""


def test_legacy_load_module_loaders_and_find_module_finders(run_py):
    import sys

    without = run_py(LEGACY).check().json()
    with_agent = run_py(LEGACY, env={"WITH_AGENT": "1"}).check().json()
    assert with_agent["modules"] == without["modules"]
    assert without["modules"]["legacy_spec_mod"] == [
        [1, "LegacyLoader", "LegacyLoader", True],
        [2, "LegacyLoader", "LegacyLoader", True],
    ]
    expected = [["legacy_spec_mod", 1, "LegacyLoader"], ["legacy_spec_mod", 2, "LegacyLoader"]]
    if sys.version_info < (3, 12):  # find_module-only finders are gone in 3.12
        expected += [["legacy_finder_mod", 1, "LegacyLoader"], ["legacy_finder_mod", 2, "LegacyLoader"]]
    assert with_agent["hooked"] == expected


def test_failed_reload_leaves_the_real_loader_on_the_module(run_py, tree):
    vendor = tree({"reloaded_vendor.py": "V = 1\n"}, under="vendor")
    code = """
import importlib, json, os, pathlib, sys
if os.environ.get("WITH_AGENT"):
    import weave_agent
    weave_agent.install()
    weave_agent.when_imported("reloaded_vendor", lambda m: print("HOOK", m.V))
import reloaded_vendor
path = pathlib.Path(reloaded_vendor.__file__)
path.write_text("V = 2\\nraise RuntimeError('half-written file')\\n")
try:
    importlib.reload(reloaded_vendor)
except RuntimeError as exc:
    print("reload failed:", exc)
m = sys.modules["reloaded_vendor"]
print(json.dumps([m.V, type(m.__loader__).__name__, type(m.__spec__.loader).__name__]))
"""
    without = run_py(code, pythonpath=[vendor]).check()
    (vendor / "reloaded_vendor.py").write_text("V = 1\n")
    with_agent = run_py(code, pythonpath=[vendor], env={"WITH_AGENT": "1"}).check()
    assert without.lines == ["reload failed: half-written file", '[2, "SourceFileLoader", "SourceFileLoader"]']
    assert with_agent.lines == ["HOOK 1"] + without.lines  # no hook for the failed run
