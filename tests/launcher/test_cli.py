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
from weave_agent.tools import settings_doc

HEADER = ["name", "library", "installed", "supported", "tested", "enabled"]


def _table(stdout: str, width: int = 200) -> dict[str, dict[str, str]]:
    """The rows of ``weave-run list`` by name, whichever of its table layouts it drew: the
    triggers as the last column, or on lines of their own under each row. Every line
    must fit ``width``."""
    stdout = stdout.split("\n\nOpenTelemetry instrumentors", 1)[0]  # the table only
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert all(len(line) <= width for line in lines), "a line is wider than %d:\n%s" % (width, stdout)
    header = re.split(r"\s{2,}", lines[0].strip())
    assert header in (HEADER, HEADER + ["triggers"]), lines[0]
    rows: dict[str, dict[str, str]] = {}
    last: dict[str, str] = {}
    for line in lines[1:]:
        if line.startswith(" "):  # the triggers, continued or on their own lines
            more = line.strip().removeprefix("triggers: ")
            last["triggers"] = (last.get("triggers", "") + " " + more).strip()
            continue
        cells = re.split(r"\s{2,}", line.strip())
        assert len(cells) == len(header), line
        last = rows[cells[0]] = dict(zip(header, cells, strict=True))
    return rows


def test_list_shows_the_plugin_row(launch: Launch) -> None:
    r = launch.run("weave-run", "list").check()
    row = _table(r.stdout)["fakevendor"]
    assert row == {
        "name": "fakevendor",
        "library": "fakevendor",
        "installed": FAKEVENDOR_VERSION,
        "supported": SUPPORTED,
        "tested": "-",  # a third-party instrumentation: no tested version is known
        "enabled": "yes",
        "triggers": "fakevendor.client",
    }


@pytest.mark.parametrize("columns", [80, 160])
def test_list_fits_the_terminal(launch: Launch, columns: int) -> None:
    """Every line within COLUMNS, the same rows and cells at both widths; at 160 the
    triggers are a column, at 80 they go under each row. Each built-in row names its
    library and the version its recorded tests run against (TESTED_VERSIONS)."""
    from weave_agent.instrumentations.registry import INSTRUMENTATIONS, TESTED_VERSIONS

    r = launch.run("weave-run", "list", env=launch.env(COLUMNS=str(columns))).check()
    lines = r.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns, r.stdout
    assert lines[0].split()[-1] == ("triggers" if columns == 160 else "enabled"), lines[0]
    rows = _table(r.stdout, columns)
    assert rows == _table(launch.run("weave-run", "list").check().stdout)  # nothing lost at this width
    for name, triggers, _module, distribution, versions in INSTRUMENTATIONS:
        row = rows[name]
        assert row["library"] == distribution
        assert row["tested"] == TESTED_VERSIONS[distribution], row
        assert row["supported"] == versions, row
        assert row["triggers"] == ", ".join(triggers)


def test_list_is_80_wide_when_stdout_is_not_a_terminal(launch: Launch) -> None:
    r = launch.run("weave-run", "list", env=launch.env(COLUMNS=None)).check()
    assert max(len(line) for line in r.stdout.splitlines()) <= 80, r.stdout
    assert "fakevendor" in _table(r.stdout, 80)


def test_list_narrower_than_the_table(launch: Launch) -> None:
    """In 40 columns each instrumentation is a block of ``key value`` lines, each within
    the width."""
    r = launch.run("weave-run", "list", env=launch.env(COLUMNS="40")).check()
    assert max(len(line) for line in r.stdout.splitlines()) <= 40, r.stdout
    blocks = [b.splitlines() for b in r.stdout.strip().split("\n\n")]
    block = next(b for b in blocks if b[0] == "fakevendor")
    assert block[1:] == [
        "  library    fakevendor",
        "  installed  %s" % FAKEVENDOR_VERSION,
        "  supported  %s" % SUPPORTED,
        "  tested     -",
        "  enabled    yes",
        "  triggers   fakevendor.client",
    ]


def test_list_says_not_installed(launch: Launch) -> None:
    """The plugin's entry point without its vendor library installed: 'not installed',
    and the supported versions on their own (no '?')."""
    site = launch.root / "plugin-only"
    for rel in ("fakevendor_weave.py", "fakevendor_weave-1.0.dist-info/METADATA",
                "fakevendor_weave-1.0.dist-info/entry_points.txt"):
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text((launch.site / rel).read_text())
    r = launch.run("weave-run", "list", env=launch.env(PYTHONPATH=str(site))).check()
    row = _table(r.stdout)["fakevendor"]
    assert (row["installed"], row["supported"]) == ("not installed", SUPPORTED), row
    assert "?" not in r.stdout


