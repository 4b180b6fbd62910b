"""The settings table (``weave_agent.settings_doc``) against what it documents: the
README's "Configuration" table is the table's rendering, cell for cell; every environment
variable the agent's code names is a row; the parsed settings (``settings.FIELDS``) agree
with it; and the bootstrap never loads it."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from weave_agent.settings import FIELDS
from weave_agent.tools import settings_doc

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
REGENERATE = "python -m weave_agent.settings_doc README.md"

# An environment variable of the agent or of OpenTelemetry, as a whole string literal.
_ENV_NAME = re.compile(r"(?:WEAVE_AGENT|OTEL|WANDB|WEAVE)_[A-Z0-9_]+")


def _cells(table: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in table.splitlines()]


def test_readme_table_is_the_settings_table() -> None:
    readme = settings_doc.readme_table(README.read_text(encoding="utf-8"))
    ours = settings_doc.markdown_table()
    assert _cells(readme)[0] == list(settings_doc.HEADER)
    for got, want in zip(_cells(readme)[2:], _cells(ours)[2:], strict=False):
        assert got == want, "README row differs from the settings table (run: %s)" % REGENERATE
    assert readme == ours, "README's Configuration table is not the settings table (run: %s)" % REGENERATE


def test_the_generator_rewrites_only_the_table(tmp_path: Path) -> None:
    before = "# app\n\n## Configuration\n\nIntro.\n\n| variable | meaning |\n|---|---|\n| `OLD` | gone |\n\nAfter.\n"
    path = tmp_path / "README.md"
    path.write_text(before, encoding="utf-8")
    subprocess.run([sys.executable, "-m", "weave_agent.settings_doc", str(path)], check=True)
    after = path.read_text(encoding="utf-8")
    assert after == before.replace(
        "| variable | meaning |\n|---|---|\n| `OLD` | gone |\n", settings_doc.markdown_table()
    )


def _names_in_code() -> dict[str, set[str]]:
    """Every string literal in the agent's code that is a whole variable name, with where."""
    found: dict[str, set[str]] = {}
    for folder in ("agent", "instrumentations", "sitecustomize_shim"):
        for path in sorted((REPO / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and _ENV_NAME.fullmatch(node.value):
                    found.setdefault(node.value, set()).add(str(path.relative_to(REPO)))
    return found


def test_every_variable_the_agent_reads_is_in_the_table() -> None:
    documented = {v for s in settings_doc.SETTINGS for v in s.variables}
    found = _names_in_code()
    assert "OTEL_METRICS_EXPORTER" in found and "WEAVE_AGENT_ENTRY_POINTS" in found  # the scan sees reads
    missing = {name: sorted(where) for name, where in found.items() if name not in documented}
    assert missing == {}, "variables read by the agent but not in weave_agent.settings_doc.SETTINGS"


def test_every_parsed_setting_has_its_row() -> None:
    """Each of ``FIELDS``: a row led by its variable, holding its other variables, and a
    default that says the parsed default."""
    rows = {s.env: s for s in settings_doc.SETTINGS}
    for f in FIELDS:
        s = rows.get(f.env)
        assert s is not None, "%s has no row led by it" % f.env
        assert set(f.also) <= set(s.variables), (f.env, f.also, s.variables)
        if s.internal or f.env == "WEAVE_AGENT_ENABLED":  # "enabled": the row holds OTEL_SDK_DISABLED too
            continue
        if isinstance(f.default, bool):
            assert s.default == "`%s`" % str(f.default).lower(), (f.env, s.default)
        elif isinstance(f.default, (int, float)):
            shown = int(f.default) if float(f.default).is_integer() else f.default
            assert s.default.startswith("`%s`" % shown), (f.env, s.default)
    assert all(len(s.variables) == len(set(s.variables)) for s in settings_doc.SETTINGS)
    every = [v for s in settings_doc.SETTINGS for v in s.variables]
    assert len(every) == len(set(every)), "a variable is in two rows"


def test_internal_variables_are_not_shown() -> None:
    internal = {v for s in settings_doc.SETTINGS if s.internal for v in s.variables}
    assert internal == {"WEAVE_AGENT_FAULT_INJECTION", "WEAVE_AGENT_ENTRY_POINTS", "WEAVE_AGENT_OTEL_INSTRUMENTOR_ROWS"}
    table = settings_doc.markdown_table()
    assert not any(v in table for v in internal)


def test_the_bootstrap_does_not_load_the_table(run_py) -> None:  # type: ignore[no-untyped-def]
    res = run_py(
        """
import sys
from weave_agent.lifecycle import bootstrap
assert bootstrap()
print(sorted(m for m in sys.modules if m.startswith("weave_agent.settings")))
"""
    ).check()
    assert res.lines[-1] == "['weave_agent.settings']"
