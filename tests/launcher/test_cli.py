"""``weave-run``'s own commands and options: ``list`` (the third-party plugin row found by
entry point, its installed version, supported and enabled columns), disabling it,
``--shim-path``, ``--version``, ``--help`` and bad option values (exit 2, naming the
option, the command never started)."""

from __future__ import annotations

import os
import re
import sys

import pytest
from _launch import APP, FAKEVENDOR_VERSION, SUPPORTED, Launch

import weave_agent
from weave_agent.settings import FIELDS


def _table(stdout: str) -> dict[str, dict[str, str]]:
    lines = [line for line in stdout.splitlines() if line.strip()]
    header = re.split(r"\s{2,}", lines[0].strip())
    assert header == ["instrumentation", "triggers", "installed", "supported", "enabled"], lines[0]
    rows = {}
    for line in lines[1:]:
        cells = re.split(r"\s{2,}", line.strip())
        assert len(cells) == len(header), line
        rows[cells[0]] = dict(zip(header, cells, strict=True))
    return rows


def test_list_shows_the_plugin_row(launch: Launch) -> None:
    r = launch.run("weave-run", "list").check()
    row = _table(r.stdout)["fakevendor"]
    assert row == {
        "instrumentation": "fakevendor",
        "triggers": "fakevendor.client",
        "installed": FAKEVENDOR_VERSION,
        "supported": "yes (%s)" % SUPPORTED,
        "enabled": "yes",
    }


def test_list_without_the_plugin(launch: Launch) -> None:
    r = launch.run("weave-run", "list", env=launch.env(PYTHONPATH=None)).check()
    assert "fakevendor" not in _table(r.stdout)


def test_list_unsupported_installed_version(launch: Launch) -> None:
    """A fakevendor 3.0 found first on the path: 'no', and its calls are not patched."""
    launch.write("v3/fakevendor-3.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: fakevendor\nVersion: 3.0\n")
    env = launch.env(PYTHONPATH=os.pathsep.join([str(launch.root / "v3"), str(launch.site)]))
    row = _table(launch.run("weave-run", "list", env=env).check().stdout)["fakevendor"]
    assert (row["installed"], row["supported"], row["enabled"]) == ("3.0", "no (%s)" % SUPPORTED, "yes")
    launch.write("app.py", APP)
    launch.run("weave-run", "python", "app.py", env=env).check()
    assert launch.spans() == []


@pytest.mark.parametrize(
    "how",
    ["option", "env", "otel-env", "enable-only"],
)
def test_disabled_plugin(launch: Launch, how: str) -> None:
    """Disabled by ``--disable``, ``WEAVE_AGENT_DISABLED_INSTRUMENTATIONS``,
    ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` or left out of ``--enable-only``: 'no' in
    the list and no span from the app."""
    options: list[str] = []
    env = launch.env()
    if how == "option":
        options = ["--disable", "openai,fakevendor"]
    elif how == "env":
        env["WEAVE_AGENT_DISABLED_INSTRUMENTATIONS"] = "FakeVendor"
    elif how == "otel-env":
        env["OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"] = "fakevendor"
    else:
        options = ["--enable-only", "openai"]
    row = _table(launch.run("weave-run", *options, "list", env=env).check().stdout)["fakevendor"]
    assert row["enabled"] == "no"
    assert row["installed"] == FAKEVENDOR_VERSION
    launch.write("app.py", APP)
    r = launch.run("weave-run", *options, "python", "app.py", env=env).check()
    assert r.stdout.startswith("echo:hello ")  # the app is unchanged
    assert launch.spans() == []
    assert launch.trace_files() == []


def test_double_dash_list_runs_a_command_named_list(launch: Launch) -> None:
    launch.write("bin/list", "#!/bin/sh\necho the list command\n", mode=0o755)
    env = launch.env(PATH=str(launch.root / "bin") + os.pathsep + launch.env()["PATH"])
    r = launch.run("weave-run", "--", "list", env=env).check()
    assert r.stdout == "the list command\n"


def test_shim_path(launch: Launch, shim_dir: str) -> None:
    r = launch.run("weave-run", "--shim-path").check()
    folder = r.stdout.strip()
    assert r.stdout == folder + "\n"
    assert os.path.isabs(folder)
    assert os.path.isfile(os.path.join(folder, "sitecustomize.py"))
    assert folder == shim_dir


def test_shim_path_on_pythonpath_starts_the_agent(launch: Launch) -> None:
    """The documented set-up without the launcher: the printed folder on PYTHONPATH."""
    folder = launch.run("weave-run", "--shim-path").check().stdout.strip()
    launch.write("app.py", "from weave_agent import lifecycle\nprint(lifecycle.started())\n")
    r = launch.run(sys.executable, "app.py", env=launch.env(PYTHONPATH=folder)).check()
    assert r.stdout == "True\n"


def test_version(launch: Launch) -> None:
    r = launch.run("weave-run", "--version").check()
    assert r.stdout.strip() == "weave-run %s" % weave_agent.__version__


def test_help_lists_every_option_with_its_variable(launch: Launch) -> None:
    r = launch.run("weave-run", "--help").check()
    text = " ".join(r.stdout.split())  # argparse wraps lines
    for f in FIELDS:
        if f.option is not None:
            m = re.search(re.escape(f.option) + r"\b(.*?)\[env ([A-Z_]+)\]", text)
            assert m, "%s is not in --help" % f.option
            assert m.group(2) == f.env, (f.option, m.group(0))
            assert "--" not in m.group(1).replace(f.option, ""), "%s shows no env var of its own" % f.option
        else:
            assert f.env in text, "%s (no option) is not in --help" % f.env
    for option in ("--shim-path", "--version", "list"):
        assert option in text


@pytest.mark.parametrize(
    "option, value",
    [
        ("--exporter", "bogus"),
        ("--sample-ratio", "2"),
        ("--sample-ratio", "half"),
        ("--protocol", "smoke-signals"),
        ("--headers", "no-equals-sign"),
    ],
)
def test_bad_option_value(launch: Launch, option: str, value: str) -> None:
    launch.write("app.py", "open('started', 'w').close()\n")
    r = launch.run("weave-run", option, value, "python", "app.py")
    assert r.returncode == 2, r
    last = r.err_lines[-1]
    assert last.startswith("weave-run: error:") and option in last, r
    if option != "--headers":
        assert value in last
    assert not (launch.root / "started").exists()


def test_option_without_its_value(launch: Launch) -> None:
    r = launch.run("weave-run", "--exporter")
    assert r.returncode == 2, r
    assert "--exporter" in r.stderr


def test_unknown_option(launch: Launch) -> None:
    launch.write("app.py", APP)
    r = launch.run("weave-run", "--no-such-option", "python", "app.py")
    assert r.returncode == 2, r
    assert "--no-such-option" in r.stderr