def test_list_without_the_plugin(launch: Launch) -> None:
    r = launch.run("weave-run", "list", env=launch.env(PYTHONPATH=None)).check()
    assert "fakevendor" not in _table(r.stdout)


def test_list_unsupported_installed_version(launch: Launch) -> None:
    """A fakevendor 3.0 found first on the path: 'unsupported', and its calls are not patched."""
    launch.write("v3/fakevendor-3.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: fakevendor\nVersion: 3.0\n")
    env = launch.env(PYTHONPATH=os.pathsep.join([str(launch.root / "v3"), str(launch.site)]))
    row = _table(launch.run("weave-run", "list", env=env).check().stdout)["fakevendor"]
    assert (row["installed"], row["supported"], row["enabled"]) == ("3.0 (unsupported)", SUPPORTED, "yes")
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


def test_help_lists_every_setting_as_the_table_says(launch: Launch) -> None:
    """Each public row of the settings table: its option with the option's help and
    variable, or its variables with their meaning and default in the list after the
    options; a flag's help says the value it sets and lists no values of its own. The
    test-only and internal variables are not shown."""
    r = launch.run("weave-run", "--help").check()
    text = " ".join(r.stdout.split())  # argparse wraps lines
    for s in settings_doc.PUBLIC:
        if s.option is not None:
            shown = "%s %s" % (s.option, s.metavar) if s.metavar else s.option
            assert shown + " " + settings_doc.option_help(s) in text, s.option
        else:
            assert settings_doc.env_help(s) in text, s.env
    flag = settings_doc.BY_OPTION["--no-capture-content"]
    assert settings_doc.option_help(flag) == (
        "leave message content (prompts, completions, tool arguments) off the spans "
        "[env OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=false]"
    )
    for s in settings_doc.SETTINGS:
        if s.internal:
            assert all(v not in r.stdout for v in s.variables), s.variables
    for option in ("--shim-path", "--version", "list"):
        assert option in text


@pytest.mark.parametrize("option", ["--no-capture-content", "--debug"])
def test_a_flag_sets_the_value_its_help_names(launch: Launch, option: str) -> None:
    s = settings_doc.BY_OPTION[option]
    launch.write("app.py", "import os\nprint(os.environ[%r])\n" % s.env)
    r = launch.run("weave-run", option, "python", "app.py").check()
    assert r.stdout.splitlines()[-1] == s.flag


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


def test_missing_script_says_no_such_file(launch: Launch) -> None:
    """``weave-run nonexistent.py``: the file is named as missing, not as a command."""
    r = launch.run("weave-run", "nonexistent.py")
    assert r.returncode == 127, r
    assert r.err_lines == ["weave-run: no such file: nonexistent.py (not in %s, nor on PATH)" % launch.root]
    r = launch.run("weave-run", "sub/nonexistent.py", "--flag")
    assert r.returncode == 127, r
    assert r.err_lines == ["weave-run: no such file: sub/nonexistent.py"]


def test_a_script_named_py_on_path_still_runs(launch: Launch) -> None:
    launch.write("bin/tool.py", "#!/bin/sh\necho ran tool\n", mode=0o755)
    env = launch.env(PATH=str(launch.root / "bin") + os.pathsep + launch.env()["PATH"])
    assert launch.run("weave-run", "tool.py", env=env).check().stdout == "ran tool\n"


@pytest.mark.parametrize("value", ["0", "-3"])
def test_show_last_accepts_one_or_more(launch: Launch, value: str) -> None:
    """Traces exist: ``--last 0`` (or a negative count) is refused naming the option and
    what it accepts, rather than answered with 'no traces'."""
    launch.write("app.py", APP)
    launch.run("weave-run", "python", "app.py").check()
    assert launch.spans("chat")
    r = launch.run("weave-run", "show", "--last", value, str(launch.traces))
    assert r.returncode == 2, r
    assert r.err_lines[-1] == (
        "weave-run show: error: argument --last: accepts a whole number >= 1 "
        "(how many of the latest traces to show), got %s" % value
    ), r
    assert "no traces" not in r.stderr and r.stdout == ""
    shown = launch.run("weave-run", "show", "--last", "1", str(launch.traces)).check()
    assert "chat" in shown.stdout
