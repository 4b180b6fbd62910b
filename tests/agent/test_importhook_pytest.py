"""The import hook inside a pytest run, with pytest's assertion rewriter active.

pytest puts its ``AssertionRewritingHook`` at ``sys.meta_path[0]`` when it starts: after
an agent started by the sitecustomize shim, before one started from a conftest. Test
modules, conftest files and ``register_assert_rewrite`` modules are loaded by it.
"""

from __future__ import annotations

import pytest

FAKE_VENDOR = """
def check(x):
    assert x == 1
    return x
"""

USER_SITECUSTOMIZE = """
import weave_agent
def _hook(module):
    module.HOOKED = getattr(module, "HOOKED", 0) + 1
weave_agent.when_imported("fake_vendor", _hook)
"""

CONFTEST_STARTS_AGENT = """
import weave_agent
weave_agent.install()
def _hook(module):
    module.HOOKED = getattr(module, "HOOKED", 0) + 1
weave_agent.when_imported("fake_vendor", _hook)
"""

TEST_MODULE = """
import sys
import pytest

def test_hook_fired_with_rewriting_active():
    # This very module was rewritten: pytest's hook is its loader.
    assert type(sys.modules[__name__].__loader__).__name__ == "AssertionRewritingHook"
    import fake_vendor
    assert fake_vendor.HOOKED == 1
    assert type(fake_vendor.__loader__).__name__ == EXPECTED_VENDOR_LOADER
    assert type(fake_vendor.__spec__.loader).__name__ == EXPECTED_VENDOR_LOADER
    with pytest.raises(AssertionError) as info:
        fake_vendor.check(2)
    # Rewritten asserts explain themselves; plain ones carry no message.
    assert ("2 == 1" in str(info.value)) is REWRITE_VENDOR
"""


@pytest.mark.parametrize("start", ["shim", "conftest"])
@pytest.mark.parametrize("rewrite_vendor", [False, True], ids=["vendor-plain", "vendor-register_assert_rewrite"])
def test_hook_fires_under_pytest_assertion_rewriting(run_py, tree, start, rewrite_vendor):
    from _subproc import SHIM_DIR

    vendor = tree({"fake_vendor.py": FAKE_VENDOR}, under="vendor")
    conftest = ""
    if rewrite_vendor:
        conftest += "import pytest\npytest.register_assert_rewrite('fake_vendor')\n"
    path = [vendor]
    if start == "shim":
        site = tree({"sitecustomize.py": USER_SITECUSTOMIZE}, under="usersite")
        path = [SHIM_DIR, site, vendor]
    else:
        conftest += CONFTEST_STARTS_AGENT
    loader = "AssertionRewritingHook" if rewrite_vendor else "SourceFileLoader"
    project = tree(
        {
            "pytest.ini": "[pytest]\n",
            "conftest.py": conftest,
            "test_vendor.py": "EXPECTED_VENDOR_LOADER = %r\nREWRITE_VENDOR = %r\n" % (loader, rewrite_vendor)
            + TEST_MODULE,
        },
        under="project",
    )
    res = run_py(
        args=["-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(project), str(project)],
        pythonpath=path,
        env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        cwd=project,
        timeout=60,
    )
    assert res.returncode == 0, res
    assert "1 passed" in res.stdout
